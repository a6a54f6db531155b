package netns_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/testground/netns"
)

func TestHostsReachEachOther(t *testing.T) {
	n := netns.New(t, []string{"pod-a", "pod-b"})
	a, b := n.Host("pod-a"), n.Host("pod-b")
	if a == nil || b == nil || n.Host("nope") != nil {
		t.Fatalf("Host lookup: a=%v b=%v", a, b)
	}
	if !n.Subnet().Contains(a.IP) || !n.Subnet().Contains(b.IP) || a.IP.Equal(b.IP) {
		t.Fatalf("addresses %s and %s not distinct inside %s", a.IP, b.IP, n.Subnet())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := a.Exec(ctx, "ping", "-c1", "-W1", b.IP.String()).CombinedOutput(); err != nil {
		t.Fatalf("ping %s from %s: %v\n%s", b, a, err, out)
	}

	// TCP from a to a listener in b; b sees a's address as the peer.
	ln, err := b.Listen("tcp", net.JoinHostPort(b.IP.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			peer <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		fmt.Fprintf(c, "hello %s\n", host)
		peer <- host
	}()
	conn, err := a.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != "hello "+a.IP.String()+"\n" {
		t.Errorf("greeting = %q (%v)", line, err)
	}
	if got := <-peer; got != a.IP.String() {
		t.Errorf("b saw peer %s, want %s", got, a.IP)
	}
}

// TestNamespacesAreIsolated checks that Do really runs inside the host: it
// sees only lo and its own interface, and the root namespace's loopback
// listeners are out of reach.
func TestNamespacesAreIsolated(t *testing.T) {
	n := netns.New(t, []string{"solo"})
	h := n.Host("solo")

	rootLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rootLn.Close()

	var names []string
	var upLo bool
	err = h.Do(func() error {
		ifaces, err := net.Interfaces()
		if err != nil {
			return err
		}
		for _, i := range ifaces {
			names = append(names, i.Name)
			if i.Name == "lo" && i.Flags&net.FlagUp != 0 {
				upLo = true
			}
			if i.Name == h.Iface {
				addrs, _ := i.Addrs()
				if len(addrs) == 0 || !strings.HasPrefix(addrs[0].String(), h.IP.String()+"/") {
					return fmt.Errorf("%s has addresses %v, want %s", i.Name, addrs, h.IP)
				}
			}
		}
		c, err := net.DialTimeout("tcp", rootLn.Addr().String(), time.Second)
		if err == nil {
			c.Close()
			return fmt.Errorf("reached the root namespace's %s from inside the host", rootLn.Addr())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "lo,"+h.Iface || !upLo {
		t.Errorf("interfaces in host = %v (lo up: %v), want lo (up) and %s", names, upLo, h.Iface)
	}

	// The caller's thread is back in the root namespace.
	if c, err := net.DialTimeout("tcp", rootLn.Addr().String(), time.Second); err != nil {
		t.Errorf("root listener unreachable after Do: %v", err)
	} else {
		c.Close()
	}
	if err := h.Do(func() error { return io.EOF }); err != io.EOF {
		t.Errorf("Do returned %v, want fn's error", err)
	}
}

func TestRootLink(t *testing.T) {
	n := netns.New(t, []string{"agent"}, netns.WithRootLink())
	agent := n.Host("agent")
	if n.RootIP() == nil || !n.Subnet().Contains(n.RootIP()) || n.RootIface() == "" {
		t.Fatalf("root link: ip %v iface %q in %s", n.RootIP(), n.RootIface(), n.Subnet())
	}

	// A hub in the root namespace, reached by the agent.
	hub, err := net.Listen("tcp", net.JoinHostPort(n.RootIP().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	go func() {
		for {
			c, err := hub.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s\n", c.RemoteAddr())
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := agent.DialContext(ctx, "tcp", hub.Addr().String())
	if err != nil {
		t.Fatalf("agent cannot reach hub at %s: %v", hub.Addr(), err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if !strings.HasPrefix(line, agent.IP.String()+":") {
		t.Errorf("hub saw %q, want a connection from %s", line, agent.IP)
	}

	// And the other way: the root namespace reaches the agent's API.
	api, err := agent.Listen("tcp", net.JoinHostPort(agent.IP.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	go func() {
		if c, err := api.Accept(); err == nil {
			fmt.Fprintln(c, "agent")
			c.Close()
		}
	}()
	c, err = (&net.Dialer{}).DialContext(ctx, "tcp", api.Addr().String())
	if err != nil {
		t.Fatalf("root cannot reach agent at %s: %v", api.Addr(), err)
	}
	line, _ = bufio.NewReader(c).ReadString('\n')
	c.Close()
	if line != "agent\n" {
		t.Errorf("agent answered %q", line)
	}
	if out, err := exec.CommandContext(ctx, "ping", "-c1", "-W1", agent.IP.String()).CombinedOutput(); err != nil {
		t.Errorf("ping agent from root: %v\n%s", err, out)
	}
}

// TestParallelRootLinksGetDistinctSubnets: two networks linked to the root
// namespace at once must not claim the same subnet.
func TestParallelRootLinksGetDistinctSubnets(t *testing.T) {
	n1 := netns.New(t, []string{"h"}, netns.WithRootLink())
	n2 := netns.New(t, []string{"h"}, netns.WithRootLink())
	if n1.Subnet().String() == n2.Subnet().String() {
		t.Fatalf("both networks use %s", n1.Subnet())
	}
	if n1.Host("h").NsName == n2.Host("h").NsName {
		t.Fatalf("both networks named their host %s", n1.Host("h").NsName)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range []*netns.Net{n1, n2} {
		if out, err := exec.CommandContext(ctx, "ping", "-c1", "-W1", n.Host("h").IP.String()).CombinedOutput(); err != nil {
			t.Errorf("ping %s from root: %v\n%s", n.Host("h"), err, out)
		}
	}
}

func TestAddHost(t *testing.T) {
	n := netns.New(t, nil)
	first, err := n.AddHost("late")
	if err != nil {
		t.Fatal(err)
	}
	second, err := n.AddHost("later")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.AddHost("late"); err == nil {
		t.Error("duplicate host name accepted")
	}
	for _, bad := range []string{"", "UPPER", "has space", "../x", strings.Repeat("x", 40)} {
		if _, err := n.AddHost(bad); err == nil {
			t.Errorf("host name %q accepted", bad)
		}
	}
	if got := len(n.Hosts()); got != 2 {
		t.Errorf("Hosts() has %d entries, want 2", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := second.Exec(ctx, "ping", "-c1", "-W1", first.IP.String()).CombinedOutput(); err != nil {
		t.Errorf("ping %s from %s: %v\n%s", first, second, err, out)
	}
}
