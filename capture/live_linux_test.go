//go:build linux

package capture

import (
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// inPrivateNetns runs f on a thread of its own in a new network namespace
// with loopback up; the thread exits with the goroutine.
func inPrivateNetns(t *testing.T, f func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: a network namespace and an AF_PACKET socket")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Errorf("unshare: %v", err)
			return
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Errorf("socket: %v", err)
			return
		}
		ifr, _ := unix.NewIfreq("lo")
		ifr.SetUint16(unix.IFF_UP)
		err = unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
		unix.Close(fd)
		if err != nil {
			t.Errorf("lo up: %v", err)
			return
		}
		f()
	}()
	<-done
}

// TestLiveNextAllocs captures TCP segments on loopback in a private
// namespace and checks that reading and decoding them allocates nothing,
// and that the kernel filter kept other ports out.
func TestLiveNextAllocs(t *testing.T) {
	inPrivateNetns(t, func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		port := uint16(ln.Addr().(*net.TCPAddr).Port)
		other, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()

		l, err := OpenLive(LiveOptions{Interface: "lo", Ports: []uint16{port}, RingBytes: 64 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		// Noise on another port first, then 2000 segments on ours.
		if c, err := net.Dial("tcp", other.Addr().String()); err == nil {
			c.Write([]byte("noise"))
			c.Close()
		}
		go func() {
			for {
				s, err := ln.Accept()
				if err != nil {
					return
				}
				s.Close()
			}
		}()
		// Short connections (SYN, SYN-ACK, ACK, FINs, ACKs) until the
		// ring has well over the frames the test reads.
		for i := 0; i < 2000; i++ {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte("x"))
			c.Close()
			if i%50 == 49 {
				if st, _ := l.RingStats(); st.Received > 1500 {
					break
				}
			}
		}
		time.Sleep(50 * time.Millisecond)

		var p Packet
		// Warm up, and check the first segments.
		for range 10 {
			k, err := l.Next(&p)
			if err != nil {
				t.Fatal(err)
			}
			if k != KindTCP || (p.Src.Port() != port && p.Dst.Port() != port) {
				t.Fatalf("kind %v packet %v -> %v: want TCP on port %d", k, p.Src, p.Dst, port)
			}
		}
		var errs int
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := l.Next(&p); err != nil {
				errs++
			}
		})
		if errs > 0 {
			t.Fatalf("%d reads failed (too few frames?)", errs)
		}
		if allocs != 0 {
			t.Errorf("Live.Next allocates %.2f times per packet, want 0", allocs)
		}
		st, err := l.RingStats()
		if err != nil {
			t.Fatal(err)
		}
		if st.Dropped != 0 || st.Received < 1010 {
			t.Errorf("ring stats %+v", st)
		}
		if s := l.Summary(); s.TCPPackets < 1010 || s.NonTCP != 0 {
			t.Errorf("summary %+v", s)
		}
		t.Logf("ring %+v; 0 allocations per packet over 1000 reads", st)
	})
}

// TestLiveLoopbackOnce: loopback hands each frame to packet sockets twice
// (sent and received); synq, like tcpdump, must see it once, capturing on
// lo or on every interface, or every SYN would look unanswered before its
// copy.
func TestLiveLoopbackOnce(t *testing.T) {
	for _, iface := range []string{"lo", "any"} {
		t.Run(iface, func(t *testing.T) {
			inPrivateNetns(t, func() {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				port := uint16(ln.Addr().(*net.TCPAddr).Port)
				l, err := OpenLive(LiveOptions{Interface: iface, Ports: []uint16{port}, PollTimeout: 50 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				go func() {
					for {
						s, err := ln.Accept()
						if err != nil {
							return
						}
						s.Close()
					}
				}()
				const conns = 5
				for range conns {
					c, err := net.Dial("tcp", ln.Addr().String())
					if err != nil {
						t.Fatal(err)
					}
					c.Close()
				}
				var syns, synacks int
				var p Packet
				for {
					k, err := l.Next(&p)
					if err == ErrLiveTimeout {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					switch {
					case k != KindTCP:
					case p.Flags == FlagSYN:
						syns++
					case p.Flags == FlagSYN|FlagACK:
						synacks++
					}
				}
				if syns != conns || synacks != conns {
					t.Errorf("saw %d SYNs and %d SYN-ACKs for %d connections, want each once", syns, synacks, conns)
				}
			})
		})
	}
}
