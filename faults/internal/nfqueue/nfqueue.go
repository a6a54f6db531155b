// Package nfqueue is a small nfnetlink_queue client on top of
// github.com/mdlayher/netlink: bind a queue in a network namespace in
// copy-packet mode, receive the packets the kernel queues to it, and send
// each one's verdict. It holds no policy; faults decides what to do with a
// packet and when.
//
// Protocol reference: include/uapi/linux/netfilter/nfnetlink_queue.h.
package nfqueue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// nfnetlink message types and attributes (nfnetlink_queue.h).
const (
	subsysQueue = 3 // NFNL_SUBSYS_QUEUE

	msgPacket  = 0 // NFQNL_MSG_PACKET
	msgVerdict = 1 // NFQNL_MSG_VERDICT
	msgConfig  = 2 // NFQNL_MSG_CONFIG

	attrCfgCmd     = 1 // NFQA_CFG_CMD
	attrCfgParams  = 2 // NFQA_CFG_PARAMS
	attrCfgMaxLen  = 3 // NFQA_CFG_QUEUE_MAXLEN
	attrCfgMask    = 4 // NFQA_CFG_MASK
	attrCfgFlags   = 5 // NFQA_CFG_FLAGS
	attrPacketHdr  = 1 // NFQA_PACKET_HDR
	attrVerdictHdr = 2 // NFQA_VERDICT_HDR
	attrPayload    = 10

	cmdBind   = 1 // NFQNL_CFG_CMD_BIND
	cmdUnbind = 2 // NFQNL_CFG_CMD_UNBIND

	copyPacket = 2 // NFQNL_COPY_PACKET

	flagFailOpen = 1 // NFQA_CFG_F_FAIL_OPEN
)

// Verdicts.
const (
	Drop   uint32 = 0 // NF_DROP
	Accept uint32 = 1 // NF_ACCEPT
)

// Packet is one queued packet.
type Packet struct {
	ID       uint32
	HWProto  uint16
	Hook     uint8
	Payload  []byte // the first CopyRange bytes
	Received time.Time
}

// Options tune a queue.
type Options struct {
	// CopyRange is how many bytes of each packet are copied to userspace;
	// 0 means 128 (headers are enough: the verdict keeps the packet).
	CopyRange uint32
	// MaxLen is the kernel-side queue length; 0 means 16384.
	MaxLen uint32
	// FailOpen accepts packets instead of dropping them when the queue is
	// full.
	FailOpen bool
}

// Queue is one bound queue.
type Queue struct {
	c   *netlink.Conn
	num uint16
}

// Open binds queue num in the network namespace netnsFd (-1 or 0: the
// caller's) in copy-packet mode. Only one socket may bind a queue number in
// a namespace; a second bind fails with EBUSY.
func Open(netnsFd int, num uint16, o Options) (*Queue, error) {
	cfg := &netlink.Config{}
	if netnsFd > 0 {
		cfg.NetNS = netnsFd
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, cfg)
	if err != nil {
		return nil, fmt.Errorf("nfqueue: dial: %w", err)
	}
	q := &Queue{c: c, num: num}
	if o.CopyRange == 0 {
		o.CopyRange = 128
	}
	if o.MaxLen == 0 {
		o.MaxLen = 16384
	}
	// Don't fail Receive with ENOBUFS on a burst; the kernel queue has its
	// own limit and fail-open.
	_ = c.SetOption(netlink.NoENOBUFS, true)
	_ = c.SetReadBuffer(8 << 20)

	if err := q.config(cmd(cmdBind)); err != nil {
		return nil, errors.Join(fmt.Errorf("nfqueue: bind queue %d: %w", num, err), c.Close())
	}
	params := make([]byte, 5)
	binary.BigEndian.PutUint32(params, o.CopyRange)
	params[4] = copyPacket
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	ae.Bytes(attrCfgParams, params)
	ae.Uint32(attrCfgMaxLen, o.MaxLen)
	if o.FailOpen {
		ae.Uint32(attrCfgFlags, flagFailOpen)
		ae.Uint32(attrCfgMask, flagFailOpen)
	}
	attrs, err := ae.Encode()
	if err == nil {
		err = q.send(msgConfig, attrs, true)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("nfqueue: configure queue %d: %w", num, err), q.Close())
	}
	return q, nil
}

// cmd encodes NFQA_CFG_CMD: struct nfqnl_msg_config_cmd {u8 command; u8 pad; be16 pf}.
func cmd(c uint8) []byte { return []byte{c, 0, 0, 0} }

func (q *Queue) config(cmdBytes []byte) error {
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(attrCfgCmd, cmdBytes)
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	return q.send(msgConfig, attrs, true)
}

// send sends one nfnetlink message to this queue: nfgenmsg (family
// AF_UNSPEC, version 0, res_id = queue number, big endian) then attrs.
func (q *Queue) send(msgType uint16, attrs []byte, ack bool) error {
	data := make([]byte, 4, 4+len(attrs))
	data[0] = unix.AF_UNSPEC
	data[1] = unix.NFNETLINK_V0
	binary.BigEndian.PutUint16(data[2:], q.num)
	data = append(data, attrs...)
	m := netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysQueue<<8 | msgType), Flags: netlink.Request},
		Data:   data,
	}
	if !ack {
		_, err := q.c.Send(m)
		return err
	}
	m.Header.Flags |= netlink.Acknowledge
	_, err := q.c.Execute(m)
	return err
}

// Verdict tells the kernel what to do with packet id. Safe to call from
// any goroutine, also while Receive blocks.
func (q *Queue) Verdict(id, verdict uint32) error {
	hdr := make([]byte, 8)
	binary.BigEndian.PutUint32(hdr, verdict)
	binary.BigEndian.PutUint32(hdr[4:], id)
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(attrVerdictHdr, hdr)
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	return q.send(msgVerdict, attrs, false)
}

// Receive blocks until the kernel queues packets and returns them. It
// fails once the queue is closed.
func (q *Queue) Receive() ([]Packet, error) {
	msgs, err := q.c.Receive()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	pkts := make([]Packet, 0, len(msgs))
	for _, m := range msgs {
		if m.Header.Type != netlink.HeaderType(subsysQueue<<8|msgPacket) || len(m.Data) < 4 {
			continue
		}
		p, err := parsePacket(m.Data[4:])
		if err != nil {
			return pkts, err
		}
		p.Received = now
		pkts = append(pkts, p)
	}
	return pkts, nil
}

func parsePacket(b []byte) (Packet, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return Packet{}, fmt.Errorf("nfqueue: packet attributes: %w", err)
	}
	var p Packet
	seen := false
	for ad.Next() {
		switch ad.Type() {
		case attrPacketHdr:
			v := ad.Bytes()
			if len(v) >= 7 {
				p.ID = binary.BigEndian.Uint32(v)
				p.HWProto = binary.BigEndian.Uint16(v[4:])
				p.Hook = v[6]
				seen = true
			}
		case attrPayload:
			p.Payload = ad.Bytes()
		}
	}
	if err := ad.Err(); err != nil {
		return Packet{}, fmt.Errorf("nfqueue: packet attributes: %w", err)
	}
	if !seen {
		return Packet{}, errors.New("nfqueue: packet without header")
	}
	return p, nil
}

// Close closes the socket, which also unbinds the queue: the kernel
// destroys a queue instance when its socket goes away. (An explicit unbind
// message would need Execute, which waits for a concurrent Receive.)
// Packets still queued in the kernel are dropped by it, so release held
// packets first.
func (q *Queue) Close() error {
	return q.c.Close()
}
