package faultline.library.freeze_period_test

import data.faultline.library.freeze_period as fp

xmas := {"freezePeriod": {"periods": [{"start": "2026-12-20T00:00:00Z", "end": "2027-01-04T00:00:00Z", "reason": "year-end freeze"}]}}

at(rfc3339) := {"now": {"ns": time.parse_rfc3339_ns(rfc3339)}, "placement": {"targets": [{"kind": "MemberCluster", "name": "c1", "labels": {"env": "prod"}}]}}

test_allows_before_freeze if {
	count(fp.deny) == 0 with input as at("2026-12-19T23:59:59Z") with data.parameters as xmas
}

test_allows_at_end_of_freeze if {
	count(fp.deny) == 0 with input as at("2027-01-04T00:00:00Z") with data.parameters as xmas
}

test_denies_during_freeze if {
	ds := fp.deny with input as at("2026-12-24T12:00:00Z") with data.parameters as xmas
	[d | some d in ds] == [{
		"rule": "freeze-period",
		"field": "spec.schedule",
		"message": "freeze from 2026-12-20T00:00:00Z to 2027-01-04T00:00:00Z: year-end freeze",
	}]
}

test_freeze_limited_by_selector if {
	params := {"freezePeriod": {"periods": [{"start": "2026-12-20T00:00:00Z", "end": "2027-01-04T00:00:00Z", "selector": {"env": "staging"}}]}}
	count(fp.deny) == 0 with input as at("2026-12-24T12:00:00Z") with data.parameters as params
}

test_no_periods_by_default if {
	count(fp.deny) == 0 with input as at("2026-12-24T12:00:00Z")
}
