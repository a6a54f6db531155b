package faults

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"github.com/faultline-dev/faultline/faults/internal/nfqueue"
)

// Capabilities are the fault paths this machine's kernel supports.
type Capabilities struct {
	Netem    bool `json:"netem"`
	TBF      bool `json:"tbf"`
	Nftables bool `json:"nftables"`
	NFQueue  bool `json:"nfqueue"`
	// QueueRule is how an nftables rule hands packets to NFQUEUE: "nft"
	// (the native queue expression, CONFIG_NFT_QUEUE) or "xt" (the xtables
	// NFQUEUE target through nft_compat), whichever the kernel has.
	QueueRule string `json:"queueRule,omitempty"`
	Detail    string `json:"detail,omitempty"` // why a probe failed
}

// Map returns the capabilities by name, for metrics and status.
func (c Capabilities) Map() map[string]bool {
	return map[string]bool{"netem": c.Netem, "tbf": c.TBF, "nftables": c.Nftables, "nfqueue": c.NFQueue}
}

func (c Capabilities) String() string {
	return fmt.Sprintf("netem=%t tbf=%t nftables=%t nfqueue=%t queueRule=%s", c.Netem, c.TBF, c.Nftables, c.NFQueue, c.QueueRule)
}

// Detect probes the kernel by really using each path once inside a
// throwaway network namespace (a dummy link with a netem and a tbf qdisc,
// an nftables table, an NFQUEUE bind), so nothing on the machine changes
// and a module that would auto-load does.
func Detect() Capabilities {
	var c Capabilities
	var details []error
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			details = append(details, err)
			return
		}
		defer orig.Close()
		probe, err := vnetns.New() // switches this thread into it
		if err != nil {
			runtime.UnlockOSThread()
			details = append(details, fmt.Errorf("new netns: %w", err))
			return
		}
		defer probe.Close()
		details = append(details, c.probe(probe)...)
		if err := vnetns.Set(orig); err != nil {
			details = append(details, err)
			return // thread stays locked and is discarded
		}
		runtime.UnlockOSThread()
	}()
	<-done
	if err := errors.Join(details...); err != nil {
		c.Detail = err.Error()
	}
	return c
}

func (c *Capabilities) probe(ns vnetns.NsHandle) []error {
	var errs []error
	nl, err := netlink.NewHandleAt(ns)
	if err != nil {
		return []error{err}
	}
	defer nl.Close()
	// A veth pair, not a dummy: kernels without the dummy module exist
	// (this project's CI machine is one) and veth is what pods have anyway.
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "fltprobe0"}, PeerName: "fltprobe1"}
	if err := nl.LinkAdd(veth); err != nil {
		errs = append(errs, fmt.Errorf("veth link: %w", err))
	} else if link, err := nl.LinkByName("fltprobe0"); err == nil {
		_ = nl.LinkSetUp(link)
		attrs := netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(qdiscMajor, 0), Parent: netlink.HANDLE_ROOT}
		netem := netlink.NewNetem(attrs, netlink.NetemQdiscAttrs{Latency: 1000})
		if err := nl.QdiscAdd(netem); err != nil {
			errs = append(errs, fmt.Errorf("netem: %w", err))
		} else {
			c.Netem = true
			_ = nl.QdiscDel(netem)
		}
		tbf := &netlink.Tbf{QdiscAttrs: attrs, Rate: 125000, Limit: 10000, Buffer: netlink.Xmittime(125000, 5000)}
		if err := nl.QdiscAdd(tbf); err != nil {
			errs = append(errs, fmt.Errorf("tbf: %w", err))
		} else {
			c.TBF = true
			_ = nl.QdiscDel(tbf)
		}
	}
	conn, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err == nil {
		t := conn.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "faultline_probe"})
		if err = conn.Flush(); err == nil {
			c.Nftables = true
			conn.DelTable(t)
			err = conn.Flush()
		}
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("nftables: %w", err))
	}
	q, err := nfqueue.Open(int(ns), 0xfaff, nfqueue.Options{})
	if err != nil {
		errs = append(errs, fmt.Errorf("nfqueue: %w", err))
		return errs
	}
	_ = q.Close()
	for _, kind := range []string{"nft", "xt"} {
		if err := probeQueueRule(int(ns), kind); err != nil {
			errs = append(errs, fmt.Errorf("queue rule %s: %w", kind, err))
			continue
		}
		c.NFQueue, c.QueueRule = true, kind
		break
	}
	return errs
}

// probeQueueRule installs and removes a table with one queue rule.
func probeQueueRule(nsFd int, kind string) error {
	conn, err := nftables.New(nftables.WithNetNSFd(nsFd))
	if err != nil {
		return err
	}
	t := conn.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "faultline_probe"})
	ch := conn.AddChain(&nftables.Chain{Table: t, Name: "output", Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter})
	conn.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{queueExpr(kind, 0xfaff)}})
	if err := conn.Flush(); err != nil {
		return err
	}
	conn.DelTable(t)
	return conn.Flush()
}

// queueExpr queues to num with the bypass flag (accept, not drop, when
// nobody serves the queue).
func queueExpr(kind string, num uint16) expr.Any {
	if kind == "xt" {
		// struct xt_NFQ_info_v3 {u16 queuenum; u16 queues_total; u16 flags},
		// native endian, padded to XT_ALIGN (8).
		info := make([]byte, 8)
		binary.NativeEndian.PutUint16(info[0:], num)
		binary.NativeEndian.PutUint16(info[2:], 1)
		binary.NativeEndian.PutUint16(info[4:], 1) // NFQ_FLAG_BYPASS
		u := xt.Unknown(info)
		return &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &u}
	}
	return &expr.Queue{Num: num, Flag: expr.QueueFlagBypass}
}
