package netns

import (
	"fmt"
	"time"

	"github.com/vishvananda/netlink"
)

// linkUpTimeout bounds the wait for new links to become operational.
const linkUpTimeout = 5 * time.Second

// waitUp waits until the veth ends of the given hosts, and of the root link
// if there is one, are operationally up. Until the kernel's link watcher has
// processed a new link (it batches events, up to a second apart) the link
// sends through a no-op queue that drops every packet, so a test that dials
// right after New would lose its first SYN and stall for a second, or fail a
// one-shot ping. n.mu must be held.
func (n *Net) waitUp(hosts ...*Host) error {
	deadline := time.Now().Add(linkUpTimeout)
	if n.rootLink != "" {
		root, err := netlink.NewHandle()
		if err != nil {
			return fmt.Errorf("netlink in root namespace: %w", err)
		}
		defer root.Close()
		if err := waitOperUp(root, n.rootLink, deadline); err != nil {
			return err
		}
		if err := waitOperUp(n.switchNL, rootPortName, deadline); err != nil {
			return err
		}
	}
	for _, h := range hosts {
		if err := waitOperUp(n.switchNL, h.port, deadline); err != nil {
			return err
		}
		if err := h.waitIfaceUp(deadline); err != nil {
			return err
		}
	}
	return nil
}

func (h *Host) waitIfaceUp(deadline time.Time) error {
	ns, err := openNS(h.NsName)
	if err != nil {
		return err
	}
	defer ns.Close()
	nl, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", h.NsName, err)
	}
	defer nl.Close()
	return waitOperUp(nl, h.Iface, deadline)
}

func waitOperUp(nl *netlink.Handle, name string, deadline time.Time) error {
	for {
		link, err := nl.LinkByName(name)
		if err != nil {
			return fmt.Errorf("find %s: %w", name, err)
		}
		state := link.Attrs().OperState
		if state == netlink.OperUp {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("link %s still %s after %v", name, state, linkUpTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
