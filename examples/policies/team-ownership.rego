# team-ownership: experiments carry a team label naming a known team, and
# should check the service once the fault is gone.
package faultline.examples.team_ownership

rule := "team-ownership"

default teams := []

teams := data.parameters.teams

labels := object.get(input, ["experiment", "metadata", "labels"], {})

deny contains {"rule": rule, "field": "metadata.labels.team", "message": "experiments must name their team in label team"} if {
	not labels.team
}

deny contains {"rule": rule, "field": "metadata.labels.team", "message": sprintf("team %q is not one of %v", [labels.team, teams])} if {
	labels.team
	count(teams) > 0
	not labels.team in teams
}

warn contains {"rule": rule, "field": "spec.probes", "message": "no probe in mode after: nothing checks that the service recovered"} if {
	every p in object.get(input, ["experiment", "spec", "probes"], []) {
		object.get(p, "mode", "during") != "after"
	}
}
