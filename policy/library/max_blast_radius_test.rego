package faultline.library.max_blast_radius_test

import data.faultline.library.max_blast_radius as mbr

exp(mode, value, radius) := {"experiment": {"spec": {"mode": mode, "value": value}}, "blastRadius": radius}

br(name, selected, matching) := {"kind": "MemberCluster", "name": name, "selected": selected, "matching": matching, "percent": (selected * 100) / matching}

test_allows_small_share if {
	count(mbr.deny) == 0 with input as exp("fixed-percent", "20", [br("c1", 2, 10), br("c2", 1, 5)])
}

test_allows_exactly_the_maximum if {
	count(mbr.deny) == 0 with input as exp("fixed-percent", "50", [br("c1", 5, 10)])
}

test_denies_share_above_percent_naming_value if {
	ds := mbr.deny with input as exp("fixed-percent", "80", [br("c1", 8, 10)])
	[d | some d in ds] == [{
		"rule": "max-blast-radius",
		"field": "spec.value",
		"message": "would hit 80% of the 10 matching targets on MemberCluster c1 (at most 50%)",
	}]
}

test_denies_mode_all_naming_mode if {
	ds := mbr.deny with input as exp("all", "", [br("c1", 4, 4)])
	{d.field | some d in ds} == {"spec.mode"}
}

test_denies_absolute_targets if {
	params := {"maxBlastRadius": {"maxPercent": 100, "maxTargets": 3}}
	ds := mbr.deny with input as exp("fixed", "5", [br("c1", 5, 100)]) with data.parameters as params
	{d.message | some d in ds} == {"would hit 5 targets on MemberCluster c1 (at most 3)"}
	count(mbr.deny) == 0 with input as exp("fixed", "3", [br("c1", 3, 100)]) with data.parameters as params
}

test_denies_total_targets if {
	params := {"maxBlastRadius": {"maxTotalTargets": 4}}
	ds := mbr.deny with input as exp("fixed", "3", [br("c1", 3, 10), br("c2", 3, 10)]) with data.parameters as params
	{d.message | some d in ds} == {"would hit 6 targets in all (at most 4)"}
}

test_total_unlimited_by_default if {
	count(mbr.deny) == 0 with input as exp("fixed", "3", [br("c1", 3, 10), br("c2", 3, 10)])
}
