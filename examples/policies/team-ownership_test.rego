package faultline.examples.team_ownership_test

import data.faultline.examples.team_ownership as to

exp(labels, probes) := {"experiment": {"metadata": {"labels": labels}, "spec": {"probes": probes}}}

after := [{"name": "healthy", "mode": "after"}]

test_allows_known_team if {
	count(to.deny) == 0 with input as exp({"team": "cart"}, after) with data.parameters.teams as ["cart"]
	count(to.warn) == 0 with input as exp({"team": "cart"}, after) with data.parameters.teams as ["cart"]
}

test_denies_missing_team_label if {
	ds := to.deny with input as exp({}, after)
	{d.field | some d in ds} == {"metadata.labels.team"}
}

test_denies_unknown_team if {
	ds := to.deny with input as exp({"team": "growth"}, after) with data.parameters.teams as ["cart"]
	count(ds) == 1
}

test_warns_without_after_probe if {
	ws := to.warn with input as exp({"team": "cart"}, [{"name": "errors"}])
	{w.field | some w in ws} == {"spec.probes"}
}
