package netns

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
)

// prefix starts the name of every namespace and root-namespace link this
// package creates, so that `ip netns list` and `ip link` show at a glance
// what a test left behind and Sweep can find it.
const prefix = "flt"

// Names of devices inside our own namespaces. They cannot clash with anything
// else, so they are fixed and short (IFNAMSIZ allows 15 bytes).
const (
	bridgeName   = "fltbr"
	rootPortName = "fltroot"
	hostIface    = "eth0"
)

var (
	// nsPattern matches namespace names: prefix, id, owner pid, then "-host"
	// or ".switch".
	nsPattern = regexp.MustCompile(`^` + prefix + `([0-9a-f]{6})-([0-9]+)[-.]`)
	// rootLinkPattern matches the root-namespace end of a root link.
	rootLinkPattern = regexp.MustCompile(`^` + prefix + `([0-9a-f]{6})$`)
	hostNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
)

// newID returns 6 random hex digits, enough that networks made at the same
// time by parallel test processes do not collide.
func newID() (string, error) {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func hostNSName(id string, pid int, host string) string {
	return fmt.Sprintf("%s%s-%d-%s", prefix, id, pid, host)
}

func switchNSName(id string, pid int) string {
	return fmt.Sprintf("%s%s-%d.switch", prefix, id, pid)
}

// rootLinkName is 9 bytes, well inside IFNAMSIZ, and unique per network
// because the root namespace is shared by every test process.
func rootLinkName(id string) string { return prefix + id }

// portName names the bridge port of the host with index i in the switch.
func portName(i int) string { return fmt.Sprintf("fltp%d", i) }

// parseNSName returns the network id and owner pid of one of our namespaces.
func parseNSName(name string) (id string, pid int, ok bool) {
	m := nsPattern.FindStringSubmatch(name)
	if m == nil {
		return "", 0, false
	}
	pid, err := strconv.Atoi(m[2])
	if err != nil {
		return "", 0, false
	}
	return m[1], pid, true
}

func validHostName(name string) error {
	if !hostNamePattern.MatchString(name) {
		return fmt.Errorf("invalid host name %q: want 1-32 lower-case letters, digits or '-'", name)
	}
	return nil
}
