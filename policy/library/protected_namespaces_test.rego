package faultline.library.protected_namespaces_test

import data.faultline.library.protected_namespaces as pn

exp(selector) := {"experiment": {"metadata": {"namespace": "team-a"}, "spec": {"selector": selector}}}

test_allows_team_namespace if {
	count(pn.deny) == 0 with input as exp({"namespaces": ["shop"]})
}

test_denies_kube_system_naming_field if {
	ds := pn.deny with input as exp({"namespaces": ["shop", "kube-system"]})
	ds == {{
		"rule": "protected-namespaces",
		"field": "spec.selector.namespaces[1]",
		"message": "namespace \"kube-system\" is protected",
	}}
}

test_denies_pods_in_protected_namespace if {
	ds := pn.deny with input as exp({"pods": {"kube-public": ["x"]}})
	{d.field | some d in ds} == {"spec.selector.pods.kube-public"}
}

test_denies_selector_naming_no_namespace if {
	ds := pn.deny with input as {"experiment": {"metadata": {"namespace": "team-a"}, "spec": {}}}
	{d.field | some d in ds} == {"spec.selector.namespaces"}
}

test_own_namespace_when_naming_is_not_required if {
	optional := {"protectedNamespaces": {"requireNamespace": false}}
	ds := pn.deny with input as {"experiment": {"metadata": {"namespace": "kube-node-lease"}, "spec": {}}} with data.parameters as optional
	{d.field | some d in ds} == {"metadata.namespace"}
	count(pn.deny) == 0 with input as {"experiment": {"metadata": {"namespace": "team-a"}, "spec": {}}} with data.parameters as optional
}

test_own_namespace_ignored_when_selector_names_others if {
	count(pn.deny) == 0 with input as {"experiment": {"metadata": {"namespace": "kube-system"}, "spec": {"selector": {"namespaces": ["shop"]}}}}
}

test_additional_namespaces_from_data if {
	ds := pn.deny with input as exp({"namespaces": ["payments"]}) with data.parameters as {"protectedNamespaces": {"additional": ["payments"]}}
	count(ds) == 1
	count(pn.deny) == 0 with input as exp({"namespaces": ["payments"]})
}

test_namespaces_replace_defaults if {
	count(pn.deny) == 0 with input as exp({"namespaces": ["kube-system"]}) with data.parameters as {"protectedNamespaces": {"namespaces": ["vault"]}}
}

test_host_experiment_needs_no_namespace if {
	hosts := {"experiment": {"metadata": {"namespace": "team-a"}, "spec": {"placement": {"agents": {"matchLabels": {"env": "prod"}}}}}}
	count(pn.deny) == 0 with input as hosts
	in_kube_system := json.patch(hosts, [{"op": "replace", "path": "/experiment/metadata/namespace", "value": "kube-system"}])
	count(pn.deny) == 0 with input as in_kube_system with data.parameters as {"protectedNamespaces": {"requireNamespace": false}}
}

test_clusters_and_agents_still_need_a_namespace if {
	both := {"experiment": {"metadata": {"namespace": "team-a"}, "spec": {"placement": {
		"agents": {"matchLabels": {"env": "prod"}},
		"clusters": {"matchLabels": {"env": "prod"}},
	}}}}
	ds := pn.deny with input as both
	{d.field | some d in ds} == {"spec.selector.namespaces"}
}
