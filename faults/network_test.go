package faults_test

import (
	"context"
	"io"
	"math"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/internal/testground"
	"github.com/faultline-dev/faultline/internal/testground/netns"
)

func TestDelayAddsLatency(t *testing.T) {
	n := netns.New(t, []string{"a", "b"})
	a, b := n.Host("a"), n.Host("b")
	e := openEngine(t)
	echo := netns.RTEcho(t, b)

	base := netns.MedianRTT(t, a, echo, 20)
	st, err := e.Apply(t.Context(), netReq("delay", a, v1alpha1.NetworkFault{
		Action: v1alpha1.NetworkDelay, Latency: dur(100 * time.Millisecond),
	}, b.IP))
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	wantPath := "nfqueue"
	if e.Capabilities().Netem {
		wantPath = "netem"
	}
	if st.Path != wantPath {
		t.Errorf("path = %q, want %q (capabilities %s)", st.Path, wantPath, e.Capabilities())
	}
	withDelay := netns.MedianRTT(t, a, echo, 20)
	t.Logf("median RTT %v without, %v with the delay", base, withDelay)
	if inc := withDelay - base; inc < 95*time.Millisecond || inc > 105*time.Millisecond {
		t.Errorf("RTT went from %v to %v: increase %v, want 100ms ± 5ms", base, withDelay, inc)
	}
	if !testground.Eventually(3*time.Second, func() bool {
		s, _ := e.Status("delay")
		d, ok := measured(s, faults.MeasuredDelaySeconds)
		return ok && math.Abs(d-0.1) < 0.005
	}) {
		s, _ := e.Status("delay")
		t.Errorf("measured delay never reached 100ms ± 5ms: %+v", s.Measured)
	}
	// Apply again with the same spec: idempotent, still one table.
	if _, err := e.Apply(t.Context(), netReq("delay", a, v1alpha1.NetworkFault{
		Action: v1alpha1.NetworkDelay, Latency: dur(100 * time.Millisecond),
	}, b.IP)); err != nil {
		t.Fatalf("apply again: %v", err)
	}
	if c := strings.Count(nftRuleset(t, a.NsName), "\ntable inet "+faults.TablePrefix); c != 1 {
		t.Errorf("%d tables after applying twice, want 1:\n%s", c, nftRuleset(t, a.NsName))
	}
	if err := e.Recover(t.Context(), "delay", "test"); err != nil {
		t.Fatalf("recover: %v", err)
	}
	if after := netns.MedianRTT(t, a, echo, 20); after > base+10*time.Millisecond {
		t.Errorf("RTT after recovery %v, before %v", after, base)
	}
	assertNothingOurs(t, a.NsName, b.NsName)
}

func TestLossDropsShare(t *testing.T) {
	n := netns.New(t, []string{"a", "b"})
	a, b := n.Host("a"), n.Host("b")
	e := openEngine(t)

	var pc net.PacketConn
	if err := b.Do(func() (err error) { pc, err = net.ListenPacket("udp4", b.IP.String()+":0"); return }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	// A buffer that holds every probe (SO_RCVBUFFORCE: root may pass
	// rmem_max), so a receiver starved by a busy machine drops nothing and
	// every probe missing was dropped by the fault.
	forceReadBuffer(t, pc.(*net.UDPConn), 16<<20)
	got := make(chan int, 1)
	go func() {
		buf := make([]byte, 64)
		count := 0
		for {
			_ = pc.SetReadDeadline(time.Now().Add(time.Second))
			if _, _, err := pc.ReadFrom(buf); err != nil {
				got <- count
				return
			}
			count++
		}
	}()

	st, err := e.Apply(t.Context(), netReq("loss", a, v1alpha1.NetworkFault{Action: v1alpha1.NetworkLoss, Percent: "10"}, b.IP))
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if st.Path != "nftables" {
		t.Errorf("path = %q, want nftables", st.Path)
	}
	c, err := a.DialContext(t.Context(), "udp4", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const probes = 5000
	for i := range probes {
		if _, err := c.Write([]byte("probe")); err != nil {
			t.Fatalf("probe %d: send error %v (loss must be silent, as on a real network)", i, err)
		}
		if i%50 == 49 {
			time.Sleep(time.Millisecond) // stay below the receiver's buffer
		}
	}
	received := <-got
	loss := 1 - float64(received)/probes
	t.Logf("received %d of %d: loss %.2f%%", received, probes, 100*loss)
	if loss < 0.08 || loss > 0.12 {
		t.Errorf("loss %.2f%%, want 10 ± 2%%", 100*loss)
	}
	if !testground.Eventually(3*time.Second, func() bool {
		s, _ := e.Status("loss")
		r, ok := measured(s, faults.MeasuredLossRatio)
		return ok && math.Abs(r-loss) < 0.005
	}) {
		s, _ := e.Status("loss")
		t.Errorf("measured loss ratio does not match %.4f: %+v", loss, s.Measured)
	}
	if err := e.Recover(t.Context(), "loss", "test"); err != nil {
		t.Fatalf("recover: %v", err)
	}
	assertNothingOurs(t, a.NsName, b.NsName)
}

func forceReadBuffer(t *testing.T, c *net.UDPConn, bytes int) {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, bytes)
	}); err != nil || serr != nil {
		t.Fatalf("SO_RCVBUFFORCE: %v %v", err, serr)
	}
}

func TestPartitionCutsTCP(t *testing.T) {
	n := netns.New(t, []string{"a", "b"})
	a, b := n.Host("a"), n.Host("b")
	e := openEngine(t)
	ln, err := b.Listen("tcp4", b.IP.String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	dial := func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		c, err := a.DialContext(ctx, "tcp4", ln.Addr().String())
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(); err != nil {
		t.Fatalf("connect before partition: %v", err)
	}
	if _, err := e.Apply(t.Context(), netReq("part", a, v1alpha1.NetworkFault{
		Action: v1alpha1.NetworkPartition, Direction: v1alpha1.DirectionBoth,
	}, b.IP)); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if err := dial(); err == nil {
		t.Fatal("connect succeeded during partition")
	}
	if err := e.Recover(t.Context(), "part", "test"); err != nil {
		t.Fatalf("recover: %v", err)
	}
	if err := dial(); err != nil {
		t.Fatalf("connect after recover: %v", err)
	}
	assertNothingOurs(t, a.NsName, b.NsName)
}

func TestPartitionByPortLeavesOtherPorts(t *testing.T) {
	n := netns.New(t, []string{"a", "b"})
	a, b := n.Host("a"), n.Host("b")
	e := openEngine(t)
	var lns []net.Listener
	for range 2 {
		ln, err := b.Listen("tcp4", b.IP.String()+":0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		lns = append(lns, ln)
	}
	port := int32(lns[0].Addr().(*net.TCPAddr).Port)
	if _, err := e.Apply(t.Context(), netReq("port", a, v1alpha1.NetworkFault{
		Action: v1alpha1.NetworkPartition, Ports: []int32{port},
	}, b.IP)); err != nil {
		t.Fatalf("apply: %v", err)
	}
	for i, ln := range lns {
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		c, err := a.DialContext(ctx, "tcp4", ln.Addr().String())
		cancel()
		if err == nil {
			c.Close()
		}
		if cut := err != nil; cut != (i == 0) {
			t.Errorf("port %s: connect error %v, want cut only for port %d", ln.Addr(), err, port)
		}
	}
}

func TestBandwidthLimitsThroughput(t *testing.T) {
	n := netns.New(t, []string{"a", "b"})
	a, b := n.Host("a"), n.Host("b")
	e := openEngine(t)
	ln, err := b.Listen("tcp4", b.IP.String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	st, err := e.Apply(t.Context(), netReq("bw", a, v1alpha1.NetworkFault{
		Action: v1alpha1.NetworkBandwidth, Bandwidth: &v1alpha1.BandwidthSpec{Rate: "1mbit"},
	}))
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if st.Path != "tbf" {
		t.Errorf("path = %q, want tbf", st.Path)
	}
	rate := make(chan float64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			rate <- 0
			return
		}
		defer c.Close()
		// Skip the first half second (the bucket's burst), then measure 3s.
		_, _ = io.CopyN(io.Discard, c, 1)
		time.Sleep(500 * time.Millisecond)
		_, _ = io.Copy(io.Discard, &timedReader{c, time.Now().Add(10 * time.Millisecond)})
		start := time.Now()
		nb, _ := io.Copy(io.Discard, &timedReader{c, start.Add(3 * time.Second)})
		rate <- float64(nb) / time.Since(start).Seconds()
	}()
	c, err := a.DialContext(t.Context(), "tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	r := <-rate
	c.Close()
	const want = 1e6 / 8
	t.Logf("throughput %.0f B/s (limit %.0f B/s)", r, want)
	if math.Abs(r-want)/want > 0.15 {
		t.Errorf("throughput %.0f B/s, want %.0f ± 15%%", r, want)
	}
	s, _ := e.Status("bw")
	t.Logf("measured: %+v", s.Measured)
	if err := e.Recover(t.Context(), "bw", "test"); err != nil {
		t.Fatalf("recover: %v", err)
	}
	assertNothingOurs(t, a.NsName, b.NsName)
}

// timedReader reads until a point in time, then reports EOF.
type timedReader struct {
	c     net.Conn
	until time.Time
}

func (r *timedReader) Read(p []byte) (int, error) {
	_ = r.c.SetReadDeadline(r.until)
	n, err := r.c.Read(p)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return n, io.EOF
	}
	return n, err
}

func TestDeadlineRecoversWithinASecond(t *testing.T) {
	n := netns.New(t, []string{"a", "b"})
	a, b := n.Host("a"), n.Host("b")
	e := openEngine(t)
	req := netReq("deadline", a, v1alpha1.NetworkFault{Action: v1alpha1.NetworkPartition}, b.IP)
	req.Deadline = time.Now().Add(1500 * time.Millisecond)
	if _, err := e.Apply(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(nftRuleset(t, a.NsName), faults.TablePrefix) {
		t.Fatal("no table after apply")
	}
	if !testground.Eventually(5*time.Second, func() bool {
		return !strings.Contains(nftRuleset(t, a.NsName), faults.TablePrefix)
	}) {
		t.Fatal("fault not recovered after its deadline")
	}
	late := time.Since(req.Deadline)
	t.Logf("recovered %v after the deadline", late)
	if late > time.Second {
		t.Errorf("recovered %v after the deadline, want within 1s", late)
	}
	if _, ok := e.Status("deadline"); ok {
		t.Error("engine still reports the fault active")
	}
}

func TestDelayJitterAndInboundDirection(t *testing.T) {
	n := netns.New(t, []string{"a", "b"})
	a, b := n.Host("a"), n.Host("b")
	e := openEngine(t)
	echo := netns.RTEcho(t, b)
	base := netns.MedianRTT(t, a, echo, 10)

	// Inbound: the target is a, and only what a receives is delayed.
	if _, err := e.Apply(t.Context(), netReq("in", a, v1alpha1.NetworkFault{
		Action: v1alpha1.NetworkDelay, Latency: dur(60 * time.Millisecond), Direction: v1alpha1.DirectionFrom,
	}, b.IP)); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if inc := netns.MedianRTT(t, a, echo, 10) - base; inc < 55*time.Millisecond || inc > 65*time.Millisecond {
		t.Errorf("inbound 60ms delay: RTT increase %v", inc)
	}
	if !strings.Contains(nftRuleset(t, a.NsName), "hook input") || strings.Contains(nftRuleset(t, a.NsName), "hook output") {
		t.Errorf("inbound delay should hook input only:\n%s", nftRuleset(t, a.NsName))
	}
	if err := e.Recover(t.Context(), "in", "test"); err != nil {
		t.Fatal(err)
	}

	// Jitter: 50ms ± 20ms spreads round trips over most of 30–70ms.
	if _, err := e.Apply(t.Context(), netReq("jitter", a, v1alpha1.NetworkFault{
		Action: v1alpha1.NetworkDelay, Latency: dur(50 * time.Millisecond), Jitter: dur(20 * time.Millisecond),
	}, b.IP)); err != nil {
		t.Fatalf("apply: %v", err)
	}
	var rtts []time.Duration
	for range 40 {
		rtts = append(rtts, netns.MedianRTT(t, a, echo, 1)-base)
	}
	// The 5th and 95th percentiles: one round trip delayed by a busy
	// machine says nothing about the fault.
	slices.Sort(rtts)
	lo, hi := rtts[len(rtts)/20], rtts[len(rtts)-1-len(rtts)/20]
	t.Logf("jitter: added delay from %v to %v (5th to 95th percentile; all from %v to %v)", lo, hi, rtts[0], rtts[len(rtts)-1])
	if lo < 29*time.Millisecond || hi > 72*time.Millisecond || hi-lo < 20*time.Millisecond {
		t.Errorf("50ms ± 20ms gave added delays from %v to %v", lo, hi)
	}
	if err := e.Recover(t.Context(), "jitter", "test"); err != nil {
		t.Fatal(err)
	}
	assertNothingOurs(t, a.NsName, b.NsName)
}

// A delay naming a device leaves the host's other interfaces alone, also on
// the NFQUEUE path (whose nftables rules would otherwise catch every
// interface but loopback), and a device the host lacks is refused by name.
func TestDelayOnNamedDeviceOnly(t *testing.T) {
	n := netns.New(t, []string{"a", "b"})
	a, b := n.Host("a"), n.Host("b")
	e := openEngine(t)
	echo := netns.RTEcho(t, b)
	if err := a.Do(func() error {
		// A veth pair kept inside the namespace: this kernel has no dummy.
		return netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "fltdummy0"}, PeerName: "fltdummy1"})
	}); err != nil {
		t.Fatalf("adding a second interface: %v", err)
	}
	base := netns.MedianRTT(t, a, echo, 10)

	if _, err := e.Apply(t.Context(), netReq("nodev", a, v1alpha1.NetworkFault{
		Action: v1alpha1.NetworkDelay, Latency: dur(100 * time.Millisecond), Device: "nosuch0",
	})); err == nil || !strings.Contains(err.Error(), "spec.fault.network.device") {
		t.Errorf("delay on a missing device: error %v, want one naming spec.fault.network.device", err)
	}
	if _, err := e.Apply(t.Context(), netReq("other", a, v1alpha1.NetworkFault{
		Action: v1alpha1.NetworkDelay, Latency: dur(100 * time.Millisecond), Device: "fltdummy0",
	})); err != nil {
		t.Fatalf("apply on fltdummy0: %v", err)
	}
	if rtt := netns.MedianRTT(t, a, echo, 10); rtt > base+10*time.Millisecond {
		t.Errorf("delay on fltdummy0 slowed %s: RTT %v, before %v", a.Iface, rtt, base)
	}
	if err := e.Recover(t.Context(), "other", "test"); err != nil {
		t.Fatalf("recover: %v", err)
	}
	if _, err := e.Apply(t.Context(), netReq("this", a, v1alpha1.NetworkFault{
		Action: v1alpha1.NetworkDelay, Latency: dur(100 * time.Millisecond), Device: a.Iface,
	})); err != nil {
		t.Fatalf("apply on %s: %v", a.Iface, err)
	}
	if inc := netns.MedianRTT(t, a, echo, 10) - base; inc < 95*time.Millisecond || inc > 105*time.Millisecond {
		t.Errorf("delay on %s: RTT increase %v, want 100ms ± 5ms", a.Iface, inc)
	}
	if err := e.Recover(t.Context(), "this", "test"); err != nil {
		t.Fatalf("recover: %v", err)
	}
	assertNothingOurs(t, a.NsName, b.NsName)
}
