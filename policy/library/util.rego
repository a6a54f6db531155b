# Helpers the library's rules share: the placed targets and label matching.
package faultline.library.util

# targets lists every placed member cluster and host agent: {kind, name, labels, wave}.
targets := object.get(input, ["placement", "targets"], [])

# matches is true when labels carry every key and value of selector; an
# empty selector matches everything, as with Kubernetes label selectors.
matches(labels, selector) if {
	every k, v in selector {
		object.get(labels, k, null) == v
	}
}

# matching holds the targets whose labels match selector.
matching(selector) := [t |
	some t in targets
	matches(object.get(t, "labels", {}), selector)
]

# any_matching is true when some target's labels match selector.
any_matching(selector) if {
	some t in targets
	matches(object.get(t, "labels", {}), selector)
}

# params merges a rule's defaults with the policy's data.parameters[name].
params(name, defaults) := object.union(defaults, data.parameters[name]) if {
	is_object(data.parameters[name])
} else := defaults

# fault_field names the field that chose the fault, such as spec.fault.host.action.
fault_field := sprintf("spec.fault.%s.name", [family]) if {
	family := split(input.experiment.faultKind, "/")[0]
	family == "plugin"
} else := sprintf("spec.fault.%s.action", [split(input.experiment.faultKind, "/")[0]])

# when_field names the field that decides when an experiment runs.
when_field := "spec.schedule"

# violation builds a denial or warning in the shape the engine reads.
violation(rule, field, message) := {"rule": rule, "field": field, "message": message}
