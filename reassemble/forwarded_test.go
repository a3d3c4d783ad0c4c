package reassemble

import (
	"net/netip"
	"testing"
	"time"

	"github.com/synq/synq/capture"
)

// TestKeptSYNsFindTheTranslatedCopy: a SYN left out by the filters is
// kept when it is a kept SYN again (same ISN, and the same timestamp or,
// without timestamps, the same client port) within keptSYNWindow, and
// then so is everything to or from its listener; anything less alike is
// not.
func TestKeptSYNsFindTheTranslatedCopy(t *testing.T) {
	front := netip.MustParseAddrPort("10.0.0.2:30080")
	back := netip.MustParseAddrPort("10.1.0.2:8080")
	client := netip.MustParseAddrPort("10.0.0.1:40000")
	node := netip.MustParseAddrPort("10.1.0.1:51234")
	syn := func(src, dst netip.AddrPort, at time.Duration, isn uint32, ts bool) *capture.Packet {
		return &capture.Packet{Time: int64(time.Hour + at), Src: src, Dst: dst, Flags: capture.FlagSYN, Seq: isn,
			Opts: capture.TCPOptions{HasTS: ts, TSval: 777}}
	}
	tests := []struct {
		name string
		copy *capture.Packet
		want bool
	}{
		{"DNAT", syn(client, back, 30*time.Microsecond, 99, true), true},
		{"masquerade", syn(node, back, 30*time.Microsecond, 99, true), true},
		{"no timestamps, same port", syn(client, back, 30*time.Microsecond, 99, false), false}, // the kept one had them
		{"another ISN", syn(client, back, 30*time.Microsecond, 98, true), false},
		{"before the kept one", syn(client, back, -time.Millisecond, 99, true), false},
		{"too late", syn(client, back, 4*time.Second, 99, true), false},
		{"a retransmission 1 s later", syn(client, back, time.Second, 99, true), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var k keptSYNs
			k.note(syn(client, front, 0, 99, true))
			if got := k.forwarded(tt.copy); got != tt.want {
				t.Fatalf("forwarded = %v, want %v", got, tt.want)
			}
			synack := &capture.Packet{Time: tt.copy.Time + 1000, Src: back, Dst: tt.copy.Src, Flags: capture.FlagSYN | capture.FlagACK}
			if got := k.forwarded(synack); got != tt.want {
				t.Errorf("its SYN-ACK: forwarded = %v, want %v", got, tt.want)
			}
		})
	}
	// Without timestamps on either, the client port decides.
	var k keptSYNs
	k.note(syn(client, front, 0, 5, false))
	if k.forwarded(syn(node, back, time.Millisecond, 5, false)) {
		t.Error("no timestamps, another client port: kept")
	}
	if !k.forwarded(syn(client, back, time.Millisecond, 5, false)) {
		t.Error("no timestamps, the same client port: not kept")
	}
}
