# freeze-period: no experiment runs during a freeze, such as a sales event
# or the end of the year.
#
# data.parameters.freezePeriod:
#   periods: [{start: RFC 3339, end: RFC 3339, reason: "...", selector: {labels}}]
#            start inclusive, end exclusive; selector (default: all) limits a
#            freeze to the clusters or agents carrying the labels.
package faultline.library.freeze_period

import data.faultline.library.util

rule := "freeze-period"

params := util.params("freezePeriod", {"periods": []})

deny contains util.violation(rule, util.when_field, msg) if {
	some p in params.periods
	time.parse_rfc3339_ns(p.start) <= input.now.ns
	input.now.ns < time.parse_rfc3339_ns(p.end)
	util.any_matching(object.get(p, "selector", {}))
	msg := sprintf("freeze from %s to %s: %s", [p.start, p.end, object.get(p, "reason", "no reason given")])
}
