package netns

// A UDP echo on one host and a round-trip prober on another: the measuring
// instrument the fault and daemon tests share.

import (
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The round-trip prober is a measuring instrument: its own wake-ups must
// not add to what it measures when the machine is busy (CI runs many test
// packages at once). Server and client therefore run on locked threads at
// real-time priority with blocking system calls, the way ping does, instead
// of through Go's netpoller.

func realtime() func() {
	attr := &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 5}
	if unix.SchedSetAttr(0, attr, 0) != nil {
		return func() {}
	}
	return func() {
		_ = unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL}, 0)
	}
}

func udpSocket(ip net.IP) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	sa := &unix.SockaddrInet4{}
	copy(sa.Addr[:], ip.To4())
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// RTEcho serves UDP echo on h until the test ends and returns its address.
func RTEcho(t testing.TB, h *Host) *unix.SockaddrInet4 {
	t.Helper()
	var stop atomic.Bool
	ready := make(chan *unix.SockaddrInet4, 1)
	done := make(chan error, 1)
	go func() {
		done <- h.Do(func() error {
			defer realtime()()
			fd, err := udpSocket(h.IP)
			if err != nil {
				ready <- nil
				return err
			}
			defer unix.Close(fd)
			sa, _ := unix.Getsockname(fd)
			ready <- sa.(*unix.SockaddrInet4)
			buf := make([]byte, 256)
			for !stop.Load() {
				n, from, err := recvfrom(fd, buf)
				if err == nil {
					_ = sendto(fd, buf[:n], from)
				}
			}
			return nil
		})
	}()
	addr := <-ready
	t.Cleanup(func() {
		stop.Store(true)
		if err := <-done; err != nil {
			t.Errorf("echo server: %v", err)
		}
	})
	if addr == nil {
		t.Fatal("echo server did not start")
	}
	return addr
}

// MedianRTT sends n probes from h to an echo server, one at a time, and
// returns the median round trip.
func MedianRTT(t testing.TB, h *Host, to *unix.SockaddrInet4, n int) time.Duration {
	t.Helper()
	var rtts []time.Duration
	err := h.Do(func() error {
		defer realtime()()
		fd, err := udpSocket(h.IP)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		tv := unix.NsecToTimeval((2 * time.Second).Nanoseconds())
		_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		buf := make([]byte, 256)
		for i := range n {
			start := time.Now()
			if err := sendto(fd, []byte{byte(i)}, to); err != nil {
				return err
			}
			for {
				m, _, err := recvfrom(fd, buf)
				if err != nil {
					return err
				}
				if m == 1 && buf[0] == byte(i) {
					break
				}
			}
			rtts = append(rtts, time.Since(start))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("probe from %s: %v", h, err)
	}
	slices.Sort(rtts)
	return rtts[len(rtts)/2]
}

// sendto and recvfrom retry a call a signal interrupted: these are raw
// blocking socket calls, and the Go runtime signals its threads (to
// preempt goroutines) while they wait.
func sendto(fd int, p []byte, to unix.Sockaddr) error {
	for {
		if err := unix.Sendto(fd, p, 0, to); err != unix.EINTR {
			return err
		}
	}
}

func recvfrom(fd int, p []byte) (int, unix.Sockaddr, error) {
	for {
		n, from, err := unix.Recvfrom(fd, p, 0)
		if err != unix.EINTR {
			return n, from, err
		}
	}
}
