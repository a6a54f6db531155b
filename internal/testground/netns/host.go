package netns

import (
	"context"
	"fmt"
	"net"
	"os/exec"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
)

// Host is one machine or pod of a test network: a named network namespace
// with a loopback and one interface on the network's bridge.
type Host struct {
	Name   string // as given to New or AddHost
	NsName string // the `ip netns` name: `ip netns exec NsName ...` works
	IP     net.IP // the host's IPv4 address on the network
	Iface  string // the host's interface inside its namespace

	port string // the other end of Iface, on the bridge in the switch
}

// AddHost creates one more host on the network, plugs it into the switch
// and waits until its link carries traffic. Hosts are numbered in order, the
// first getting .2 of the subnet.
func (n *Net) AddHost(name string) (*Host, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	h, err := n.addHost(name)
	if err != nil {
		return nil, err
	}
	if err := n.waitUp(h); err != nil {
		return nil, fmt.Errorf("add host %s: %w", name, err)
	}
	return h, nil
}

// addHost builds a host without waiting for its link; n.mu must be held.
func (n *Net) addHost(name string) (*Host, error) {
	if err := validHostName(name); err != nil {
		return nil, err
	}
	if n.closed {
		return nil, fmt.Errorf("add host %s: network is closed", name)
	}
	for _, h := range n.hosts {
		if h.Name == name {
			return nil, fmt.Errorf("add host %s: already exists", name)
		}
	}
	i := len(n.hosts)
	if i >= maxHosts {
		return nil, fmt.Errorf("add host %s: a network holds at most %d hosts", name, maxHosts)
	}
	h := &Host{
		Name:   name,
		NsName: hostNSName(n.id, n.pid, name),
		IP:     hostAddr(n.subnet, i),
		Iface:  hostIface,
		port:   portName(i),
	}
	if err := n.buildHost(h); err != nil {
		return nil, fmt.Errorf("add host %s: %w", name, err)
	}
	n.hosts = append(n.hosts, h)
	return h, nil
}

// buildHost creates the host's namespace and its veth, whose other end is
// created directly inside the switch namespace so that no device of ours
// ever appears, even briefly, in the root namespace.
func (n *Net) buildHost(h *Host) error {
	ns, err := createNamedNS(h.NsName)
	if err != nil {
		return err
	}
	n.namespaces = append(n.namespaces, h.NsName)
	defer ns.Close()

	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: h.port},
		PeerName:      h.Iface,
		PeerNamespace: netlink.NsFd(ns),
	}
	if err := n.switchNL.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth: %w", err)
	}
	if err := n.plugIntoBridge(h.port); err != nil {
		return err
	}
	return configureHost(ns, h, n.subnet.Mask)
}

// configureHost brings up loopback and the host's interface with its address.
func configureHost(ns vnetns.NsHandle, h *Host, mask net.IPMask) error {
	nl, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", h.NsName, err)
	}
	defer nl.Close()
	if err := linkUp(nl, "lo"); err != nil {
		return err
	}
	link, err := nl.LinkByName(h.Iface)
	if err != nil {
		return fmt.Errorf("find %s: %w", h.Iface, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: h.IP, Mask: mask}}
	if err := nl.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("address %s on %s: %w", addr, h.Iface, err)
	}
	if err := nl.LinkSetUp(link); err != nil {
		return fmt.Errorf("%s up: %w", h.Iface, err)
	}
	return nil
}

func linkUp(nl *netlink.Handle, name string) error {
	link, err := nl.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find %s: %w", name, err)
	}
	if err := nl.LinkSetUp(link); err != nil {
		return fmt.Errorf("%s up: %w", name, err)
	}
	return nil
}

// Path is the namespace's bind mount, for tools that take a namespace file
// (nsenter --net=PATH, setns).
func (h *Host) Path() string { return nsPath(h.NsName) }

// Do runs fn on an OS thread switched into the host's namespace, then
// switches back. Sockets fn opens stay in the host's namespace for their
// whole life, so a listener made in Do keeps serving from the host after Do
// returns. Goroutines that fn starts run in the root namespace, not the
// host's.
func (h *Host) Do(fn func() error) error {
	return onNSThread(enterNamed(h.NsName), fn)
}

// Exec prepares a command that runs inside the host's namespace through
// `ip netns exec` (package iproute2), which also gives it the host's view
// of /sys. Killing it via ctx kills the command itself: ip execs it in place.
func (h *Host) Exec(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NsName, name}, args...)...)
}

// Listen opens a listener inside the host's namespace, e.g. an agent's API
// served from the host's address.
func (h *Host) Listen(network, address string) (net.Listener, error) {
	var ln net.Listener
	err := h.Do(func() error {
		var err error
		ln, err = net.Listen(network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen in %s: %w", h.Name, err)
	}
	return ln, nil
}

// DialContext connects from inside the host's namespace, as a process on
// that host would. Use IP addresses: name resolution may run on other
// threads, outside the namespace.
func (h *Host) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var conn net.Conn
	err := h.Do(func() error {
		var err error
		conn, err = (&net.Dialer{}).DialContext(ctx, network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial from %s: %w", h.Name, err)
	}
	return conn, nil
}

// String names the host and its address for test logs.
func (h *Host) String() string { return fmt.Sprintf("%s(%s)", h.Name, h.IP) }
