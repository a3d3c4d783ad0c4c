//go:build linux

package droptrace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/synq/synq/kernel"
	"net/netip"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/synq/synq/capture"
)

// Watcher follows the kernel's packet drops on a set of TCP ports.
type Watcher struct {
	events, ports, lost *ebpf.Map
	prog                *ebpf.Program
	tp                  link.Link
	rd                  *ringbuf.Reader
	names               map[uint32]string
	// monoToReal converts the program's bpf_ktime_get_ns (CLOCK_MONOTONIC)
	// to the Unix clock the capture stamps packets with.
	monoToReal int64
}

// ringBytes holds 16,384 events: a second of a heavy overflow between
// two reads.
const ringBytes = 1 << 20

// Open loads the drop tracer, filtered in the kernel to TCP packets to
// or from ports (every TCP port when ports is empty) in the network
// namespace synq runs in, and attaches it to the kfree_skb raw
// tracepoint.
func Open(ports []uint16) (*Watcher, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("%w: no kernel BTF (%v)", kernel.ErrUnsupported, err)
	}
	lay, err := layoutOf(spec)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", kernel.ErrUnsupported, err)
	}
	if lay.netns, err = ownNetns(); err != nil {
		return nil, err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, permissionOr(err)
	}
	w := &Watcher{names: lay.reasons}
	ok := false
	defer func() {
		if !ok {
			w.Close()
		}
	}()
	if w.events, err = ebpf.NewMap(&ebpf.MapSpec{Name: "synq_drops", Type: ebpf.RingBuf, MaxEntries: ringBytes}); err != nil {
		return nil, permissionOr(err)
	}
	if w.ports, err = ebpf.NewMap(&ebpf.MapSpec{Name: "synq_ports", Type: ebpf.Hash, KeySize: 4, ValueSize: 1, MaxEntries: 1024}); err != nil {
		return nil, permissionOr(err)
	}
	if w.lost, err = ebpf.NewMap(&ebpf.MapSpec{Name: "synq_lost", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1}); err != nil {
		return nil, permissionOr(err)
	}
	if len(ports) == 0 {
		if err := w.ports.Put(uint32(0), uint8(1)); err != nil {
			return nil, err
		}
	}
	for _, p := range ports {
		if err := w.ports.Put(uint32(p), uint8(1)); err != nil {
			return nil, err
		}
	}
	w.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "synq_kfree_skb", Type: ebpf.RawTracepoint, License: "GPL",
		Instructions: program(lay, w.events.FD(), w.ports.FD(), w.lost.FD()),
	})
	if err != nil {
		return nil, permissionOr(fmt.Errorf("loading the drop tracer: %w", err))
	}
	if w.tp, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: "kfree_skb", Program: w.prog}); err != nil {
		return nil, permissionOr(fmt.Errorf("attaching to kfree_skb: %w", err))
	}
	if w.rd, err = ringbuf.NewReader(w.events); err != nil {
		return nil, err
	}
	var mono, real unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono)
	_ = unix.ClockGettime(unix.CLOCK_REALTIME, &real)
	w.monoToReal = real.Nano() - mono.Nano()
	ok = true
	return w, nil
}

// permissionOr turns the kernel's EPERM into kernel.ErrPermission.
func permissionOr(err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%w: %v", kernel.ErrPermission, err)
	}
	return err
}

// Read blocks until the next drop, or until Close (then it returns
// os.ErrClosed); after Flush, kernel.ErrFlushed once the reports
// buffered then are read.
func (w *Watcher) Read() (kernel.Drop, error) {
	for {
		rec, err := w.rd.Read()
		if errors.Is(err, ringbuf.ErrClosed) {
			return kernel.Drop{}, os.ErrClosed
		}
		if errors.Is(err, ringbuf.ErrFlushed) {
			return kernel.Drop{}, kernel.ErrFlushed
		}
		if err != nil {
			return kernel.Drop{}, fmt.Errorf("reading drop events: %w", err)
		}
		if d, ok := w.decode(rec.RawSample); ok {
			return d, nil
		}
	}
}

// decode reads one event as the program lays it out (see program).
func (w *Watcher) decode(b []byte) (kernel.Drop, bool) {
	if len(b) < eventSize {
		return kernel.Drop{}, false
	}
	le, be := binary.LittleEndian, binary.BigEndian
	reason := le.Uint32(b[evReason:])
	name, ok := w.names[reason]
	if !ok {
		name = fmt.Sprintf("reason %d", reason)
	}
	d := kernel.Drop{
		Time: int64(le.Uint64(b[evTime:])) + w.monoToReal, Reason: name,
		Seq: be.Uint32(b[evSeq:]), Ack: be.Uint32(b[evAck:]),
		Flags: capture.TCPFlags(b[evFlags]), Inbound: b[evDir] != dirOut,
	}
	sp, dp := be.Uint16(b[evSport:]), be.Uint16(b[evDport:])
	if b[evFamily] == 4 {
		d.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[evSaddr:evSaddr+4])), sp)
		d.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[evDaddr:evDaddr+4])), dp)
	} else {
		d.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[evSaddr:evSaddr+16])), sp)
		d.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[evDaddr:evDaddr+16])), dp)
	}
	return d, true
}

// Flush makes Read return the reports buffered now, then
// kernel.ErrFlushed.
func (w *Watcher) Flush() error { return w.rd.Flush() }

// Lost is the number of drops the program could not report because the
// ring was full.
func (w *Watcher) Lost() uint64 {
	var n uint64
	if w.lost != nil {
		_ = w.lost.Lookup(uint32(0), &n)
	}
	return n
}

// Close detaches the program; a blocked Read returns.
func (w *Watcher) Close() error {
	var errs []error
	if w.rd != nil {
		errs = append(errs, w.rd.Close())
	}
	if w.tp != nil {
		errs = append(errs, w.tp.Close())
	}
	for _, c := range []interface{ Close() error }{w.prog, w.events, w.ports, w.lost} {
		if c != nil && !isNil(c) {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

func isNil(c interface{ Close() error }) bool {
	switch v := c.(type) {
	case *ebpf.Program:
		return v == nil
	case *ebpf.Map:
		return v == nil
	}
	return false
}

// ownNetns is the inode number of this process's network namespace,
// which is the namespace's ns.inum in the kernel.
func ownNetns() (uint32, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		return 0, fmt.Errorf("reading this process's network namespace: %w", err)
	}
	return uint32(st.Ino), nil
}
