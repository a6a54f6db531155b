package nfqueue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// The raw path serves a queue from one caller-owned OS thread with plain
// system calls: waiting (ppoll), reading (recvfrom) and sending verdicts
// (sendto) never pass through the Go scheduler or netpoller. A delay fault
// needs that: a verdict that is due must go out when it is due even when
// the machine is busy, and the thread can be given a real-time priority.
// Do not mix it with Receive on the same Queue.

// fd returns the socket's descriptor; valid until Close.
func (q *Queue) fd() (int, error) {
	rc, err := q.c.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return -1, err
	}
	return fd, nil
}

// Wait blocks until the queue has packets, wakeFd is readable, or timeout
// passes (negative: no timeout). It reports which descriptors are ready.
func (q *Queue) Wait(wakeFd int, timeout time.Duration) (packets, woken bool, err error) {
	fd, err := q.fd()
	if err != nil {
		return false, false, err
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(wakeFd), Events: unix.POLLIN}}
	var ts *unix.Timespec
	if timeout >= 0 {
		t := unix.NsecToTimespec(timeout.Nanoseconds())
		ts = &t
	}
	if _, err := unix.Ppoll(fds, ts, nil); err != nil && !errors.Is(err, unix.EINTR) {
		return false, false, fmt.Errorf("nfqueue: ppoll: %w", err)
	}
	return fds[0].Revents&unix.POLLIN != 0, fds[1].Revents&unix.POLLIN != 0, nil
}

// ReadRaw reads what one recvfrom returns without blocking; no packets
// pending is (nil, nil).
func (q *Queue) ReadRaw(buf []byte) ([]Packet, error) {
	fd, err := q.fd()
	if err != nil {
		return nil, err
	}
	n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
	switch {
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR), errors.Is(err, unix.ENOBUFS):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("nfqueue: recvfrom: %w", err)
	}
	now := time.Now()
	var pkts []Packet
	// Netlink messages, each nlmsghdr then data, 4-byte aligned; the last
	// one may lack its padding (why syscall.ParseNetlinkMessage won't do).
	for b := buf[:n]; len(b) >= 16; {
		l := int(binary.NativeEndian.Uint32(b))
		if l < 16 || l > len(b) {
			return pkts, fmt.Errorf("nfqueue: malformed netlink message (length %d of %d)", l, len(b))
		}
		typ, data := binary.NativeEndian.Uint16(b[4:]), b[16:l]
		b = b[min(len(b), (l+3)&^3):]
		if typ != subsysQueue<<8|msgPacket || len(data) < 4 {
			continue
		}
		p, err := parsePacket(data[4:])
		if err != nil {
			return pkts, err
		}
		p.Received = now
		pkts = append(pkts, p)
	}
	return pkts, nil
}

// VerdictRaw sends a verdict with one sendto.
func (q *Queue) VerdictRaw(id, verdict uint32) error {
	fd, err := q.fd()
	if err != nil {
		return err
	}
	// nlmsghdr (16) + nfgenmsg (4) + nlattr (4) + nfqnl_msg_verdict_hdr (8)
	const size = 16 + 4 + 4 + 8
	b := make([]byte, size)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], size)
	ne.PutUint16(b[4:], subsysQueue<<8|msgVerdict)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST)
	b[16] = unix.AF_UNSPEC
	b[17] = unix.NFNETLINK_V0
	binary.BigEndian.PutUint16(b[18:], q.num)
	ne.PutUint16(b[20:], 4+8)
	ne.PutUint16(b[22:], attrVerdictHdr)
	binary.BigEndian.PutUint32(b[24:], verdict)
	binary.BigEndian.PutUint32(b[28:], id)
	for {
		// A signal (the Go runtime preempting the thread) may interrupt the
		// call; the verdict must still reach the kernel, or the packet
		// stays queued.
		err := unix.Sendto(fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("nfqueue: verdict: %w", err)
		}
		return nil
	}
}
