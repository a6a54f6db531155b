# The parameters of this fleet for the built-in library rules. The library
# reads data.parameters.<rule>; a ChaosPolicy usually carries them in
# spec.data, and a Rego module like this one defines the same document, so
# that one directory is the policy both for `faultline plan --policy` and,
# through `faultline policy manifest`, for the hub.
package parameters

# Every pod experiment must name its namespaces (requireNamespace, the
# default); host experiments select no pods and need none.
protectedNamespaces := {"additional": ["monitoring", "cert-manager"]}

maxDuration := {
	"max": "30m",
	"byLabel": [{"selector": {"env": "prod"}, "max": "10m"}],
}

maxBlastRadius := {"maxPercent": 50, "maxTargets": 20}

faultKinds := {"rules": [{"selector": {"env": "prod"}, "deny": ["host/reboot", "host/shutdown", "disk/*"]}]}

changeWindow := {
	"timeZone": "Europe/Berlin",
	"selector": {"env": "prod"},
	"windows": [{"days": ["Mon", "Tue", "Wed", "Thu"], "start": "09:00", "end": "16:00"}],
}

freezePeriod := {"periods": [{"start": "2026-12-18T00:00:00Z", "end": "2027-01-04T00:00:00Z", "reason": "year-end change freeze"}]}

approvalRequired := {"selector": {"env": "prod"}, "aboveBlastRadiusPercent": 40, "group": "sre", "count": 1}

maxConcurrent := {"perCluster": 2, "perAgent": 1}

prodProbe := {"selector": {"env": "prod"}}

# Known teams, for team-ownership.rego.
teams := ["cart", "catalog", "checkout", "payments"]
