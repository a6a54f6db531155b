package faults

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

// TablePrefix starts the name of every nftables table the engine creates.
const TablePrefix = "faultline_"

// shortID is a stable 12-hex-digit digest of a fault ID, used in the names
// of what the fault creates.
func shortID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:6])
}

// tableName is the nftables table of fault id.
func tableName(id string) string { return TablePrefix + shortID(id) }

// netMatch is which packets a network fault takes, seen from the target.
type netMatch struct {
	Direction v1alpha1.Direction `json:"direction"`
	Peers     []string           `json:"peers,omitempty"` // CIDRs; empty: any peer
	Ports     []int32            `json:"ports,omitempty"` // peer ports; empty: any port
	// Device limits inet rules to one interface; empty: every interface
	// but loopback.
	Device string `json:"device,omitempty"`
}

func (m netMatch) egress() bool { return m.Direction != v1alpha1.DirectionFrom }
func (m netMatch) ingress() bool {
	return m.Direction == v1alpha1.DirectionFrom || m.Direction == v1alpha1.DirectionBoth
}

// maxRules bounds peers×ports×directions so a fault stays a small table.
const maxRules = 4096

// parseNetMatch reads direction, peers and ports of a network fault. Host
// names in externalTargets are refused: the hub resolves names, so that
// every executor of one experiment hits the same addresses.
func parseNetMatch(nf *v1alpha1.NetworkFault, peers []string) (netMatch, error) {
	m := netMatch{Direction: nf.Direction, Ports: slices.Clone(nf.Ports)}
	if m.Direction == "" {
		m.Direction = v1alpha1.DirectionTo
	}
	switch m.Direction {
	case v1alpha1.DirectionTo, v1alpha1.DirectionFrom, v1alpha1.DirectionBoth:
	default:
		return m, fmt.Errorf("spec.fault.network.direction: %q is not to, from or both", m.Direction)
	}
	for i, p := range append(slices.Clone(peers), nf.ExternalTargets...) {
		field := fmt.Sprintf("spec.peers[%d]", i)
		if i >= len(peers) {
			field = fmt.Sprintf("spec.fault.network.externalTargets[%d]", i-len(peers))
		}
		cidr, err := parsePeer(p)
		if err != nil {
			return m, fmt.Errorf("%s: %w", field, err)
		}
		m.Peers = append(m.Peers, cidr)
	}
	for i, p := range m.Ports {
		if p < 1 || p > 65535 {
			return m, fmt.Errorf("spec.fault.network.ports[%d]: %d is not a port", i, p)
		}
	}
	n := max(1, len(m.Peers)) * max(1, len(m.Ports)) * 2
	if n > maxRules {
		return m, fmt.Errorf("spec.fault.network: %d peers × %d ports is more than %d rules", len(m.Peers), len(m.Ports), maxRules)
	}
	return m, nil
}

func parsePeer(p string) (string, error) {
	if strings.Contains(p, "/") {
		_, n, err := net.ParseCIDR(p)
		if err != nil {
			return "", fmt.Errorf("%q is not an address or CIDR", p)
		}
		return n.String(), nil
	}
	ip := net.ParseIP(p)
	if ip == nil {
		return "", fmt.Errorf("%q is not an address or CIDR (host names are resolved by the hub)", p)
	}
	if ip4 := ip.To4(); ip4 != nil {
		return ip4.String() + "/32", nil
	}
	return ip.String() + "/128", nil
}

// hookSide is one side of the traffic: egress (the target sends) or
// ingress (it receives).
type hookSide int

const (
	sideEgress hookSide = iota
	sideIngress
)

// ruleMatches returns one expression list per (peer, port, protocol)
// combination; each matches the packets of m on one side. inet says whether
// the table is of family inet (else netdev, bound to a device).
func ruleMatches(m netMatch, side hookSide, inet bool) ([][]expr.Any, error) {
	peers := m.Peers
	if len(peers) == 0 {
		peers = []string{""}
	}
	var out [][]expr.Any
	for _, peer := range peers {
		var base []expr.Any
		if inet {
			key := expr.MetaKeyOIFNAME
			if side == sideIngress {
				key = expr.MetaKeyIIFNAME
			}
			// The device asked for, else everything but loopback: a pod's
			// own localhost is not its network.
			op, dev := expr.CmpOpNeq, "lo"
			if m.Device != "" {
				op, dev = expr.CmpOpEq, m.Device
			}
			base = append(base, &expr.Meta{Key: key, Register: 1},
				&expr.Cmp{Op: op, Register: 1, Data: ifname(dev)})
		}
		if peer != "" {
			e, err := peerMatch(peer, side, inet)
			if err != nil {
				return nil, err
			}
			base = append(base, e...)
		}
		if len(m.Ports) == 0 {
			out = append(out, base)
			continue
		}
		for _, port := range m.Ports {
			for _, proto := range []byte{unix.IPPROTO_TCP, unix.IPPROTO_UDP} {
				off := uint32(2) // the peer's port is the destination when we send
				if side == sideIngress {
					off = 0
				}
				e := slices.Clone(base)
				e = append(e,
					&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
					&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, uint16(port))},
				)
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// peerMatch matches the peer's address: the destination when the target
// sends, the source when it receives.
func peerMatch(cidr string, side hookSide, inet bool) ([]expr.Any, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, err
	}
	var e []expr.Any
	addr, mask := n.IP.To4(), net.IP(n.Mask)
	offset := uint32(16) // IPv4 daddr
	if side == sideIngress {
		offset = 12
	}
	if addr != nil {
		if inet {
			e = append(e, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}})
		} else {
			e = append(e, &expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, unix.ETH_P_IP)})
		}
		mask = mask.To4()
	} else {
		addr = n.IP.To16()
		offset = 24
		if side == sideIngress {
			offset = 8
		}
		if inet {
			e = append(e, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV6}})
		} else {
			e = append(e, &expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, unix.ETH_P_IPV6)})
		}
	}
	l := uint32(len(addr))
	e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: l},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: l, Mask: mask, Xor: make([]byte, l)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr})
	return e, nil
}

func ifname(n string) []byte {
	b := make([]byte, 16)
	copy(b, n)
	return b
}

// nftTable is the undo record shared by nftables faults: the table to drop.
type nftTable struct {
	Netns  string `json:"netns,omitempty"`
	Family string `json:"family"` // inet | netdev
	Table  string `json:"table"`
	Device string `json:"device,omitempty"` // netdev tables: the device hooked
	// QueueNum is the NFQUEUE the table's rules queue to (delay).
	QueueNum uint16 `json:"queueNum,omitempty"`
}

func (t *nftTable) family() nftables.TableFamily {
	if t.Family == "netdev" {
		return nftables.TableFamilyNetdev
	}
	return nftables.TableFamilyINet
}

// nftConn opens an nftables connection in the table's namespace.
func nftConn(netnsPath string) (*nftables.Conn, func(), error) {
	ns, err := openNetns(netnsPath)
	if err != nil {
		return nil, nil, err
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		ns.Close()
		return nil, nil, fmt.Errorf("nftables: %w", err)
	}
	return c, func() { ns.Close() }, nil
}

// chainRules is one chain's rules: a chain per side, each rule a match plus
// an action, tagged so counters can be read back.
type chainRules struct {
	side  hookSide
	rules []taggedRule
}

type taggedRule struct {
	tag   string
	exprs []expr.Any
}

// install replaces the table atomically: one netlink batch deletes any
// previous version of it and adds the new one, so the fault is either fully
// in place or not at all.
func (t *nftTable) install(chains []chainRules) error {
	c, done, err := nftConn(t.Netns)
	if err != nil {
		return err
	}
	defer done()
	fam := t.family()
	if existing, _ := c.ListTableOfFamily(t.Table, fam); existing != nil {
		c.DelTable(existing)
	}
	table := c.AddTable(&nftables.Table{Family: fam, Name: t.Table})
	for _, ch := range chains {
		chain := &nftables.Chain{Table: table, Type: nftables.ChainTypeFilter, Priority: nftables.ChainPriorityFilter}
		switch {
		case fam == nftables.TableFamilyNetdev && ch.side == sideEgress:
			chain.Name, chain.Hooknum, chain.Device = "egress", nftables.ChainHookEgress, t.Device
		case fam == nftables.TableFamilyNetdev:
			chain.Name, chain.Hooknum, chain.Device = "ingress", nftables.ChainHookIngress, t.Device
		case ch.side == sideEgress:
			chain.Name, chain.Hooknum = "output", nftables.ChainHookOutput
		default:
			chain.Name, chain.Hooknum = "input", nftables.ChainHookInput
		}
		chain = c.AddChain(chain)
		for _, r := range ch.rules {
			c.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: r.exprs, UserData: []byte(r.tag)})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables table %s: %w", t.Table, err)
	}
	return nil
}

// remove deletes the table; a missing table or namespace is recovered.
func (t *nftTable) remove() error {
	c, done, err := nftConn(t.Netns)
	if err != nil {
		if errors.Is(err, ErrTargetGone) {
			return nil
		}
		return err
	}
	defer done()
	existing, err := c.ListTableOfFamily(t.Table, t.family())
	if err != nil || existing == nil {
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("nftables: look up table %s: %w", t.Table, err)
		}
		return nil
	}
	c.DelTable(existing)
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("nftables: delete table %s: %w", t.Table, err)
	}
	return nil
}

// counters sums the packet counters of the table's rules by tag.
func (t *nftTable) counters() (map[string]uint64, error) {
	c, done, err := nftConn(t.Netns)
	if err != nil {
		return nil, err
	}
	defer done()
	table := &nftables.Table{Family: t.family(), Name: t.Table}
	chains, err := c.ListChainsOfTableFamily(t.family())
	if err != nil {
		return nil, err
	}
	sums := map[string]uint64{}
	for _, ch := range chains {
		if ch.Table.Name != t.Table {
			continue
		}
		rules, err := c.GetRules(table, ch)
		if err != nil {
			return nil, err
		}
		for _, r := range rules {
			for _, e := range r.Exprs {
				if ctr, ok := e.(*expr.Counter); ok {
					sums[string(r.UserData)] += ctr.Packets
				}
			}
		}
	}
	return sums, nil
}
