package faultline.library.max_duration_test

import data.faultline.library.max_duration as md

exp(d) := {"experiment": {"spec": {"duration": d}}, "placement": {"targets": [{"kind": "MemberCluster", "name": "c1", "labels": {"env": "prod"}}]}}

test_allows_short_duration if {
	count(md.deny) == 0 with input as exp("10m0s")
}

test_allows_default_duration if {
	count(md.deny) == 0 with input as {"experiment": {"spec": {}}}
}

test_denies_long_duration if {
	ds := md.deny with input as exp("2h0m0s")
	[d | some d in ds] == [{
		"rule": "max-duration",
		"field": "spec.duration",
		"message": "duration 2h0m0s exceeds the maximum of 1h",
	}]
}

test_max_from_data if {
	count(md.deny) == 1 with input as exp("20m") with data.parameters as {"maxDuration": {"max": "15m"}}
}

test_stricter_limit_by_label if {
	params := {"maxDuration": {"byLabel": [{"selector": {"env": "prod"}, "max": "5m"}]}}
	ds := md.deny with input as exp("10m") with data.parameters as params
	{d.message | some d in ds} == {"duration 10m exceeds the maximum of 5m on MemberCluster c1"}
	count(md.deny) == 0 with input as exp("4m") with data.parameters as params
}

test_label_limit_ignores_other_clusters if {
	params := {"maxDuration": {"byLabel": [{"selector": {"env": "staging"}, "max": "5m"}]}}
	count(md.deny) == 0 with input as exp("10m") with data.parameters as params
}
