package capture

import (
	"errors"
	"time"

	"github.com/synq/synq/capture/filter"
)

// ErrLiveTimeout is returned by Live.Next when no packet arrived within the
// poll timeout: the caller gets a chance to look at its clock and signals.
var ErrLiveTimeout = errors.New("no packet within the poll timeout")

// ErrNeedPrivilege is wrapped by OpenLive's error when the process may not
// open a packet socket.
var ErrNeedPrivilege = errors.New("capturing packets needs root or the CAP_NET_RAW capability")

// LiveSnaplen is the default number of bytes kept of each frame: every
// header synq reads, TCP options included, behind up to two VLAN tags and
// IPv6 extension headers.
const LiveSnaplen = 256

// LiveOptions configures a live capture.
type LiveOptions struct {
	// Interface to capture on; "" or "any" means every interface (frames
	// then start at the IP header).
	Interface string
	// Ports: only TCP segments from or to these ports (any when empty).
	// Filtered in the kernel, and again after decoding.
	Ports []uint16
	// RingBytes sizes the TPACKET_V3 ring (rounded up to whole 1 MiB
	// blocks, at least 2). Default 32 MiB.
	RingBytes int
	// PollTimeout bounds each wait for a packet (default 100 ms); Next
	// returns ErrLiveTimeout after it.
	PollTimeout time.Duration
	// Snaplen is the number of bytes kept of each frame (default
	// LiveSnaplen).
	Snaplen uint32
	// VerifyChecksums sets Decoder.VerifyChecksums (see OpenOptions).
	VerifyChecksums bool
	// Filter, when not nil, keeps only the frames it matches (after the
	// kernel's port filter); the rest count in Summary.Filtered.
	Filter *filter.Filter
}

// RingStats are the capture ring's own counters, from the kernel
// (PACKET_STATISTICS), since the socket was opened.
type RingStats struct {
	Received     uint64 `json:"received"`      // frames that passed the filter
	Dropped      uint64 `json:"dropped"`       // of those, frames lost because the ring was full
	QueueFreezes uint64 `json:"queue_freezes"` // times the ring was frozen full
}
