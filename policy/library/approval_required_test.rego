package faultline.library.approval_required_test

import data.faultline.library.approval_required as ar

prod := {"placement": {"targets": [{"kind": "MemberCluster", "name": "eu-1", "labels": {"env": "prod"}}]}}

staging := {"placement": {"targets": [{"kind": "MemberCluster", "name": "st-1", "labels": {"env": "staging"}}]}}

with_approvals(inp, approvals) := object.union(inp, {"approvals": approvals})

approval(name, user, groups, current) := {"name": name, "approver": {"username": user, "groups": groups}, "revision": "abc1234", "current": current}

test_no_approval_needed_outside_prod if {
	count(ar.approval) == 0 with input as staging
}

test_prod_needs_sre_approval if {
	reqs := ar.approval with input as prod
	[a | some a in reqs] == [{"rule": "approval-required", "group": "sre", "count": 1, "reason": "runs on MemberCluster eu-1 (labels {\"env\": \"prod\"})"}]
}

test_current_approval_by_group_member_releases if {
	count(ar.approval) == 0 with input as with_approvals(prod, [approval("a1", "alice", ["sre"], true)])
}

test_approval_for_older_revision_does_not_count if {
	inp := with_approvals(prod, [approval("a1", "alice", ["sre"], false)])
	count(ar.approval) == 1 with input as inp
	count(ar.warn) == 1 with input as inp
}

test_approval_outside_group_does_not_count if {
	count(ar.approval) == 1 with input as with_approvals(prod, [approval("a1", "mallory", ["dev"], true)])
}

test_count_needs_distinct_approvers if {
	params := {"approvalRequired": {"count": 2}}
	twice := with_approvals(prod, [approval("a1", "alice", ["sre"], true), approval("a2", "alice", ["sre"], true)])
	reqs := ar.approval with input as twice with data.parameters as params
	{a.count | some a in reqs} == {1}
	two := with_approvals(prod, [approval("a1", "alice", ["sre"], true), approval("a2", "bob", ["sre"], true)])
	count(ar.approval) == 0 with input as two with data.parameters as params
}

test_blast_radius_needs_approval if {
	params := {"approvalRequired": {"selector": {}, "aboveBlastRadiusPercent": 30}}
	wide := {"blastRadius": [{"kind": "MemberCluster", "name": "st-1", "selected": 4, "matching": 10, "percent": 40}]}
	count(ar.approval) == 1 with input as wide with data.parameters as params
	narrow := {"blastRadius": [{"kind": "MemberCluster", "name": "st-1", "selected": 2, "matching": 10, "percent": 20}]}
	count(ar.approval) == 0 with input as narrow with data.parameters as params
}

test_absolute_targets_need_approval if {
	params := {"approvalRequired": {"selector": {}, "aboveTargets": 5}}
	many := {"blastRadius": [{"kind": "HostAgent", "name": "h1", "selected": 6, "matching": 6, "percent": 100}]}
	count(ar.approval) == 1 with input as many with data.parameters as params
}
