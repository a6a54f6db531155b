package netns

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
)

// testRange is 198.18.0.0/15, reserved for benchmarking (RFC 2544): never
// routed on the internet, and unlikely to be used by the machine itself.
var testRange = net.IPNet{IP: net.IPv4(198, 18, 0, 0).To4(), Mask: net.CIDRMask(15, 32)}

// subnetBits is the prefix length of one test network: 253 usable addresses
// (.1 for the root link, .2 to .254 for hosts), 512 networks in testRange.
const (
	subnetBits   = 24
	subnetsCount = 1 << (subnetBits - 15)
	firstHostOct = 2
	maxHosts     = 254 - firstHostOct + 1
)

// pickSubnet chooses a /24 of testRange, starting at a random one so that
// parallel processes rarely try the same, and skipping any that overlaps an
// address or route of the root namespace (another test's root link). Only
// root links make a subnet visible outside our namespaces, so this check,
// done under the package lock, is all the coordination needed.
func pickSubnet() (*net.IPNet, error) {
	used, err := rootNetworks()
	if err != nil {
		return nil, err
	}
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("random subnet: %w", err)
	}
	start := int(binary.BigEndian.Uint16(b[:])) % subnetsCount
	for i := range subnetsCount {
		candidate := nthSubnet((start + i) % subnetsCount)
		if !overlapsAny(candidate, used) {
			return candidate, nil
		}
	}
	return nil, errors.New("no free /24 left in 198.18.0.0/15")
}

func nthSubnet(n int) *net.IPNet {
	ip := make(net.IP, 4)
	copy(ip, testRange.IP)
	ip[1] += byte(n >> 8)
	ip[2] = byte(n)
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(subnetBits, 32)}
}

// hostAddr is the address of the i-th host, or of the root link for i = -1.
func hostAddr(subnet *net.IPNet, i int) net.IP {
	ip := make(net.IP, 4)
	copy(ip, subnet.IP.To4())
	ip[3] = byte(firstHostOct + i)
	return ip
}

func rootNetworks() ([]*net.IPNet, error) {
	var used []*net.IPNet
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return netlink.AddrList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return nil, fmt.Errorf("list root addresses: %w", err)
	}
	for _, a := range addrs {
		used = append(used, a.IPNet)
	}
	routes, err := retryDump(func() ([]netlink.Route, error) { return netlink.RouteList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return nil, fmt.Errorf("list root routes: %w", err)
	}
	for _, r := range routes {
		// A default route (nil or /0) covers everything but claims nothing.
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones > 0 {
				used = append(used, r.Dst)
			}
		}
	}
	return used, nil
}

func overlapsAny(n *net.IPNet, others []*net.IPNet) bool {
	for _, o := range others {
		if o != nil && (n.Contains(o.IP) || o.Contains(n.IP)) {
			return true
		}
	}
	return false
}
