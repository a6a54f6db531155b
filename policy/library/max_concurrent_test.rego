package faultline.library.max_concurrent_test

import data.faultline.library.max_concurrent as mc

placed := {"placement": {"targets": [{"kind": "MemberCluster", "name": "c1", "labels": {}}, {"kind": "HostAgent", "name": "h1", "labels": {}}]}}

with_active(clusters, agents) := object.union(placed, {"activeExperiments": {"clusters": clusters, "agents": agents}})

test_allows_below_limit if {
	count(mc.deny) == 0 with input as with_active({"c1": 2}, {})
}

test_allows_when_nothing_runs if {
	count(mc.deny) == 0 with input as placed
}

test_denies_full_cluster if {
	ds := mc.deny with input as with_active({"c1": 3}, {})
	[d | some d in ds] == [{
		"rule": "max-concurrent",
		"field": "spec.placement",
		"message": "MemberCluster c1 already runs 3 experiments (at most 3 at once)",
	}]
}

test_denies_busy_agent if {
	ds := mc.deny with input as with_active({}, {"h1": 1})
	{d.message | some d in ds} == {"HostAgent h1 already runs 1 experiments (at most 1 at once)"}
}

test_limit_from_data if {
	count(mc.deny) == 0 with input as with_active({"c1": 5}, {}) with data.parameters as {"maxConcurrent": {"perCluster": 10}}
}

test_other_clusters_do_not_count if {
	count(mc.deny) == 0 with input as with_active({"c9": 50}, {})
}
