package faultline.library.change_window_test

import data.faultline.library.change_window as cw

office := {"changeWindow": {"timeZone": "Europe/Berlin", "windows": [{"days": ["Mon", "Tue", "Wed", "Thu", "Fri"], "start": "09:00", "end": "17:00"}]}}

at(rfc3339) := {
	"now": {"ns": time.parse_rfc3339_ns(rfc3339), "timeZone": "UTC"},
	"placement": {"targets": [{"kind": "MemberCluster", "name": "c1", "labels": {"env": "prod"}}]},
}

test_no_windows_no_restriction if {
	count(cw.deny) == 0 with input as at("2026-11-28T03:00:00Z")
}

# 2026-11-26 is a Thursday; 10:00 UTC is 11:00 in Berlin.
test_allows_inside_window if {
	count(cw.deny) == 0 with input as at("2026-11-26T10:00:00Z") with data.parameters as office
}

# 16:30 UTC is 17:30 in Berlin: outside, though inside in UTC.
test_denies_after_hours_in_time_zone if {
	ds := cw.deny with input as at("2026-11-26T16:30:00Z") with data.parameters as office
	{d.field | some d in ds} == {"spec.schedule"}
	{d.rule | some d in ds} == {"change-window"}
}

test_denies_weekend if {
	count(cw.deny) == 1 with input as at("2026-11-28T10:00:00Z") with data.parameters as office
}

test_window_across_midnight if {
	night := {"changeWindow": {"windows": [{"days": ["Sat"], "start": "22:00", "end": "04:00"}]}}
	count(cw.deny) == 0 with input as at("2026-11-28T23:30:00Z") with data.parameters as night
	count(cw.deny) == 0 with input as at("2026-11-28T02:00:00Z") with data.parameters as night
	count(cw.deny) == 1 with input as at("2026-11-28T12:00:00Z") with data.parameters as night
}

test_time_zone_from_input if {
	params := {"changeWindow": {"windows": [{"days": ["Thu"], "start": "09:00", "end": "10:00"}]}}
	inp := json.patch(at("2026-11-26T00:30:00Z"), [{"op": "replace", "path": "/now/timeZone", "value": "Asia/Tokyo"}])
	count(cw.deny) == 0 with input as inp with data.parameters as params
}

test_selector_limits_windows if {
	params := {"changeWindow": {"selector": {"env": "staging"}, "windows": [{"days": ["Mon"], "start": "09:00", "end": "10:00"}]}}
	count(cw.deny) == 0 with input as at("2026-11-26T16:30:00Z") with data.parameters as params
}
