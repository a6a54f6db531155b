package faultline.library.util_test

import data.faultline.library.util

test_targets_include_clusters_and_agents if {
	placed := {"placement": {"targets": [
		{"kind": "MemberCluster", "name": "c1", "labels": {"env": "prod"}},
		{"kind": "HostAgent", "name": "h1", "labels": {}},
	]}}
	{t.kind | some t in util.targets} == {"MemberCluster", "HostAgent"} with input as placed
	{t.name | some t in util.matching({"env": "prod"})} == {"c1"} with input as placed
}

test_no_placement_means_no_targets if {
	count(util.targets) == 0 with input as {}
}

test_matches_requires_every_label if {
	util.matches({"env": "prod", "region": "eu"}, {"env": "prod"})
	not util.matches({"env": "staging"}, {"env": "prod"})
	not util.matches({}, {"env": "prod"})
	util.matches({}, {})
}

test_params_overrides_defaults if {
	p := util.params("x", {"a": 1, "b": 2}) with data.parameters as {"x": {"b": 3}}
	p == {"a": 1, "b": 3}
}

test_fault_field if {
	util.fault_field == "spec.fault.host.action" with input as {"experiment": {"faultKind": "host/reboot"}}
	util.fault_field == "spec.fault.plugin.name" with input as {"experiment": {"faultKind": "plugin/x"}}
}

test_any_matching if {
	placed := {"placement": {"targets": [{"kind": "HostAgent", "name": "h1", "labels": {"env": "prod"}}]}}
	util.any_matching({"env": "prod"}) with input as placed
	not util.any_matching({"env": "staging"}) with input as placed
	not util.any_matching({}) with input as {}
}
