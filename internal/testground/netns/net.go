package netns

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"github.com/faultline-dev/faultline/internal/testground"
)

// Net is one test network: a switch namespace holding a bridge, the hosts
// plugged into it and, with WithRootLink, a link from the root namespace.
type Net struct {
	id     string
	pid    int // owner process, part of namespace names for Sweep
	subnet *net.IPNet
	rootIP net.IP

	mu         sync.Mutex
	switchNS   string
	switchNL   *netlink.Handle // netlink socket inside the switch namespace
	bridge     netlink.Link
	rootLink   string   // name in the root namespace, "" without WithRootLink
	namespaces []string // every namespace created, in creation order
	hosts      []*Host
	closed     bool
}

// New creates a network with the named hosts for the duration of the test
// and removes it, and anything left in it, in t.Cleanup, also when the test
// fails or panics. It first sweeps up what crashed runs left behind. Without
// root it skips the test, except under CI (CI set), where it fails it: CI
// runs as root, so a skip there would hide lost coverage.
func New(t testing.TB, hosts []string, opts ...Option) *Net {
	t.Helper()
	RequireRoot(t)
	if err := Sweep(); err != nil {
		t.Logf("netns: sweeping leftovers of earlier runs: %v", err)
	}
	n, err := Create(hosts, opts...)
	if err != nil {
		t.Fatalf("netns: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("netns: teardown: %v", err)
		}
	})
	return n
}

// RequireRoot gates root-only tests; see testground.RequireRoot.
func RequireRoot(t testing.TB) {
	t.Helper()
	testground.RequireRoot(t)
}

// Create builds a network with the named hosts; the caller must Close it.
// On error, whatever was already built is removed again.
func Create(hosts []string, opts ...Option) (n *Net, err error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	n = &Net{id: id, pid: os.Getpid()}
	defer func() {
		if err != nil {
			err = errors.Join(err, n.Close())
			n = nil
		}
	}()

	unlock, err := lockMachine()
	if err != nil {
		return n, err
	}
	err = n.buildSwitch(cfg)
	unlock()
	if err != nil {
		return n, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, name := range hosts {
		if _, err := n.addHost(name); err != nil {
			return n, err
		}
	}
	// Wait once for all links: the kernel batches link events, so waiting
	// host by host could cost up to a second each.
	return n, n.waitUp(n.hosts...)
}

// buildSwitch picks the subnet and creates the switch namespace with its
// bridge and, if asked for, the root link. It runs under the machine lock so
// that no other process claims the same subnet in the root namespace between
// the pick and the claim.
func (n *Net) buildSwitch(cfg config) error {
	if err := prepareNetnsDir(); err != nil {
		return err
	}
	subnet, err := pickSubnet()
	if err != nil {
		return err
	}
	n.subnet = subnet

	n.switchNS = switchNSName(n.id, n.pid)
	h, err := createNamedNS(n.switchNS)
	if err != nil {
		return err
	}
	n.namespaces = append(n.namespaces, n.switchNS)
	defer h.Close()
	if n.switchNL, err = netlink.NewHandleAt(h); err != nil {
		return fmt.Errorf("netlink in %s: %w", n.switchNS, err)
	}
	if err := linkUp(n.switchNL, "lo"); err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridgeName}}
	if err := n.switchNL.LinkAdd(br); err != nil {
		return fmt.Errorf("switch: add bridge: %w", err)
	}
	if n.bridge, err = n.switchNL.LinkByName(bridgeName); err != nil {
		return fmt.Errorf("switch: find bridge: %w", err)
	}
	if err := n.switchNL.LinkSetUp(n.bridge); err != nil {
		return fmt.Errorf("switch: bridge up: %w", err)
	}
	if cfg.rootLink {
		return n.linkRoot(h)
	}
	return nil
}

// linkRoot connects the root namespace to the bridge and gives its end the
// first address of the subnet.
func (n *Net) linkRoot(switchNS vnetns.NsHandle) error {
	name := rootLinkName(n.id)
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: name},
		PeerName:      rootPortName,
		PeerNamespace: netlink.NsFd(switchNS),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("root link: add veth %s: %w", name, err)
	}
	n.rootLink = name
	if err := n.plugIntoBridge(rootPortName); err != nil {
		return fmt.Errorf("root link: %w", err)
	}
	rootIP := hostAddr(n.subnet, -1)
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("root link: find %s: %w", name, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: rootIP, Mask: n.subnet.Mask}}
	if err := netlink.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("root link: address %s: %w", addr, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("root link: up: %w", err)
	}
	n.rootIP = rootIP
	return nil
}

// plugIntoBridge attaches a switch-side veth end to the bridge and brings it
// up.
func (n *Net) plugIntoBridge(port string) error {
	link, err := n.switchNL.LinkByName(port)
	if err != nil {
		return fmt.Errorf("find port %s: %w", port, err)
	}
	if err := n.switchNL.LinkSetMaster(link, n.bridge); err != nil {
		return fmt.Errorf("attach %s to bridge: %w", port, err)
	}
	if err := n.switchNL.LinkSetUp(link); err != nil {
		return fmt.Errorf("port %s up: %w", port, err)
	}
	return nil
}

// Host returns the host called name, or nil if there is none.
func (n *Net) Host(name string) *Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, h := range n.hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Hosts returns the hosts in the order they were added.
func (n *Net) Hosts() []*Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.hosts)
}

// Subnet is the network's /24 inside 198.18.0.0/15.
func (n *Net) Subnet() *net.IPNet {
	return &net.IPNet{IP: slices.Clone(n.subnet.IP), Mask: slices.Clone(n.subnet.Mask)}
}

// RootIP is the root namespace's address on the network, where hosts reach
// servers running on the machine itself; nil without WithRootLink.
func (n *Net) RootIP() net.IP { return slices.Clone(n.rootIP) }

// RootIface is the root namespace's interface on the network; "" without
// WithRootLink.
func (n *Net) RootIface() string { return n.rootLink }

// SwitchNS is the `ip netns` name of the namespace holding the bridge, for
// faults that act on the wire between hosts.
func (n *Net) SwitchNS() string { return n.switchNS }
