# max-concurrent: at most N experiments run at once on one member cluster or
# host agent.
#
# data.parameters.maxConcurrent:
#   perCluster: experiments at once per member cluster (default 3)
#   perAgent:   experiments at once per host agent (default 1)
#
# input.activeExperiments is {clusters: {name: n}, agents: {name: n}}, counting
# the other experiments running there now.
package faultline.library.max_concurrent

import data.faultline.library.util

rule := "max-concurrent"

params := util.params("maxConcurrent", {"perCluster": 3, "perAgent": 1})

active := object.union({"clusters": {}, "agents": {}}, object.get(input, "activeExperiments", {}))

deny contains util.violation(rule, "spec.placement", msg) if {
	some t in util.targets
	t.kind == "MemberCluster"
	n := object.get(active.clusters, t.name, 0)
	n >= params.perCluster
	msg := sprintf("%s %s already runs %v experiments (at most %v at once)", [t.kind, t.name, n, params.perCluster])
}

deny contains util.violation(rule, "spec.placement", msg) if {
	some t in util.targets
	t.kind == "HostAgent"
	n := object.get(active.agents, t.name, 0)
	n >= params.perAgent
	msg := sprintf("%s %s already runs %v experiments (at most %v at once)", [t.kind, t.name, n, params.perAgent])
}
