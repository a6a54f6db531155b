package faultline.library.fault_kinds_test

import data.faultline.library.fault_kinds as fk

exp(kind, env) := {
	"experiment": {"faultKind": kind},
	"placement": {"targets": [{"kind": "HostAgent", "name": "h1", "labels": {"env": env}}]},
}

test_allows_reboot_outside_prod if {
	count(fk.deny) == 0 with input as exp("host/reboot", "staging")
}

test_allows_other_faults_in_prod if {
	count(fk.deny) == 0 with input as exp("network/delay", "prod")
}

test_denies_reboot_in_prod_naming_field if {
	ds := fk.deny with input as exp("host/reboot", "prod")
	[d | some d in ds] == [{
		"rule": "fault-kinds",
		"field": "spec.fault.host.action",
		"message": "fault host/reboot is not allowed on HostAgent h1 (labels {\"env\": \"prod\"})",
	}]
}

test_family_wildcard if {
	params := {"faultKinds": {"rules": [{"selector": {"env": "prod"}, "deny": ["stress/*"]}]}}
	count(fk.deny) == 1 with input as exp("stress/cpu", "prod") with data.parameters as params
	count(fk.deny) == 0 with input as exp("network/delay", "prod") with data.parameters as params
}

test_allow_list if {
	params := {"faultKinds": {"rules": [{"selector": {"tier": "edge"}, "allow": ["network/*", "pod/kill"]}]}}
	edge := {"experiment": {"faultKind": "disk/fill"}, "placement": {"targets": [{"kind": "MemberCluster", "name": "e1", "labels": {"tier": "edge"}}]}}
	ds := fk.deny with input as edge with data.parameters as params
	{d.field | some d in ds} == {"spec.fault.disk.action"}
	ok := json.patch(edge, [{"op": "replace", "path": "/experiment/faultKind", "value": "pod/kill"}])
	count(fk.deny) == 0 with input as ok with data.parameters as params
}
