package connlog

import (
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/capture"
	"github.com/synq/synq/reassemble"
)

// ParquetRecord is one connection record in the Parquet export: the JSON
// Lines fields as typed columns (docs/connections.md), so a fleet's files
// load into DuckDB, Spark, ClickHouse or Trino as they are. Nullable JSON
// fields are optional columns; ts is a microsecond timestamp.
type ParquetRecord struct {
	TS            int64              `parquet:"ts,timestamp(microsecond)"`
	UID           string             `parquet:"uid"`
	OrigH         string             `parquet:"orig_h,dict"`
	OrigP         int32              `parquet:"orig_p"`
	RespH         string             `parquet:"resp_h,dict"`
	RespP         int32              `parquet:"resp_p"`
	Tunnel        *ParquetTunnel     `parquet:"tunnel,optional"`
	Outcome       string             `parquet:"outcome,dict"`
	ConnState     string             `parquet:"conn_state,dict"`
	History       string             `parquet:"history,dict"`
	SYNCount      int32              `parquet:"syn_count"`
	SYNACKCount   int32              `parquet:"synack_count"`
	SYNToSYNACKMs *float64           `parquet:"syn_to_synack_ms,optional"`
	SYNACKToACKMs *float64           `parquet:"synack_to_ack_ms,optional"`
	Syncookie     bool               `parquet:"syncookie"`
	ClientSYN     *ParquetSYNOptions `parquet:"client_syn,optional"`
	ServerSYN     *ParquetSYNOptions `parquet:"server_syn,optional"`
	Duration      float64            `parquet:"duration"`
	OrigPkts      int64              `parquet:"orig_pkts"`
	RespPkts      int64              `parquet:"resp_pkts"`
	OrigBytes     int64              `parquet:"orig_bytes"`
	RespBytes     int64              `parquet:"resp_bytes"`
	OrigIPBytes   int64              `parquet:"orig_ip_bytes"`
	RespIPBytes   int64              `parquet:"resp_ip_bytes"`
	MissedBytes   int64              `parquet:"missed_bytes"`
	// KernelDrops is the kernel's drop reasons for the attempt's packets
	// (synq live --kernel); empty when it dropped none or was not traced:
	// a Parquet list cannot be null.
	KernelDrops []ParquetKernelDrop `parquet:"kernel_drops,list"`
}

// ParquetKernelDrop is one drop reason and how many of the attempt's
// packets the kernel dropped for it.
type ParquetKernelDrop struct {
	Reason  string `parquet:"reason,dict"`
	Packets int32  `parquet:"packets"`
}

// ParquetTunnel is the innermost tunnel of a connection.
type ParquetTunnel struct {
	Kind     string  `parquet:"kind,dict"`
	ID       *int64  `parquet:"id,optional"`
	OuterSrc *string `parquet:"outer_src,optional"`
	OuterDst *string `parquet:"outer_dst,optional"`
	Depth    int32   `parquet:"depth"`
}

// ParquetSYNOptions are the options of a SYN or SYN-ACK.
type ParquetSYNOptions struct {
	MSS      *int32 `parquet:"mss,optional"`
	WScale   *int32 `parquet:"wscale,optional"`
	SACKPerm bool   `parquet:"sack_perm"`
	TSval    *int64 `parquet:"tsval,optional"`
	TSecr    *int64 `parquet:"tsecr,optional"`
}

// Rows are written in batches of parquetBatch, and a row group holds at
// most parquetRowGroup rows: memory stays bounded however long the
// capture (the column buffers of one row group, a few MB).
const (
	parquetBatch    = 1024
	parquetRowGroup = 128 << 10
)

type parquetSink struct {
	w    *parquet.GenericWriter[ParquetRecord]
	rows []ParquetRecord
}

func newParquetSink(w io.Writer) *parquetSink {
	return &parquetSink{
		w: parquet.NewGenericWriter[ParquetRecord](w, parquet.Compression(&parquet.Snappy),
			parquet.MaxRowsPerRowGroup(parquetRowGroup), parquet.CreatedBy("synq", "", "")),
		rows: make([]ParquetRecord, 0, parquetBatch),
	}
}

func (s *parquetSink) add(r ParquetRecord) error {
	s.rows = append(s.rows, r)
	if len(s.rows) < parquetBatch {
		return nil
	}
	return s.flush()
}

func (s *parquetSink) flush() error {
	if len(s.rows) == 0 {
		return nil
	}
	_, err := s.w.Write(s.rows)
	clear(s.rows)
	s.rows = s.rows[:0]
	if err != nil {
		return fmt.Errorf("writing parquet rows: %w", err)
	}
	return nil
}

func (s *parquetSink) close() error {
	if err := s.flush(); err != nil {
		return err
	}
	if err := s.w.Close(); err != nil {
		return fmt.Errorf("closing the parquet file: %w", err)
	}
	return nil
}

// parquetRecord is a's record, with the same values the JSON Lines record
// has (appendJSON).
func (w *Writer) parquetRecord(a *reassemble.Attempt, kernel []analyze.ReasonCount) ParquetRecord {
	c := &a.Conn
	r := ParquetRecord{
		TS:          a.FirstPacket / 1000,
		UID:         string(appendUID(nil, a)),
		OrigH:       a.Client.Addr().String(),
		OrigP:       int32(a.Client.Port()),
		RespH:       a.Server.Addr().String(),
		RespP:       int32(a.Server.Port()),
		Outcome:     w.outcome(a),
		ConnState:   c.State(),
		History:     c.History(),
		SYNCount:    int32(a.SYNs),
		SYNACKCount: int32(a.SYNACKs),
		Syncookie:   !a.MidStream && analyze.IsSyncookie(a, w.captureEnd),
		Duration:    float64(max(c.LastTime()-a.FirstPacket, 0)) / 1e9,
		OrigPkts:    int64(c.OrigPkts()),
		RespPkts:    int64(c.RespPkts()),
		OrigBytes:   int64(c.OrigBytes()),
		RespBytes:   int64(c.RespBytes()),
		OrigIPBytes: int64(c.OrigIPBytes()),
		RespIPBytes: int64(c.RespIPBytes()),
		MissedBytes: int64(c.MissedBytes()),
	}
	if d, ok := synToSYNACK(a); ok {
		ms := float64(d) / 1e6
		r.SYNToSYNACKMs = &ms
	}
	if d, ok := synackToACK(a); ok {
		ms := float64(d) / 1e6
		r.SYNACKToACKMs = &ms
	}
	if t := a.Tunnel; !t.IsZero() {
		pt := &ParquetTunnel{Kind: t.Kind.String(), Depth: int32(t.Depth)}
		if t.HasID {
			id := int64(t.ID)
			pt.ID = &id
		}
		if t.Src.IsValid() {
			src := t.Src.String()
			pt.OuterSrc = &src
		}
		if t.Dst.IsValid() {
			dst := t.Dst.String()
			pt.OuterDst = &dst
		}
		r.Tunnel = pt
	}
	for _, k := range kernel {
		r.KernelDrops = append(r.KernelDrops, ParquetKernelDrop{Reason: k.Reason, Packets: int32(k.Packets)})
	}
	if !a.MidStream && a.SYNs > 0 {
		r.ClientSYN = parquetOpts(a.SYNOpts)
	}
	if a.SYNACKs > 0 {
		r.ServerSYN = parquetOpts(a.SYNACKOpts)
	}
	return r
}

func parquetOpts(o capture.TCPOptions) *ParquetSYNOptions {
	p := &ParquetSYNOptions{SACKPerm: o.SACKPerm}
	if o.HasMSS {
		v := int32(o.MSS)
		p.MSS = &v
	}
	if o.HasWScale {
		v := int32(o.WScale)
		p.WScale = &v
	}
	if o.HasTS {
		tv, te := int64(o.TSval), int64(o.TSecr)
		p.TSval, p.TSecr = &tv, &te
	}
	return p
}
