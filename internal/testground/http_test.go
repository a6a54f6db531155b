package testground

import (
	"net"
	"strconv"
	"testing"
)

// FreePort picks below the kernel's ephemeral range, where outgoing
// connections never take the port before a child binds it, and the port
// can be bound.
func TestFreePortAvoidsTheEphemeralRange(t *testing.T) {
	lo, hi := belowEphemeral()
	if hi <= lo {
		t.Skipf("no room below the ephemeral range (%d–%d)", lo, hi)
	}
	for range 20 {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if port < lo || port > hi {
			t.Fatalf("FreePort = %d, want within %d–%d (below the ephemeral range)", port, lo, hi)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatalf("binding the port FreePort gave: %v", err)
		}
		l.Close()
	}
}
