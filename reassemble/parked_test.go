package reassemble

import (
	"net/netip"
	"reflect"
	"testing"
	"unsafe"

	"github.com/synq/synq/internal/synth"
)

// TestParkedHoldsEveryField: packParked says it holds a state only if
// unpacking gives that state back. Starting from a closed attempt it
// parks, every field of state (the rules' fields, the Handshake's, the
// store's) is changed in turn, to a small and to a large value: either
// packParked refuses the state or the round trip keeps it. A field added
// to state and forgotten in parked.go's lists fails here.
func TestParkedHoldsEveryField(t *testing.T) {
	tr := NewTracker(Config{}, func(*Attempt) {})
	tr.parkAbove = 0
	pkts := synth.MustScript(`
		0 c S
		0.001 s S.
		0.002 c .
		0.003 c P. len=10
		0.004 s F. ack=1011
		0.005 c F. seq=1011 ack=5002`)
	for i := range pkts {
		tr.Add(&pkts[i])
	}
	var base state
	tr.each(func(_ int32, s *state) { base = *s })
	if !base.inUse || !base.closed {
		t.Fatalf("the script should leave one closed attempt, got %+v", base)
	}
	if _, ok := tr.packParked(&base); !ok {
		t.Fatal("the closed attempt does not park: the test means nothing")
	}

	fields, kept, refused := 0, 0, 0
	var visit func(v reflect.Value, path string)
	visit = func(v reflect.Value, path string) {
		switch v.Kind() {
		case reflect.Struct:
			if v.Type() == reflect.TypeOf(netip.AddrPort{}) {
				break
			}
			for i := range v.NumField() {
				visit(v.Field(i), path+"."+v.Type().Field(i).Name)
			}
			return
		}
		fields++
		for _, big := range []bool{false, true} {
			s := base
			f := reflect.NewAt(v.Type(), unsafe.Pointer(uintptr(unsafe.Pointer(&s))+(v.UnsafeAddr()-uintptr(unsafe.Pointer(&base))))).Elem()
			changeField(t, f, big, path)
			p, ok := tr.packParked(&s)
			if !ok {
				refused++
				continue
			}
			kept++
			var back state
			tr.unpackParked(&p, &back)
			if back != s {
				t.Errorf("%s changed (large %v): packParked holds the state, unpacking loses it", path, big)
			}
			// The sweep reads these without unpacking (eachDue).
			if p.lastPacket() != back.LastPacket || p.closedAt() != back.closedAt || p.closed() != back.closed {
				t.Errorf("%s changed (large %v): parked reads last packet %d, closed at %d, closed %v; unpacked %d, %d, %v",
					path, big, p.lastPacket(), p.closedAt(), p.closed(), back.LastPacket, back.closedAt, back.closed)
			}
		}
	}
	visit(reflect.ValueOf(&base).Elem(), "state")
	if fields < 60 || kept == 0 || refused == 0 {
		t.Errorf("%d fields, %d changes kept, %d refused: expected many fields and both kinds", fields, kept, refused)
	}
}

// changeField sets f to another value of its type: a small change, or a
// large one that a compact form may not hold.
func changeField(t *testing.T, f reflect.Value, big bool, path string) {
	switch f.Kind() {
	case reflect.Bool:
		f.SetBool(!f.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		d := int64(1)
		if big {
			d = 1 << 40
			if f.Type().Bits() < 64 {
				d = 1 << (f.Type().Bits() - 2)
			}
		}
		f.SetInt(f.Int() + d)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		d := uint64(1)
		if big {
			d = 1 << (f.Type().Bits() - 1)
		}
		f.SetUint(f.Uint() + d)
	default:
		if f.Type() == reflect.TypeOf(netip.AddrPort{}) {
			a := netip.MustParseAddrPort("192.0.2.77:4242")
			if big {
				a = netip.MustParseAddrPort("[2001:db8::77]:4242")
			}
			f.Set(reflect.ValueOf(a))
			return
		}
		t.Fatalf("%s: no way to change a %v", path, f.Type())
	}
}
