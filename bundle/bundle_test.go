package bundle

import (
	"errors"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/synq/synq/capture"
	"github.com/synq/synq/host"
)

func TestWriteRead(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	w, err := Create(dir, layers.LinkTypeEthernet, 256)
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, 60)
	for i := range 3 {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(100, int64(i)), CaptureLength: 60, Length: 1500}
		if err := w.WritePacket(ci, frame); err != nil {
			t.Fatal(err)
		}
	}
	before := host.Counters{"TcpExtListenOverflows": 3, "TcpActiveOpens": 10}
	after := host.Counters{"TcpExtListenOverflows": 10, "TcpActiveOpens": 12, "TcpExtNew": 1}
	q := []host.QueueSample{{Time: 5, Listener: netip.MustParseAddrPort("0.0.0.0:8080"), AcceptQueue: 3, AcceptLimit: 2, SynRecv: 1}}
	for _, err := range []error{
		w.WriteNstat(NstatBeforeFile, before), w.WriteNstat(NstatAfterFile, after),
		w.WriteCounters(1, before), w.WriteCounters(2, after),
		w.WriteQueues(q), w.WriteSysctls(map[string]string{"net.core.somaxconn": "4096"}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if IsBundle(dir) {
		t.Errorf("a bundle before its manifest")
	}
	m := Manifest{Interface: "eth0", Ports: []uint16{8080}, Start: Timestamp(1), End: Timestamp(2),
		Ring: capture.RingStats{Received: 3}, QueueRounds: 40}
	if err := w.Close(m); err != nil {
		t.Fatal(err)
	}
	if !IsBundle(dir) {
		t.Fatalf("no bundle after Close")
	}
	b, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b.Before, before) || !reflect.DeepEqual(b.After, after) {
		t.Errorf("snapshots %v %v", b.Before, b.After)
	}
	// As host.SnapshotDeltas reads two snapshots: a counter only in
	// the second was 0 in the first.
	h, err := host.NewHost(b.HostInput())
	if err != nil {
		t.Fatal(err)
	}
	if h.QueueSamples != 40 {
		t.Errorf("host evidence has %d queue samples, want the manifest's 40 rounds", h.QueueSamples)
	}
	if d := h.Deltas; d["TcpExtListenOverflows"] != 7 || d["TcpActiveOpens"] != 2 || d["TcpExtNew"] != 1 {
		t.Errorf("deltas %v, want ListenOverflows 7, ActiveOpens 2, TcpExtNew 1 (absent before: 0)", d)
	}
	if !reflect.DeepEqual(b.Queues, q) {
		t.Errorf("queues %+v", b.Queues)
	}
	if len(b.Counters) != 2 || b.Counters[1].Time != 2 || b.Counters[1].Counters["TcpExtNew"] != 1 {
		t.Errorf("counter samples %+v", b.Counters)
	}
	if b.Sysctls["net.core.somaxconn"] != "4096" {
		t.Errorf("sysctls %v", b.Sysctls)
	}
	if b.Manifest.Interface != "eth0" || b.Manifest.SchemaVersion != SchemaVersion || b.Manifest.Ring.Received != 3 {
		t.Errorf("manifest %+v", b.Manifest)
	}
	rd, err := capture.Open([]string{b.CapturePath}, capture.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var p capture.Packet
	for rd.Next(&p) == nil {
	}
	if s := rd.Summary(); s.Packets != 3 {
		t.Errorf("capture has %d frames, want 3", s.Packets)
	}
	if _, err := Create(dir, layers.LinkTypeEthernet, 256); err == nil {
		t.Errorf("Create over an existing bundle: no error")
	}
}

func TestReadNotBundle(t *testing.T) {
	if _, err := Read(t.TempDir()); !errors.Is(err, ErrNotBundle) {
		t.Errorf("err = %v, want ErrNotBundle", err)
	}
}

func TestParseJSONLines(t *testing.T) {
	got, err := parseJSONLines[host.CounterSample](strings.NewReader("{\"time\":1,\"counters\":{\"A\":2}}\n\n{\"time\":2,\"coun"))
	if err != nil || len(got) != 1 || got[0].Counters["A"] != 2 {
		t.Errorf("cut last line: %+v, %v", got, err)
	}
	if _, err := parseJSONLines[host.CounterSample](strings.NewReader("{bad\n{\"time\":1}\n")); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad middle line: err = %v", err)
	}
}

func TestFormatNstatRoundTrip(t *testing.T) {
	c := host.Counters{"TcpExtListenOverflows": 18446744073709551615, "IpInReceives": 0}
	var b strings.Builder
	FormatNstat(&b, c)
	got, err := host.ParseNstat(strings.NewReader(b.String()))
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Errorf("round trip: %v %v\n%s", got, err, b.String())
	}
}

func TestWritePacketAllocs(t *testing.T) {
	w, err := Create(t.TempDir(), layers.LinkTypeEthernet, 256)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(Manifest{})
	frame := make([]byte, 80)
	ci := gopacket.CaptureInfo{Timestamp: time.Unix(1, 2), CaptureLength: 80, Length: 80}
	if n := testing.AllocsPerRun(1000, func() { _ = w.WritePacket(ci, frame) }); n != 0 {
		t.Errorf("WritePacket allocates %.1f times per packet", n)
	}
}
