# approval-required: some experiments wait for people. The policy, not the
# approver, decides whose approval counts: approvers must belong to group,
# and only approvals of the current revision count (input.approvals[_].current).
#
# data.parameters.approvalRequired:
#   selector:                labels of clusters or agents that need approval (default env=prod)
#   aboveBlastRadiusPercent: a larger share of matching targets needs approval (default: off)
#   aboveTargets:            more targets on one cluster or agent needs approval (default: off)
#   group:                   group whose members may approve (default sre)
#   count:                   distinct approvers needed (default 1)
package faultline.library.approval_required

import data.faultline.library.util

rule := "approval-required"

params := util.params("approvalRequired", {
	"selector": {"env": "prod"},
	"aboveBlastRadiusPercent": null,
	"aboveTargets": null,
	"group": "sre",
	"count": 1,
})

# needs_approval is the cheap test; reasons spell it out only when needed.
needs_approval if {
	count(params.selector) > 0
	some t in util.targets
	util.matches(object.get(t, "labels", {}), params.selector)
}

needs_approval if {
	params.aboveBlastRadiusPercent != null
	some b in object.get(input, "blastRadius", [])
	b.percent > params.aboveBlastRadiusPercent
}

needs_approval if {
	params.aboveTargets != null
	some b in object.get(input, "blastRadius", [])
	b.selected > params.aboveTargets
}

reasons contains sprintf("runs on %s %s (labels %v)", [t.kind, t.name, params.selector]) if {
	count(params.selector) > 0
	some t in util.matching(params.selector)
}

reasons contains sprintf("hits %v%% of %s %s (approval above %v%%)", [b.percent, b.kind, b.name, params.aboveBlastRadiusPercent]) if {
	params.aboveBlastRadiusPercent != null
	some b in object.get(input, "blastRadius", [])
	b.percent > params.aboveBlastRadiusPercent
}

reasons contains sprintf("hits %v targets on %s %s (approval above %v)", [b.selected, b.kind, b.name, params.aboveTargets]) if {
	params.aboveTargets != null
	some b in object.get(input, "blastRadius", [])
	b.selected > params.aboveTargets
}

# approvers are the distinct users of the group who approved this revision.
approvers contains a.approver.username if {
	some a in object.get(input, "approvals", [])
	a.current == true
	params.group in object.get(a.approver, "groups", [])
}

approval contains {"rule": rule, "group": params.group, "count": params.count - count(approvers), "reason": concat("; ", sort(reasons))} if {
	needs_approval
	count(approvers) < params.count
}

# Stale approvals are ignored, but say so: the approver may think it counted.
warn contains util.violation(rule, "spec", sprintf("approval %s by %s is for revision %s, not the current one", [a.name, a.approver.username, a.revision])) if {
	needs_approval
	some a in object.get(input, "approvals", [])
	a.current == false
}
