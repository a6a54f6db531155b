package main

import (
	"strings"
	"testing"
)

func TestParseLabels(t *testing.T) {
	got, err := parseLabels("rack=r1,faultline.dev/zone=eu-1")
	if err != nil || len(got) != 2 || got["rack"] != "r1" || got["faultline.dev/zone"] != "eu-1" {
		t.Errorf("parseLabels = %v, %v", got, err)
	}
	for _, bad := range []string{"rack", "a b=c", "rack=no spaces"} {
		if _, err := parseLabels(bad); err == nil || !strings.Contains(err.Error(), "--labels") {
			t.Errorf("parseLabels(%q) error = %v, want one naming --labels", bad, err)
		}
	}
}

func TestServeNeedsHub(t *testing.T) {
	cmd := newRootCommand()
	cmd.SetArgs([]string{"serve", "--token-file", "/nonexistent"})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "hub") {
		t.Errorf("serve without --hub: %v, want an error naming hub", err)
	}
}
