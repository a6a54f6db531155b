package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestVersionAndHelp(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"--help"}} {
		var out bytes.Buffer
		cmd := newRootCommand()
		cmd.SetOut(&out)
		cmd.SetArgs(args)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		want := "faultline-agent "
		if args[0] == "--help" {
			want = "Usage:"
		}
		if !strings.Contains(out.String(), want) {
			t.Errorf("%v printed %q, want %q in it", args, out.String(), want)
		}
	}
}
