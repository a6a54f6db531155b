package parameters_test

import data.parameters

# The parameters are well-formed for the rules that parse them.
test_durations_parse if {
	time.parse_duration_ns(parameters.maxDuration.max) > 0
	every l in parameters.maxDuration.byLabel {
		time.parse_duration_ns(l.max) > 0
	}
}

test_freeze_periods_parse if {
	every p in parameters.freezePeriod.periods {
		time.parse_rfc3339_ns(p.start) < time.parse_rfc3339_ns(p.end)
	}
}

test_production_needs_sre if {
	parameters.approvalRequired.selector == {"env": "prod"}
	parameters.approvalRequired.group == "sre"
}
