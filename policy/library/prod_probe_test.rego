package faultline.library.prod_probe_test

import data.faultline.library.prod_probe as pp

exp(env, spec) := {"experiment": {"spec": spec}, "placement": {"targets": [{"kind": "MemberCluster", "name": "c1", "labels": {"env": env}}]}}

guarded := {"abortOnBreach": true, "probes": [{"name": "errors", "mode": "during"}]}

test_allows_guarded_prod_experiment if {
	count(pp.deny) == 0 with input as exp("prod", guarded)
}

test_probe_mode_defaults_to_during if {
	count(pp.deny) == 0 with input as exp("prod", {"abortOnBreach": true, "probes": [{"name": "errors"}]})
}

test_allows_unguarded_outside_prod if {
	count(pp.deny) == 0 with input as exp("staging", {})
}

test_denies_prod_without_probe if {
	ds := pp.deny with input as exp("prod", {"abortOnBreach": true, "probes": [{"name": "up", "mode": "before"}]})
	[d | some d in ds] == [{
		"rule": "prod-probe",
		"field": "spec.probes",
		"message": "runs on production (MemberCluster c1) without a probe in mode during",
	}]
}

test_denies_prod_without_abort_on_breach if {
	ds := pp.deny with input as exp("prod", {"probes": [{"name": "errors", "mode": "during"}]})
	{d.field | some d in ds} == {"spec.abortOnBreach"}
}
