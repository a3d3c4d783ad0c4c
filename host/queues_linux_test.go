//go:build linux

package host

import (
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// inNewNetns runs f on a thread of its own in a fresh network namespace
// with loopback up. The thread is never handed back to the scheduler, so
// the namespace dies with it.
func inNewNetns(t *testing.T, f func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace (unshare CLONE_NEWNET)")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Errorf("unshare: %v", err)
			return
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Errorf("socket: %v", err)
			return
		}
		defer unix.Close(fd)
		ifr, _ := unix.NewIfreq("lo")
		ifr.SetUint16(unix.IFF_UP)
		if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
			t.Errorf("lo up: %v", err)
			return
		}
		f()
	}()
	<-done
}

// listen opens a TCP listener on 127.0.0.1 with an explicit backlog.
func listen(t *testing.T, backlog, deferAccept int) (int, netip.AddrPort) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if deferAccept > 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, deferAccept); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	return fd, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*unix.SockaddrInet4).Port))
}

// TestQueueSamplerNetns checks what inet_diag reports on this kernel: a
// listener that never accepts holds backlog+1 connections (rqueue) against
// a limit of backlog (wqueue), and handshakes still in the SYN queue (here
// held there by TCP_DEFER_ACCEPT, which ignores the bare handshake ACK)
// come back as request sockets in state SYN_RECV.
func TestQueueSamplerNetns(t *testing.T) {
	inNewNetns(t, func() {
		full, fullAddr := listen(t, 2, 0)
		defer unix.Close(full)
		deferred, defAddr := listen(t, 16, 5)
		defer unix.Close(deferred)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		dial := func(a netip.AddrPort) {
			c, err := net.DialTimeout("tcp", a.String(), time.Second)
			if err != nil {
				t.Fatalf("dial %s: %v", a, err)
			}
			conns = append(conns, c)
		}
		for range 3 {
			dial(fullAddr)
		}
		for range 2 {
			dial(defAddr)
		}
		s, err := NewQueueSampler([]uint16{fullAddr.Port(), defAddr.Port()})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		got, err := s.Sample(42)
		if err != nil {
			t.Fatal(err)
		}
		want := map[netip.AddrPort]QueueSample{
			fullAddr: {Time: 42, Listener: fullAddr, AcceptQueue: 3, AcceptLimit: 2},
			defAddr:  {Time: 42, Listener: defAddr, AcceptLimit: 16, SynRecv: 2},
		}
		if len(got) != len(want) {
			t.Fatalf("got %d samples %+v, want %d", len(got), got, len(want))
		}
		for _, g := range got {
			if g != want[g.Listener] {
				t.Errorf("got %+v, want %+v", g, want[g.Listener])
			}
		}
	})
}
