# max-blast-radius: an experiment hits at most a share and a number of the
# workload it selects in each cluster or agent.
#
# data.parameters.maxBlastRadius:
#   maxPercent:      largest share of the matching targets per cluster (default 50)
#   maxTargets:      most targets hit per cluster or agent (default 100)
#   maxTotalTargets: most targets hit across the whole placement (default: no limit)
#
# input.blastRadius is a list of {kind, name, selected, matching, percent}.
package faultline.library.max_blast_radius

import data.faultline.library.util

rule := "max-blast-radius"

params := util.params("maxBlastRadius", {"maxPercent": 50, "maxTargets": 100, "maxTotalTargets": null})

# The field that set the share: value for fixed and the percent modes, mode otherwise.
field := "spec.value" if {
	object.get(input, ["experiment", "spec", "value"], "") != ""
} else := "spec.mode"

deny contains util.violation(rule, field, msg) if {
	some b in object.get(input, "blastRadius", [])
	b.percent > params.maxPercent
	msg := sprintf("would hit %v%% of the %v matching targets on %s %s (at most %v%%)", [b.percent, b.matching, b.kind, b.name, params.maxPercent])
}

deny contains util.violation(rule, field, msg) if {
	some b in object.get(input, "blastRadius", [])
	b.selected > params.maxTargets
	msg := sprintf("would hit %v targets on %s %s (at most %v)", [b.selected, b.kind, b.name, params.maxTargets])
}

deny contains util.violation(rule, field, msg) if {
	params.maxTotalTargets != null
	total := sum([b.selected | some b in object.get(input, "blastRadius", [])])
	total > params.maxTotalTargets
	msg := sprintf("would hit %v targets in all (at most %v)", [total, params.maxTotalTargets])
}
