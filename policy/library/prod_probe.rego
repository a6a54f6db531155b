# prod-probe: an experiment on production must watch the service while the
# fault is on and stop at once when it breaches: a probe in mode during and
# spec.abortOnBreach.
#
# data.parameters.prodProbe:
#   selector: labels of production clusters or agents (default env=prod)
package faultline.library.prod_probe

import data.faultline.library.util

rule := "prod-probe"

params := util.params("prodProbe", {"selector": {"env": "prod"}})

spec := object.get(input, ["experiment", "spec"], {})

on_production if {
	some t in util.targets
	util.matches(object.get(t, "labels", {}), params.selector)
}

during_probe if {
	some p in object.get(spec, "probes", [])
	object.get(p, "mode", "during") == "during"
}

# production names the production targets; only computed for a message.
production := concat(", ", sort([sprintf("%s %s", [t.kind, t.name]) | some t in util.matching(params.selector)]))

deny contains util.violation(rule, "spec.probes", msg) if {
	on_production
	not during_probe
	msg := sprintf("runs on production (%s) without a probe in mode during", [production])
}

deny contains util.violation(rule, "spec.abortOnBreach", msg) if {
	on_production
	object.get(spec, "abortOnBreach", false) != true
	msg := sprintf("runs on production (%s) without abortOnBreach: true", [production])
}
