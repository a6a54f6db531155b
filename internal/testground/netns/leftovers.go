package netns

import (
	"os/exec"
	"strings"
	"testing"
)

// Ruleset returns `nft list ruleset` run in the named namespace ("" is the
// root one).
func Ruleset(t testing.TB, nsName string) string {
	t.Helper()
	cmd := exec.Command("nft", "list", "ruleset")
	if nsName != "" {
		cmd = exec.Command("ip", "netns", "exec", nsName, "nft", "list", "ruleset")
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nft list ruleset in %q: %v: %s", nsName, err, out)
	}
	return string(out)
}

// Qdiscs returns `tc qdisc show` for the named namespace ("" is the root
// one).
func Qdiscs(t testing.TB, nsName string) string {
	t.Helper()
	args := []string{"qdisc", "show"}
	if nsName != "" {
		args = append([]string{"-n", nsName}, args...)
	}
	out, err := exec.Command("tc", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("tc qdisc show in %q: %v: %s", nsName, err, out)
	}
	return string(out)
}

// FaultsLeft lists, one a line, what of our faults is left in a namespace:
// lines of the nftables ruleset naming tablePrefix (faults.TablePrefix; the
// test ground does not import faults) and netem qdiscs or qdiscs with our
// handle (fa00:). Empty means nothing is left.
func FaultsLeft(t testing.TB, nsName, tablePrefix string) string {
	t.Helper()
	nft, tc := Ruleset(t, nsName), Qdiscs(t, nsName)
	var left []string
	for _, l := range strings.Split(nft, "\n") {
		if strings.Contains(l, tablePrefix) {
			left = append(left, strings.TrimSpace(l))
		}
	}
	for _, l := range strings.Split(tc, "\n") {
		if strings.Contains(l, "netem") || strings.Contains(l, "fa00:") {
			left = append(left, strings.TrimSpace(l))
		}
	}
	return strings.Join(left, "\n")
}
