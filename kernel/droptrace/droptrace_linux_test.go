//go:build linux

package droptrace

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/capture"
	"github.com/synq/synq/kernel"
)

// TestLayoutFromThisKernel reads the offsets the program needs from the
// running kernel's BTF: every one found, and the reason enum has the
// names synq's inference has counterparts for.
func TestLayoutFromThisKernel(t *testing.T) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Skipf("no kernel BTF: %v", err)
	}
	lay, err := layoutOf(spec)
	if err != nil {
		t.Fatal(err)
	}
	if lay.reasonArg != 2 {
		t.Errorf("reason is argument %d of kfree_skb, want 2 (skb, location, reason)", lay.reasonArg)
	}
	if lay.head == 0 || lay.networkHeader == 0 || lay.protocol == 0 || lay.devNet == 0 || lay.skNet == 0 || lay.netInum == 0 {
		t.Errorf("an offset is 0: %+v", lay)
	}
	names := map[string]bool{}
	for _, n := range lay.reasons {
		names[n] = true
	}
	for _, want := range []string{analyze.ReasonListenOverflow, analyze.ReasonNetfilter, analyze.ReasonNoSocket, analyze.ReasonTCPChecksum, analyze.ReasonPAWS, "NOT_SPECIFIED"} {
		if !names[want] {
			t.Errorf("this kernel has no drop reason %s", want)
		}
	}
	if len(lay.notDropped) != 2 {
		t.Errorf("not-dropped reasons %v, want SKB_NOT_DROPPED_YET and SKB_CONSUMED", lay.notDropped)
	}
}

// TestProgramPassesTheVerifier loads and attaches the program (root
// only; CI runs as root) and detaches it.
func TestProgramPassesTheVerifier(t *testing.T) {
	w, err := Open([]uint16{8080, 8443})
	if errors.Is(err, kernel.ErrPermission) && os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if errors.Is(err, kernel.ErrUnsupported) {
		t.Skipf("%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if w.Lost() != 0 {
		t.Errorf("lost %d before any drop", w.Lost())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Read(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Read after Close: %v, want os.ErrClosed", err)
	}
}

// TestDecode reads events as the program writes them.
func TestDecode(t *testing.T) {
	w := &Watcher{names: map[uint32]string{40: "TCP_LISTEN_OVERFLOW"}, monoToReal: 1_000}
	ev := func(family byte, dir byte, src, dst []byte) []byte {
		b := make([]byte, eventSize)
		binary.LittleEndian.PutUint32(b[evReason:], 40)
		b[evFamily], b[evDir] = family, dir
		b[evFlags] = byte(capture.FlagACK)
		binary.BigEndian.PutUint16(b[evSport:], 40000)
		binary.BigEndian.PutUint16(b[evDport:], 8080)
		binary.BigEndian.PutUint32(b[evSeq:], 7)
		binary.BigEndian.PutUint32(b[evAck:], 9)
		binary.LittleEndian.PutUint64(b[evTime:], 5)
		copy(b[evSaddr:], src)
		copy(b[evDaddr:], dst)
		return b
	}
	d, ok := w.decode(ev(4, dirIn, []byte{10, 0, 0, 1}, []byte{10, 0, 0, 2}))
	want := kernel.Drop{Time: 1_005, Reason: "TCP_LISTEN_OVERFLOW", Src: netip.MustParseAddrPort("10.0.0.1:40000"),
		Dst: netip.MustParseAddrPort("10.0.0.2:8080"), Seq: 7, Ack: 9, Flags: capture.FlagACK, Inbound: true}
	if !ok || d != want {
		t.Errorf("IPv4: got %+v %v, want %+v", d, ok, want)
	}
	s6, d6 := netip.MustParseAddr("fd00::1").As16(), netip.MustParseAddr("fd00::2").As16()
	d, ok = w.decode(ev(6, dirOut, s6[:], d6[:]))
	if !ok || d.Src.Addr() != netip.MustParseAddr("fd00::1") || d.Dst.Addr() != netip.MustParseAddr("fd00::2") || d.Inbound {
		t.Errorf("IPv6: got %+v %v", d, ok)
	}
	if _, ok := w.decode(make([]byte, 10)); ok {
		t.Error("a short event decoded")
	}
	b := ev(4, dirIn, []byte{10, 0, 0, 1}, []byte{10, 0, 0, 2})
	binary.LittleEndian.PutUint32(b[evReason:], 999)
	if d, _ := w.decode(b); d.Reason != "reason 999" {
		t.Errorf("unknown reason named %q", d.Reason)
	}
}
