// Package connlog writes one record per connection attempt (and per
// connection seen without its handshake) as the tracker finishes them:
// JSON Lines, or a Zeek conn.log (TSV). Records are streamed through a
// buffered writer, never held: memory does not grow with the capture.
// docs/connections.md describes both formats.
package connlog

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/capture"
	"github.com/synq/synq/reassemble"
)

// Format is the file format of the export.
type Format uint8

const (
	// JSONL: one JSON object per line, keys in a fixed order.
	JSONL Format = iota
	// Zeek: a Zeek conn.log in its default TSV form, header included.
	Zeek
	// Parquet: the JSON Lines fields as typed columns (ParquetRecord).
	Parquet
)

// Formats lists the --connections-format values.
func Formats() []string { return []string{"jsonl", "zeek", "parquet"} }

// ParseFormat reads a --connections-format value. Empty chooses from the
// file name: Zeek for a name ending in .log (conn.log), Parquet for
// .parquet, else JSON Lines.
func ParseFormat(s, fileName string) (Format, error) {
	switch s {
	case "jsonl", "json":
		return JSONL, nil
	case "zeek":
		return Zeek, nil
	case "parquet":
		return Parquet, nil
	case "":
		switch {
		case strings.HasSuffix(fileName, ".log"):
			return Zeek, nil
		case strings.HasSuffix(fileName, ".parquet"):
			return Parquet, nil
		}
		return JSONL, nil
	}
	return 0, fmt.Errorf("unknown format %q (want %s)", s, strings.Join(Formats(), " or "))
}

// Writer writes the records. Add is the tracker's emit function (with the
// aggregator's); the first write error is kept and stops further writing:
// check Err while reading, and Close at the end.
type Writer struct {
	bw     *bufio.Writer
	format Format
	// captureEnd judges attempts the end of the capture cut short; zero
	// until SetCaptureEnd, as the tracker finishes only completed
	// attempts before its Flush.
	captureEnd int64
	open       int64
	header     bool
	buf        []byte
	err        error
	pq         *parquetSink // Parquet only
}

// NewWriter returns a Writer in format f on w.
func NewWriter(w io.Writer, f Format) *Writer {
	cw := &Writer{bw: bufio.NewWriterSize(w, 64<<10), format: f, buf: make([]byte, 0, 512)}
	if f == Parquet {
		cw.pq = newParquetSink(cw.bw)
	}
	return cw
}

// Begin gives the time of the capture's first packet (ns), which a Zeek
// log's #open line shows: the capture's time rather than the clock's, so
// that the same capture always gives the same file.
func (w *Writer) Begin(t int64) {
	if w.open == 0 {
		w.open = t
	}
}

// SetCaptureEnd gives the capture's last packet time. Call it before the
// tracker's Flush, as for analyze.Aggregator.CaptureEnd: the attempts
// Flush finishes are classified against it (incomplete or failed).
func (w *Writer) SetCaptureEnd(t int64) { w.captureEnd = t }

// Err is the first write error, if any.
func (w *Writer) Err() error { return w.err }

// Close ends the file (a Zeek log's #close line) and flushes it. It does
// not close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	w.writeHeader()
	if w.pq != nil {
		w.err = w.pq.close()
	}
	if w.format == Zeek {
		w.buf = append(w.buf[:0], "#close\t"...)
		w.buf = appendZeekDate(w.buf, max(w.captureEnd, w.open))
		w.buf = append(w.buf, '\n')
		w.write()
	}
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	return w.err
}

func (w *Writer) write() {
	if w.err == nil {
		_, w.err = w.bw.Write(w.buf)
	}
}

// Add writes one finished attempt, from a capture without the kernel's
// drop reasons (kernel_drops null).
func (w *Writer) Add(a *reassemble.Attempt) { w.AddKernel(a, nil) }

// AddKernel writes one finished attempt with the kernel's drop reasons
// for its packets (synq live --kernel): nil when the kernel was not
// traced, empty when it dropped none of them. The Zeek format has no
// column for them (conn.log keeps Zeek's columns).
func (w *Writer) AddKernel(a *reassemble.Attempt, kernel []analyze.ReasonCount) {
	if w.err != nil {
		return
	}
	w.writeHeader()
	switch w.format {
	case Parquet:
		if err := w.pq.add(w.parquetRecord(a, kernel)); err != nil {
			w.err = err
		}
		return
	case Zeek:
		w.buf = w.appendZeek(w.buf[:0], a)
	default:
		w.buf = w.appendJSON(w.buf[:0], a, kernel)
	}
	w.write()
}

// zeekFields and zeekTypes are conn.log's columns (Zeek 4 to 7, without
// the ip_proto column Zeek 6 added) and their Zeek types.
var (
	zeekFields = []string{"ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service",
		"duration", "orig_bytes", "resp_bytes", "conn_state", "local_orig", "local_resp", "missed_bytes",
		"history", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "tunnel_parents"}
	zeekTypes = []string{"time", "string", "addr", "port", "addr", "port", "enum", "string",
		"interval", "count", "count", "string", "bool", "bool", "count",
		"string", "count", "count", "count", "count", "set[string]"}
)

func (w *Writer) writeHeader() {
	if w.header || w.err != nil {
		return
	}
	w.header = true
	if w.format != Zeek {
		return
	}
	b := append(w.buf[:0], "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#open\t"...)
	b = appendZeekDate(b, w.open)
	b = append(b, "\n#fields\t"...)
	b = append(b, strings.Join(zeekFields, "\t")...)
	b = append(b, "\n#types\t"...)
	b = append(b, strings.Join(zeekTypes, "\t")...)
	w.buf = append(b, '\n')
	w.write()
}

// appendZeekDate formats t as Zeek's #open and #close do, in UTC.
func appendZeekDate(b []byte, t int64) []byte {
	return time.Unix(0, t).UTC().AppendFormat(b, "2006-01-02-15-04-05")
}

// outcome is the attempt's synq outcome: analyze.Classify, or
// "midstream" for a connection first seen without a SYN.
func (w *Writer) outcome(a *reassemble.Attempt) string {
	if a.MidStream {
		return "midstream"
	}
	return analyze.Classify(a, w.captureEnd).String()
}

func (w *Writer) appendZeek(b []byte, a *reassemble.Attempt) []byte {
	c := &a.Conn
	const unset = '-'
	b = appendSeconds(b, a.FirstPacket)
	b = append(b, '\t')
	b = appendUID(b, a)
	b = append(b, '\t')
	b = a.Client.Addr().AppendTo(b)
	b = append(b, '\t')
	b = appendUint(b, uint64(a.Client.Port()))
	b = append(b, '\t')
	b = a.Server.Addr().AppendTo(b)
	b = append(b, '\t')
	b = appendUint(b, uint64(a.Server.Port()))
	b = append(b, "\ttcp\t-\t"...)
	// As Zeek: duration and byte counts only when the duration is not 0.
	if d := c.LastTime() - a.FirstPacket; d > 0 {
		b = appendSeconds(b, d)
		b = append(b, '\t')
		b = appendUint(b, c.OrigBytes())
		b = append(b, '\t')
		b = appendUint(b, c.RespBytes())
	} else {
		b = append(b, unset, '\t', unset, '\t', unset)
	}
	b = append(b, '\t')
	b = append(b, c.State()...)
	b = append(b, '\t', unset, '\t', unset, '\t') // local_orig, local_resp: no Site::local_nets
	b = appendUint(b, c.MissedBytes())
	b = append(b, '\t')
	if h := c.History(); h != "" {
		b = append(b, h...)
	} else {
		b = append(b, unset)
	}
	for _, n := range [...]uint64{uint64(c.OrigPkts()), c.OrigIPBytes(), uint64(c.RespPkts()), c.RespIPBytes()} {
		b = append(b, '\t')
		b = appendUint(b, n)
	}
	b = append(b, '\t')
	if a.Tunnel.IsZero() {
		b = append(b, unset) // tunnel_parents
	} else {
		b = appendTunnelUID(b, a.Tunnel)
	}
	return append(b, '\n')
}

func (w *Writer) appendJSON(b []byte, a *reassemble.Attempt, kernel []analyze.ReasonCount) []byte {
	c := &a.Conn
	b = append(b, `{"ts":`...)
	b = appendSeconds(b, a.FirstPacket)
	b = append(b, `,"uid":"`...)
	b = appendUID(b, a)
	b = append(b, `","orig_h":"`...)
	b = a.Client.Addr().AppendTo(b)
	b = append(b, `","orig_p":`...)
	b = appendUint(b, uint64(a.Client.Port()))
	b = append(b, `,"resp_h":"`...)
	b = a.Server.Addr().AppendTo(b)
	b = append(b, `","resp_p":`...)
	b = appendUint(b, uint64(a.Server.Port()))
	// The tunnel qualifies the 4-tuple, so it comes right after it.
	b = append(b, `,"tunnel":`...)
	b = appendTunnel(b, a.Tunnel)
	b = append(b, `,"outcome":"`...)
	b = append(b, w.outcome(a)...)
	b = append(b, `","conn_state":"`...)
	b = append(b, c.State()...)
	b = append(b, `","history":"`...)
	b = append(b, c.History()...) // letters and ^ only: nothing to escape
	b = append(b, `","syn_count":`...)
	b = appendUint(b, uint64(a.SYNs))
	b = append(b, `,"synack_count":`...)
	b = appendUint(b, uint64(a.SYNACKs))
	b = append(b, `,"syn_to_synack_ms":`...)
	if d, ok := synToSYNACK(a); ok {
		b = appendMillis(b, d)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"synack_to_ack_ms":`...)
	if d, ok := synackToACK(a); ok {
		b = appendMillis(b, d)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"syncookie":`...)
	b = strconv.AppendBool(b, !a.MidStream && analyze.IsSyncookie(a, w.captureEnd))
	b = append(b, `,"client_syn":`...)
	b = appendOpts(b, a.SYNOpts, !a.MidStream && a.SYNs > 0)
	b = append(b, `,"server_syn":`...)
	b = appendOpts(b, a.SYNACKOpts, a.SYNACKs > 0)
	b = append(b, `,"duration":`...)
	b = appendSeconds(b, max(c.LastTime()-a.FirstPacket, 0))
	b = append(b, `,"orig_pkts":`...)
	b = appendUint(b, uint64(c.OrigPkts()))
	b = append(b, `,"resp_pkts":`...)
	b = appendUint(b, uint64(c.RespPkts()))
	b = append(b, `,"orig_bytes":`...)
	b = appendUint(b, c.OrigBytes())
	b = append(b, `,"resp_bytes":`...)
	b = appendUint(b, c.RespBytes())
	b = append(b, `,"orig_ip_bytes":`...)
	b = appendUint(b, c.OrigIPBytes())
	b = append(b, `,"resp_ip_bytes":`...)
	b = appendUint(b, c.RespIPBytes())
	b = append(b, `,"missed_bytes":`...)
	b = appendUint(b, c.MissedBytes())
	b = append(b, `,"kernel_drops":`...)
	b = appendKernel(b, kernel)
	return append(b, "}\n"...)
}

// appendKernel writes the kernel's drop reasons of one attempt: null when
// not traced, else a list of {"reason","packets"} (reason names are the
// kernel's enum names: capitals, digits and underscores, nothing to
// escape).
func appendKernel(b []byte, kernel []analyze.ReasonCount) []byte {
	if kernel == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, r := range kernel {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"reason":`...)
		b = strconv.AppendQuote(b, r.Reason)
		b = append(b, `,"packets":`...)
		b = appendUint(b, uint64(r.Packets))
		b = append(b, '}')
	}
	return append(b, ']')
}

// synToSYNACK is the time from the SYN a SYN-ACK answered to that
// SYN-ACK (ns), when there was one.
func synToSYNACK(a *reassemble.Attempt) (int64, bool) {
	if a.SYNACKs > 0 && a.SYNBeforeSYNACK != 0 {
		return a.FirstSYNACK - a.SYNBeforeSYNACK, true
	}
	return 0, false
}

// synackToACK is the time from the first SYN-ACK to the client's ACK of
// it (ns), when the client acknowledged one.
func synackToACK(a *reassemble.Attempt) (int64, bool) {
	if a.ClientAcked && a.SYNACKs > 0 {
		return a.FirstACK - a.FirstSYNACK, true
	}
	return 0, false
}

// appendTunnel writes the innermost tunnel of a connection, or null:
// {"kind","id","outer_src","outer_dst","depth"}, id and the outer
// addresses null where the kind has none.
func appendTunnel(b []byte, t capture.Tunnel) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, `{"kind":"`...)
	b = append(b, t.Kind.String()...)
	b = append(b, `","id":`...)
	if t.HasID {
		b = appendUint(b, uint64(t.ID))
	} else {
		b = append(b, "null"...)
	}
	for _, a := range []struct {
		name string
		addr netip.Addr
	}{{`,"outer_src":`, t.Src}, {`,"outer_dst":`, t.Dst}} {
		b = append(b, a.name...)
		if a.addr.IsValid() {
			b = append(b, '"')
			b = a.addr.AppendTo(b)
			b = append(b, '"')
		} else {
			b = append(b, "null"...)
		}
	}
	b = append(b, `,"depth":`...)
	b = appendUint(b, uint64(t.Depth))
	return append(b, '}')
}

// appendOpts writes a SYN's or SYN-ACK's options, or null when there was
// none; an option the segment did not carry is null.
func appendOpts(b []byte, o capture.TCPOptions, seen bool) []byte {
	if !seen {
		return append(b, "null"...)
	}
	b = append(b, `{"mss":`...)
	if o.HasMSS {
		b = appendUint(b, uint64(o.MSS))
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"wscale":`...)
	if o.HasWScale {
		b = appendUint(b, uint64(o.WScale))
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"sack_perm":`...)
	b = strconv.AppendBool(b, o.SACKPerm)
	b = append(b, `,"ts":`...)
	if o.HasTS {
		b = append(b, `{"tsval":`...)
		b = appendUint(b, uint64(o.TSval))
		b = append(b, `,"tsecr":`...)
		b = appendUint(b, uint64(o.TSecr))
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	return append(b, '}')
}

// appendSeconds writes ns as seconds with 6 decimals (Zeek's time and
// interval precision).
func appendSeconds(b []byte, ns int64) []byte { return appendMicros(b, ns, 1e6, 6) }

// appendMillis writes ns as milliseconds with 3 decimals.
func appendMillis(b []byte, ns int64) []byte { return appendMicros(b, ns, 1e3, 3) }

// appendMicros writes ns rounded to microseconds, in units of unit
// microseconds with digits decimals.
func appendMicros(b []byte, ns, unit int64, digits int) []byte {
	if ns < 0 {
		b = append(b, '-')
		ns = -ns
	}
	us := (ns + 500) / 1000
	b = appendUint(b, uint64(us/unit))
	b = append(b, '.')
	var d [6]byte
	frac := us % unit
	for i := digits - 1; i >= 0; i-- {
		d[i] = byte('0' + frac%10)
		frac /= 10
	}
	return append(b, d[:digits]...)
}

// appendUint is strconv.AppendUint(b, v, 10) for the export's hot path:
// most values are small counts, one digit.
func appendUint(b []byte, v uint64) []byte {
	if v < 10 {
		return append(b, byte('0'+v))
	}
	var d [20]byte
	i := len(d)
	for v >= 10 {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
	}
	i--
	d[i] = byte('0' + v)
	return append(b, d[i:]...)
}

func appendPadded(b []byte, v int64, width int) []byte {
	var d [20]byte
	s := strconv.AppendInt(d[:0], v, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// appendUID writes a Zeek-style uid ("C" and base62) derived from the
// attempt's 4-tuple, client ISN and first packet time: stable from run to
// run (golden files), distinct per attempt.
func appendUID(b []byte, a *reassemble.Attempt) []byte {
	ca, sa := a.Client.Addr().As16(), a.Server.Addr().As16()
	words := [...]uint64{
		binary.BigEndian.Uint64(ca[0:8]), binary.BigEndian.Uint64(ca[8:16]),
		binary.BigEndian.Uint64(sa[0:8]), binary.BigEndian.Uint64(sa[8:16]),
		uint64(a.Client.Port())<<48 | uint64(a.Server.Port())<<32 | uint64(a.ClientISN),
		uint64(a.FirstPacket),
	}
	// Two lanes of wyhash's multiply-fold over the words (FNV-128 over
	// their bytes was a sixth of the --connections run's export time).
	h1, h2 := uint64(0xa0761d6478bd642f), uint64(0xe7037ed1a0b428db)
	for i := 0; i < len(words); i += 2 {
		h1 = mum(words[i]^0x8ebc6af09c88c6e3, words[i+1]^h1)
		h2 = mum(words[i]^0x589965cc75374cc3, words[i+1]^h2)
	}
	h1, h2 = mum(h1^0x1d8e4e27c47d124f, 0xa0761d6478bd642f), mum(h2^h1, 0xe7037ed1a0b428db)
	// 96 bits, as Zeek's uids carry.
	return appendBase62(append(b, 'C'), h2>>32, h1)
}

// appendTunnelUID writes the tunnel's uid for tunnel_parents: derived
// from its identity (kind, depth, outer address pair, ID where both
// directions carry it: capture.Tunnel.Key), so every connection in one
// tunnel names the same parent, in both directions. Zeek names there the
// uid of the tunnel's own connection (its UDP or GRE flow), which synq does
// not log: the value groups connections by tunnel, it does not point to a
// row.
func appendTunnelUID(b []byte, t capture.Tunnel) []byte {
	k := t.Key()
	return appendBase62(append(b, 'C'), k>>32, mum(k, 0x9e3779b97f4a7c15))
}

// appendBase62 writes the number hi:lo (hi under 2^32) in base 62, no
// leading zeros (nothing for zero). It divides by 62^5 at a time, whose
// remainders give five digits each with word arithmetic.
func appendBase62(b []byte, hi, lo uint64) []byte {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	const p5 = 62 * 62 * 62 * 62 * 62 // under 2^30
	var out [17]byte
	i := len(out)
	for hi != 0 || lo != 0 {
		// hi:lo / p5 without 128-bit arithmetic: each remainder is under
		// 2^30, so 32 more bits fit beside it.
		qh, rh := hi/p5, hi%p5
		x := rh<<32 | lo>>32
		q1, r1 := x/p5, x%p5
		y := r1<<32 | lo&0xffffffff
		q2, r := y/p5, y%p5
		hi, lo = qh, q1<<32|q2
		// Five digits, or, in the most significant chunk, no leading
		// zeros.
		for k := 0; k < 5 && (r != 0 || hi != 0 || lo != 0); k++ {
			i--
			out[i] = digits[r%62]
			r /= 62
		}
	}
	return append(b, out[i:]...)
}

// mum is wyhash's mixing step: the two halves of a 128-bit product,
// folded.
func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}
