# change-window: experiments run only inside agreed windows of weekdays and
# hours, in a time zone.
#
# data.parameters.changeWindow:
#   windows:  [{days: ["Mon", ...], start: "09:00", end: "17:00"}]; none: no restriction.
#             An end before the start spans midnight.
#   timeZone: IANA zone of the windows (default: input.now.timeZone, else UTC)
#   selector: labels of the clusters or agents the windows apply to (default: all)
package faultline.library.change_window

import data.faultline.library.util

rule := "change-window"

params := util.params("changeWindow", {"windows": [], "timeZone": null, "selector": {}})

# tz is the parameter when set, else the input's zone, else UTC. Written as
# two exclusive definitions rather than with else, so that partial
# evaluation folds a configured zone into the prepared query.
tz := params.timeZone if params.timeZone != null

tz := now_tz if params.timeZone == null

now_tz := input.now.timeZone if input.now.timeZone
else := "UTC"

# local is now in the windows' time zone, computed once per decision (the
# engine keeps it from being inlined into every window).
local := {"day": lower(substring(time.weekday([input.now.ns, tz]), 0, 3)), "minute": (c[0] * 60) + c[1]} if {
	c := time.clock([input.now.ns, tz])
}

minutes(hhmm) := (to_number(p[0]) * 60) + to_number(p[1]) if p := split(hhmm, ":")

day_in(w) if local.day in {lower(substring(d, 0, 3)) | some d in w.days}

in_hours(w) if {
	minutes(w.start) <= minutes(w.end)
	local.minute >= minutes(w.start)
	local.minute < minutes(w.end)
}

in_hours(w) if {
	minutes(w.start) > minutes(w.end)
	local.minute >= minutes(w.start)
}

in_hours(w) if {
	minutes(w.start) > minutes(w.end)
	local.minute < minutes(w.end)
}

open if {
	some w in params.windows
	day_in(w)
	in_hours(w)
}

applies if util.any_matching(params.selector)

deny contains util.violation(rule, util.when_field, msg) if {
	count(params.windows) > 0
	applies
	not open
	msg := sprintf("%s is outside every change window (%s, %v)", [time.format([input.now.ns, tz, "Mon 15:04"]), tz, params.windows])
}
