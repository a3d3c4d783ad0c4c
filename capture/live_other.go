//go:build !linux

package capture

import (
	"errors"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Live is a live capture; only Linux has one.
type Live struct{}

// OpenLive fails: live capture needs Linux AF_PACKET sockets.
func OpenLive(LiveOptions) (*Live, error) {
	return nil, errors.New("live capture needs Linux (AF_PACKET)")
}

func (*Live) Next(*Packet) (Kind, error)            { return 0, ErrLiveTimeout }
func (*Live) Frame() ([]byte, gopacket.CaptureInfo) { return nil, gopacket.CaptureInfo{} }
func (*Live) LinkType() layers.LinkType             { return layers.LinkTypeRaw }
func (*Live) Snaplen() uint32                       { return LiveSnaplen }
func (*Live) RingStats() (RingStats, error)         { return RingStats{}, nil }
func (*Live) Summary() Summary                      { return Summary{} }
func (*Live) Close() error                          { return nil }
