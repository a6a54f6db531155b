package standalone

import (
	"strings"
	"testing"
	"time"
)

// A malformed request gets 400 with a message naming the field, and
// nothing is applied: no attack, no schedule, no engine fault, no file.
func TestMalformedRequestsAre400AndApplyNothing(t *testing.T) {
	a := startTestAgent(t)
	fill := `"disk":{"action":"fill","path":"` + a.dir + `","size":"64Ki"}`
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	for _, c := range []struct {
		name, path, contentType, body, field string
	}{
		{"not JSON", "/v1/attacks", "application/json", `{`, ""},
		{"empty body", "/v1/attacks", "application/json", ``, ""},
		{"YAML to a JSON endpoint", "/v1/attacks", "application/yaml", `fault: {}`, ""},
		{"unknown field", "/v1/attacks", "", `{"fault":{"network":{"action":"delay","latncy":"100ms"}}}`, "fault.network.latncy"},
		{"wrong type", "/v1/attacks", "", `{"fault":{"stress":{"action":"cpu","workers":"two"}}}`, "fault.stress.workers"},
		{"no fault", "/v1/attacks", "", `{"duration":"1m"}`, "fault"},
		{"two faults", "/v1/attacks", "", `{"fault":{` + fill + `,"stress":{"action":"cpu"}}}`, "fault"},
		{"pod fault", "/v1/attacks", "", `{"fault":{"pod":{"action":"kill"}}}`, "fault.pod"},
		{"no action", "/v1/attacks", "", `{"fault":{"network":{"latency":"100ms"}}}`, "fault.network.action"},
		{"unknown action", "/v1/attacks", "", `{"fault":{"network":{"action":"teleport"}}}`, "fault.network.action"},
		{"delay without latency", "/v1/attacks", "", `{"fault":{"network":{"action":"delay"}}}`, "fault.network.latency"},
		{"loss percent", "/v1/attacks", "", `{"fault":{"network":{"action":"loss","percent":"lots","device":"lo"}}}`, "fault.network.percent"},
		{"no such device", "/v1/attacks", "", `{"fault":{"network":{"action":"delay","latency":"1ms","device":"nosuch0"}}}`, "fault.network.device"},
		{"bad peer", "/v1/attacks", "", `{"fault":{"network":{"action":"loss","percent":"5"}},"peers":["example.com"]}`, "peers[0]"},
		{"pod peers", "/v1/attacks", "", `{"fault":{"network":{"action":"loss","percent":"5","target":{"selector":{}}}}}`, "fault.network.target"},
		{"relative disk path", "/v1/attacks", "", `{"fault":{"disk":{"action":"fill","path":"tmp","size":"1Ki"}}}`, "fault.disk.path"},
		{"too many workers", "/v1/attacks", "", `{"fault":{"stress":{"action":"cpu","workers":300}}}`, "fault.stress"},
		{"name and pid", "/v1/attacks", "", `{"fault":{"process":{"action":"kill","process":"x","pid":1}}}`, "fault.process"},
		{"bad duration", "/v1/attacks", "", `{"fault":{` + fill + `},"duration":"1x"}`, "duration"},
		{"negative duration", "/v1/attacks", "", `{"fault":{` + fill + `},"duration":"-1m"}`, "duration"},
		{"duration over the maximum", "/v1/attacks", "", `{"fault":{` + fill + `},"duration":"2h"}`, "duration"},
		{"no cron", "/v1/schedules", "", `{"attack":{"fault":{` + fill + `}}}`, "cron"},
		{"bad cron", "/v1/schedules", "", `{"cron":"61 * * * *","attack":{"fault":{` + fill + `}}}`, "cron"},
		{"bad scheduled attack", "/v1/schedules", "", `{"cron":"@hourly","attack":{"fault":{"disk":{"action":"fill","path":"/nonexistent-dir","size":"1Ki"}}}}`, "attack.fault.disk.path"},
		{"apply: not ours", "/v1/apply", "application/yaml", "apiVersion: v1\nkind: Pod\n", "document 1: apiVersion"},
		{"apply: unknown kind", "/v1/apply", "application/yaml", "apiVersion: faultline.dev/v1alpha1\nkind: ChaosSource\n", "document 1: kind"},
		{"apply: pod target", "/v1/apply", "application/yaml", strings.Replace(injectionYAML(a.dir, ""), "kind: Host", "kind: Pod", 1), "document 1: spec.targets[0].kind"},
		{"apply: deadline passed", "/v1/apply", "application/yaml", injectionYAML(a.dir, "") + "  deadline: " + past + "\n", "document 1: spec.deadline"},
		{"apply: unknown field", "/v1/apply", "application/yaml", injectionYAML(a.dir, "") + "  colour: red\n", "document 1: spec.colour"},
		{"apply: second document bad", "/v1/apply", "application/yaml", injectionYAML(a.dir, "") + "---\n" + strings.Replace(injectionYAML(a.dir, ""), "size: 64Ki", "size: -1", 1), "document 2 (Injection fill-var): spec.fault.disk.size"},
		{"apply: bad experiment schedule", "/v1/apply", "application/yaml", experimentYAML(a.dir, "schedule: every day"), "document 1 (Experiment fill-var): spec.schedule"},
		{"apply: nothing", "/v1/apply", "application/yaml", "---\n", ""},
		// Types a browser may send cross-site without a preflight.
		{"apply: text/plain", "/v1/apply", "text/plain", injectionYAML(a.dir, ""), ""},
		{"attack: text/plain", "/v1/attacks", "text/plain;charset=UTF-8", diskFill(a.dir, "64Ki", "1m"), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			ct := c.contentType
			if ct == "" {
				ct = "application/json"
			}
			status, _, raw := a.call(t, "POST", c.path, ct, c.body)
			if status != 400 {
				t.Fatalf("status %d, want 400: %s", status, raw)
			}
			e := decode[Error](t, raw)
			t.Log(e.Error)
			if e.Field != c.field {
				t.Errorf("field %q, want %q (message %q)", e.Field, c.field, e.Error)
			}
			if c.field != "" && !strings.Contains(e.Error, c.field) {
				t.Errorf("message %q does not name %s", e.Error, c.field)
			}
		})
	}
	if as := a.s.listAttacks(); len(as) != 0 {
		t.Errorf("attacks recorded by malformed requests: %+v", as)
	}
	if scs := a.s.listSchedules(); len(scs) != 0 {
		t.Errorf("schedules recorded by malformed requests: %+v", scs)
	}
	if act := a.s.engine.Active(); len(act) != 0 {
		t.Errorf("faults applied by malformed requests: %+v", act)
	}
	if left := fillFiles(t, a.dir); len(left) != 0 {
		t.Errorf("files written by malformed requests: %v", left)
	}
}

func experimentYAML(dir, extra string) string {
	return `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata:
  name: fill-var
spec:
  duration: 1m
  ` + extra + `
  fault:
    disk:
      action: fill
      path: ` + dir + `
      size: 64Ki
`
}
