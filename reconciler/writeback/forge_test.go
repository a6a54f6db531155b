package writeback

import (
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

func TestResolveForge(t *testing.T) {
	for _, tc := range []struct {
		name, provider, address, repo, url string
		wantAPI, wantRepo                  string
		wantErr                            string
	}{
		{"github.com https", "github", "", "", "https://github.com/acme/chaos.git", "https://api.github.com", "acme/chaos", ""},
		{"github.com ssh", "github", "", "", "ssh://git@github.com/acme/chaos.git", "https://api.github.com", "acme/chaos", ""},
		{"github enterprise", "github", "", "", "https://ghe.example.com/acme/chaos", "https://ghe.example.com/api/v3", "acme/chaos", ""},
		{"github given web address", "github", "https://github.com", "", "https://github.com/acme/chaos", "https://api.github.com", "acme/chaos", ""},
		{"github given api address", "github", "https://ghe.example.com/api/v3/", "other/repo", "https://ghe.example.com/acme/chaos", "https://ghe.example.com/api/v3", "other/repo", ""},
		{"github path too deep", "github", "", "", "https://github.com/acme/chaos/extra", "", "", "more than owner/name"},
		{"gitlab nested groups", "gitlab", "", "", "https://gitlab.example.com/platform/sre/chaos.git", "https://gitlab.example.com/api/v4", "platform/sre/chaos", ""},
		{"gitlab ssh with port", "gitlab", "", "", "ssh://git@gitlab.example.com:2222/g/p.git", "https://gitlab.example.com/api/v4", "g/p", ""},
		{"gitea on a port", "gitea", "", "", "http://127.0.0.1:3000/acme/chaos.git", "http://127.0.0.1:3000/api/v1", "acme/chaos", ""},
		{"gitea under a sub-path", "gitea", "", "", "https://example.com/git/acme/chaos", "https://example.com/git/api/v1", "acme/chaos", ""},
		{"gitea credentials in URL dropped", "gitea", "", "", "http://bot:secret@127.0.0.1:3000/acme/chaos", "http://127.0.0.1:3000/api/v1", "acme/chaos", ""},
		{"gitea address given", "gitea", "http://forge.internal:3000", "", "ssh://git@forge.internal:2222/acme/chaos.git", "http://forge.internal:3000/api/v1", "acme/chaos", ""},
		{"one path segment", "gitea", "", "", "https://example.com/chaos", "", "", "cannot derive owner/name"},
		{"unknown provider", "bitbucket", "", "", "https://example.com/a/b", "", "", `unknown provider "bitbucket"`},
		{"bad address", "gitea", "ftp://x", "a/b", "https://example.com/a/b", "", "", "want an http(s) URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ResolveForge(v1alpha1.CommitStatusSpec{Provider: v1alpha1.CommitStatusProvider(tc.provider), Address: tc.address, Repository: tc.repo}, tc.url)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.API != tc.wantAPI || f.Repository != tc.wantRepo {
				t.Errorf("got %s %s, want %s %s", f.API, f.Repository, tc.wantAPI, tc.wantRepo)
			}
		})
	}
}

func TestDescriptions(t *testing.T) {
	type sd struct {
		state State
		desc  string
	}
	of := func(s State, d string) sd { return sd{s, d} }
	for _, tc := range []struct {
		name      string
		got, want sd
	}{
		{"passed", of(ForVerdict(v1alpha1.Verdict{Result: v1alpha1.VerdictPassed, Message: "p99 (during): held in 9 evaluations, last 0.005 [max 0.3]"})),
			sd{StateSuccess, "Passed: p99 (during): held in 9 evaluations, last 0.005 [max 0.3]"}},
		{"aborted", of(ForVerdict(v1alpha1.Verdict{Result: v1alpha1.VerdictAborted, Message: "aborted: p99 (during): 0.49 > max 0.3 at 03:04:06Z"})),
			sd{StateFailure, "Aborted: aborted: p99 (during): 0.49 > max 0.3 at 03:04:06Z"}},
		{"failed", of(ForVerdict(v1alpha1.Verdict{Result: v1alpha1.VerdictFailed, Message: "x"})), sd{StateFailure, "Failed: x"}},
		{"inconclusive is not a pass", of(ForVerdict(v1alpha1.Verdict{Result: v1alpha1.VerdictInconclusive, Message: "no data"})), sd{StateError, "Inconclusive: no data"}},
		{"error", of(ForVerdict(v1alpha1.Verdict{Result: v1alpha1.VerdictError})), sd{StateError, "Error"}},
		{"denied", of(Denied("platform/protected-namespaces", "spec.selector.namespaces[0]: kube-system is protected")),
			sd{StateFailure, "denied by policy rule platform/protected-namespaces: spec.selector.namespaces[0]: kube-system is protected"}},
		{"awaiting one group", of(AwaitingApproval("sre")), sd{StatePending, "awaiting approval by sre"}},
		{"awaiting groups", of(AwaitingApproval("sre", "dba", "security")), sd{StatePending, "awaiting approval by sre, dba and security"}},
		{"running", of(Running(v1alpha1.PhaseRunning)), sd{StatePending, "experiment running"}},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, tc.got, tc.want)
		}
	}
}

func TestDescriptionIsOneShortLine(t *testing.T) {
	s := Status{Description: "first line\nsecond\tline " + strings.Repeat("é", 200)}
	d := s.description()
	if strings.ContainsAny(d, "\n\t") || len([]rune(d)) != MaxDescription || !strings.HasSuffix(d, "…") || !strings.HasPrefix(d, "first line second line é") {
		t.Errorf("description %q (%d runes)", d, len([]rune(d)))
	}
}
