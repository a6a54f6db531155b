package faults

import (
	"context"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/internal/testground/netns"
)

// processCPU is this process's user+system CPU time: the sender and, for
// the userspace path, the queue server.
func processCPU() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLossPath compares the two ways to drop 10% of a target's
// packets: the kernel-side nftables numgen rule (registered) and the
// userspace NFQUEUE verdict (not registered). It reports the loss reached
// and the sender's cost per packet; run with -benchtime=5000x.
func BenchmarkLossPath(b *testing.B) {
	for name, h := range map[string]Handler{"nftables": lossFault(), "nfqueue": lossQueueFault()} {
		b.Run(name, func(b *testing.B) {
			n := netns.New(b, []string{"a", "b"})
			ha, hb := n.Host("a"), n.Host("b")
			reg := NewRegistry()
			_ = reg.Register("network/loss", h)
			caps := Detect()
			e, _, err := Open(context.Background(), Options{JournalPath: b.TempDir() + "/j.db", Registry: reg, Capabilities: &caps})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = e.Close(context.Background()) })
			var pc net.PacketConn
			if err := hb.Do(func() (err error) { pc, err = net.ListenPacket("udp4", hb.IP.String()+":0"); return }); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { pc.Close() })
			_ = pc.(*net.UDPConn).SetReadBuffer(8 << 20)
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
			req := &Request{ID: "loss-" + name, Target: Target{Key: "a", NetnsPath: ha.Path()}, Peers: []string{hb.IP.String()},
				Fault: v1alpha1.FaultSpec{Network: &v1alpha1.NetworkFault{Action: v1alpha1.NetworkLoss, Percent: "10"}}, Deadline: time.Now().Add(time.Hour)}
			if _, err := e.Apply(context.Background(), req); err != nil {
				b.Fatal(err)
			}
			c, err := ha.DialContext(context.Background(), "udp4", pc.LocalAddr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			sent := 0
			cpu0 := processCPU()
			for b.Loop() {
				_, _ = c.Write([]byte("probe"))
				sent++
				if sent%50 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-cpu0)/float64(sent), "cpu-ns/pkt")
			recv := <-got
			b.ReportMetric(100*(1-float64(recv)/float64(sent)), "loss-%")
		})
	}
}
