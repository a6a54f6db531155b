package netns

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Close removes everything the network created: the root link, every host
// namespace and the switch namespace, ending processes still running inside
// them. Deleting a namespace destroys the devices in it, and a veth dies with
// either end, so nothing is left in the root namespace. Close keeps going
// after an error and reports all of them; it is safe to call more than once.
func (n *Net) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true

	var errs []error
	if n.rootLink != "" {
		errs = append(errs, deleteRootLink(n.rootLink))
	}
	if n.switchNL != nil {
		// Its sockets would keep the switch namespace alive.
		n.switchNL.Close()
	}
	// Hosts first, the switch last: reverse creation order.
	for _, name := range slices.Backward(n.namespaces) {
		errs = append(errs, deleteNamedNS(name))
	}
	return errors.Join(errs...)
}

func deleteRootLink(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if errors.As(err, &notFound) {
			return nil
		}
		return fmt.Errorf("find root link %s: %w", name, err)
	}
	if err := netlink.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete root link %s: %w", name, err)
	}
	return nil
}

// Sweep deletes the namespaces and root links that runs of this package left
// behind when their process died before cleaning up (a crash, a timeout, a
// SIGKILL). Networks whose owner process is still alive are left alone, so
// Sweep is safe while other test processes run. New calls it on every use.
func Sweep() error {
	// Under the lock, no network is half-built: its root link and its
	// switch namespace appear together.
	unlock, err := lockMachine()
	if err != nil {
		return err
	}
	defer unlock()

	entries, err := os.ReadDir(netnsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("list %s: %w", netnsDir, err)
	}
	var errs []error
	live := map[string]bool{}
	for _, e := range entries {
		id, pid, ok := parseNSName(e.Name())
		if !ok {
			continue
		}
		if processAlive(pid) {
			live[id] = true
			continue
		}
		errs = append(errs, deleteNamedNS(e.Name()))
	}

	// A root link exists only while its network's namespaces do, so one
	// whose network has no live namespace is an orphan.
	links, err := retryDump(netlink.LinkList)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list links: %w", err))...)
	}
	for _, l := range links {
		m := rootLinkPattern.FindStringSubmatch(l.Attrs().Name)
		if m == nil || live[m[1]] {
			continue
		}
		if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("delete leftover link %s: %w", l.Attrs().Name, err))
		}
	}
	return errors.Join(errs...)
}
