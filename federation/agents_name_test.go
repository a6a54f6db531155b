package federation_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/faultline-dev/faultline/federation"
)

func TestAgentNameIsAValidObjectName(t *testing.T) {
	for host, want := range map[string]string{
		"Rack1.Host_7":     "rack1.host-7",
		"db-01.example.io": "db-01.example.io",
		"--weird..":        "weird",
		"a..-b.":           "a.b",
	} {
		got := federation.AgentName(host)
		if got != want {
			t.Errorf("AgentName(%q) = %q, want %q", host, got, want)
		}
		if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 {
			t.Errorf("AgentName(%q) = %q is not a valid name: %v", host, got, errs)
		}
	}
}
