# max-duration: a fault stays on no longer than the platform allows.
#
# data.parameters.maxDuration:
#   max:     longest duration for every experiment (default 1h)
#   byLabel: [{selector: {labels}, max: duration}] stricter limits where a
#            placed cluster or agent carries the labels
package faultline.library.max_duration

import data.faultline.library.util

rule := "max-duration"

params := util.params("maxDuration", {"max": "1h", "byLabel": []})

# The API server defaults an omitted duration to 5m.
duration := object.get(input, ["experiment", "spec", "duration"], "5m")

deny contains util.violation(rule, "spec.duration", sprintf("duration %s exceeds the maximum of %s", [duration, params.max])) if {
	time.parse_duration_ns(duration) > time.parse_duration_ns(params.max)
}

deny contains util.violation(rule, "spec.duration", msg) if {
	some limit in params.byLabel
	some t in util.matching(limit.selector)
	time.parse_duration_ns(duration) > time.parse_duration_ns(limit.max)
	msg := sprintf("duration %s exceeds the maximum of %s on %s %s", [duration, limit.max, t.kind, t.name])
}
