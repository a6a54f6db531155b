package faults

import (
	"fmt"
	"strings"

	"github.com/vishvananda/netlink"
)

// resolveDevice returns the interface a network fault acts on inside the
// target: the one asked for, else the default route's, else the only
// interface besides loopback that is up.
func resolveDevice(netnsPath, want string) (string, error) {
	ns, err := openNetns(netnsPath)
	if err != nil {
		return "", err
	}
	defer ns.Close()
	nl, err := netlink.NewHandleAt(ns)
	if err != nil {
		return "", fmt.Errorf("netlink: %w", err)
	}
	defer nl.Close()
	if want != "" {
		if _, err := nl.LinkByName(want); err != nil {
			return "", fmt.Errorf("spec.fault.network.device: %q: %w", want, err)
		}
		return want, nil
	}
	routes, err := nl.RouteList(nil, netlink.FAMILY_ALL)
	if err == nil {
		for _, r := range routes {
			if r.Dst == nil && r.LinkIndex > 0 {
				if l, err := nl.LinkByIndex(r.LinkIndex); err == nil {
					return l.Attrs().Name, nil
				}
			}
		}
	}
	links, err := nl.LinkList()
	if err != nil {
		return "", fmt.Errorf("list links: %w", err)
	}
	var up []string
	for _, l := range links {
		a := l.Attrs()
		if a.Name != "lo" && a.Flags&0x1 != 0 { // IFF_UP
			up = append(up, a.Name)
		}
	}
	if len(up) != 1 {
		return "", fmt.Errorf("spec.fault.network.device: no default route and %d candidate interfaces (%s); name one", len(up), strings.Join(up, ", "))
	}
	return up[0], nil
}

// namedDevice checks the interface a fault names, for the paths that hook
// every interface unless told otherwise (nftables inet rules): empty stays
// empty, so that an unnamed device keeps meaning "all but loopback".
func namedDevice(netnsPath, want string) (string, error) {
	if want == "" {
		return "", nil
	}
	return resolveDevice(netnsPath, want)
}
