# fault-kinds: which fault kinds may run where, by the labels of the placed
# member clusters and host agents.
#
# data.parameters.faultKinds:
#   rules: [{selector: {labels}, allow: [kinds], deny: [kinds]}]
#          A kind is family/action such as host/reboot; family/* matches a
#          whole family. Where a rule with allow matches, only those kinds may
#          run; where a rule with deny matches, those may not.
#          Default: no host reboot or shutdown where env=prod.
package faultline.library.fault_kinds

import data.faultline.library.util

rule := "fault-kinds"

params := util.params("faultKinds", {"rules": [{"selector": {"env": "prod"}, "deny": ["host/reboot", "host/shutdown"]}]})

kind := input.experiment.faultKind

kind_matches(pattern) if pattern == kind

kind_matches(pattern) if {
	endswith(pattern, "/*")
	startswith(kind, trim_suffix(pattern, "*"))
}

deny contains util.violation(rule, util.fault_field, msg) if {
	some r in params.rules
	some pattern in object.get(r, "deny", [])
	kind_matches(pattern)
	some t in util.matching(object.get(r, "selector", {}))
	msg := sprintf("fault %s is not allowed on %s %s (labels %v)", [kind, t.kind, t.name, r.selector])
}

deny contains util.violation(rule, util.fault_field, msg) if {
	some r in params.rules
	allowed := object.get(r, "allow", null)
	allowed != null
	not any_allowed(allowed)
	some t in util.matching(object.get(r, "selector", {}))
	msg := sprintf("fault %s is not among the kinds allowed on %s %s: %v", [kind, t.kind, t.name, allowed])
}

any_allowed(patterns) if {
	some p in patterns
	kind_matches(p)
}
