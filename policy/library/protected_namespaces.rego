# protected-namespaces: no experiment may target the cluster's own machinery.
#
# data.parameters.protectedNamespaces:
#   namespaces: the protected set (default: kube-system, kube-public,
#               kube-node-lease, faultline-system)
#   additional: namespaces added to the defaults without restating them
#   requireNamespace: deny a selector that names no namespace (default true):
#               its reach would then depend on defaults, not on what it says.
#               Experiments placed on host agents only select no pods, so
#               neither this nor the own-namespace rule applies to them.
package faultline.library.protected_namespaces

import data.faultline.library.util

rule := "protected-namespaces"

params := util.params("protectedNamespaces", {
	"namespaces": ["kube-system", "kube-public", "kube-node-lease", "faultline-system"],
	"additional": [],
	"requireNamespace": true,
})

protected := {ns | some ns in params.namespaces} | {ns | some ns in params.additional}

selector := object.get(input, ["experiment", "spec", "selector"], {})

deny contains util.violation(rule, sprintf("spec.selector.namespaces[%d]", [i]), sprintf("namespace %q is protected", [ns])) if {
	some i, ns in object.get(selector, "namespaces", [])
	ns in protected
}

deny contains util.violation(rule, sprintf("spec.selector.pods.%s", [ns]), sprintf("namespace %q is protected", [ns])) if {
	some ns, _ in object.get(selector, "pods", {})
	ns in protected
}

names_none if {
	count(object.get(selector, "namespaces", [])) == 0
	count(object.get(selector, "pods", {})) == 0
	not hosts_only
}

# hosts_only: placed on host agents and on no member cluster, so no pod is
# selected. An experiment without placement takes its source's default,
# which may reach clusters, so it is not host-only.
hosts_only if {
	placement := object.get(input, ["experiment", "spec", "placement"], {})
	object.get(placement, "agents", null) != null
	object.get(placement, "clusters", null) == null
}

deny contains util.violation(rule, "spec.selector.namespaces", "the selector names no namespace, so it could reach protected ones; list the namespaces to target") if {
	params.requireNamespace == true
	names_none
}

# Where naming is not required, an experiment that names no namespace
# targets its own (Chaos Mesh's rule).
deny contains util.violation(rule, "metadata.namespace", sprintf("namespace %q is protected and the selector names no other", [ns])) if {
	params.requireNamespace != true
	names_none
	ns := input.experiment.metadata.namespace
	ns in protected
}
