package analyze

import (
	"testing"
	"time"

	"github.com/synq/synq/capture"
	"github.com/synq/synq/reassemble"
)

const ms = int64(time.Millisecond)

func TestCookieSign(t *testing.T) {
	end := int64(100 * time.Second)
	withTS := func(synackTS, afterTS uint32, afterMS int64) reassemble.Attempt {
		return reassemble.Attempt{Handshake: reassemble.Handshake{
			SYNs: 1, SYNACKs: 1, FirstSYNACK: 10 * ms, LastSYNACK: 10 * ms, ClientAcked: true, ServerAccepted: true,
			SYNACKOpts:    capture.TCPOptions{HasTS: true, TSval: synackTS},
			ServerTSAfter: afterTS, ServerTSAfterTime: (10 + afterMS) * ms, HasServerTSAfter: true,
			End: reassemble.EndClosed,
		}}
	}
	tests := []struct {
		name string
		a    reassemble.Attempt
		want cookieSign
	}{
		// Lags measured on testdata/syncookies-flood: 63, 35 and 8 ticks.
		{"timestamp 63 ticks behind", withTS(3627484800, 3627484863, 0), cookieTSLag},
		{"timestamp 8 ticks behind", withTS(3000135371, 3000135379, 0), cookieTSLag},
		{"normal: clock moved with time", withTS(1000, 1250, 250), notCookie},
		{"normal: one tick of rounding", withTS(1000, 1251, 250), notCookie},
		{"wrapping timestamps", withTS(4294967290, 30, 0), cookieTSLag},
		{"retransmitted SYN-ACK is never a cookie", func() reassemble.Attempt {
			a := withTS(1000, 1050, 0)
			a.SYNACKRetransmits = 1
			return a
		}(), notCookie},
		{"options stripped for a client without timestamps", reassemble.Attempt{Handshake: reassemble.Handshake{
			SYNs: 1, SYNACKs: 1, ClientAcked: true, ServerAccepted: true, End: reassemble.EndClosed,
			SYNOpts:    capture.TCPOptions{HasMSS: true, MSS: 1460, HasWScale: true, WScale: 7, SACKPerm: true},
			SYNACKOpts: capture.TCPOptions{HasMSS: true, MSS: 1460},
		}}, cookieStripped},
		{"normal SYN-ACK keeps options", reassemble.Attempt{Handshake: reassemble.Handshake{
			SYNs: 1, SYNACKs: 1, ClientAcked: true, ServerAccepted: true, End: reassemble.EndClosed,
			SYNOpts:    capture.TCPOptions{HasMSS: true, HasWScale: true, SACKPerm: true},
			SYNACKOpts: capture.TCPOptions{HasMSS: true, HasWScale: true, SACKPerm: true},
		}}, notCookie},
		{"never acknowledged, never retransmitted", reassemble.Attempt{Handshake: reassemble.Handshake{
			SYNs: 1, SYNACKs: 1, FirstSYNACK: 10 * ms, LastSYNACK: 10 * ms, End: reassemble.EndIdle,
		}}, cookieNeverRetransmitted},
		{"unacknowledged but the capture ended too soon to tell", reassemble.Attempt{Handshake: reassemble.Handshake{
			SYNs: 1, SYNACKs: 1, FirstSYNACK: end - 500*ms, LastSYNACK: end - 500*ms, End: reassemble.EndCaptureEnd,
		}}, notCookie},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cookieSignOf(&tt.a, end); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVantage(t *testing.T) {
	hist := func(d time.Duration) *histogram {
		h := &histogram{}
		for i := 0; i < 5; i++ {
			h.add(d)
		}
		return h
	}
	tests := []struct {
		name     string
		syn, ack time.Duration
		want     Vantage
	}{
		{"server: SYN-ACK at once, ACK a round trip later", 20 * time.Microsecond, 40 * time.Millisecond, VantageServer},
		{"client: SYN-ACK a round trip later, ACK at once", 40 * time.Millisecond, 30 * time.Microsecond, VantageClient},
		{"middle: both take time", 15 * time.Millisecond, 25 * time.Millisecond, VantageMiddle},
		{"no path delay: same host", 20 * time.Microsecond, 20 * time.Microsecond, VantageUnknown},
	}
	for _, tt := range tests {
		if got, _, _ := vantageOf(hist(tt.syn), hist(tt.ack)); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
	if got, _, _ := vantageOf(&histogram{}, &histogram{}); got != VantageUnknown {
		t.Errorf("no handshakes: got %s, want unknown", got)
	}
}

func TestOccupancy(t *testing.T) {
	var o occupancy
	o.add(10*ms, 50*ms)
	o.add(20*ms, 30*ms)
	o.add(25*ms, 0) // never leaves
	for _, tc := range []struct {
		at        int64
		now, peak int
	}{
		{9 * ms, 0, 0},
		{10 * ms, 1, 1}, // entries of the same millisecond count
		{21 * ms, 2, 2},
		{26 * ms, 3, 3},
		{30 * ms, 3, 3}, // exits of the same millisecond do not
		{40 * ms, 2, 3},
		{60 * ms, 1, 3},
	} {
		if now, peak := o.at(tc.at); now != tc.now || peak != tc.peak {
			t.Errorf("at %dms: %d held (peak %d), want %d (%d)", tc.at/ms, now, peak, tc.now, tc.peak)
		}
	}
	if p := o.peak(); p != 3 {
		t.Errorf("peak %d, want 3", p)
	}
}
