//go:build linux

package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLiveRate measures the packet rate synq live sustains with no ring
// drops: a generator in the client namespace sends SYNs (raw Ethernet
// frames, varying source ports) to a listener; the server answers each
// with a SYN-ACK and the client's kernel resets it, so synq sees three
// packets per SYN and tracks one attempt per SYN. It runs only with
// SYNQ_LIVE_RATE=1 (about a minute); the numbers are in README.md.
//
//	SYNQ_LIVE_RATE=1 go test ./cmd/synq -run TestLiveRate -v
func TestLiveRate(t *testing.T) {
	if os.Getenv("SYNQ_LIVE_RATE") == "" {
		t.Skip("measurement: set SYNQ_LIVE_RATE=1")
	}
	rates := []int{20000, 50000, 100000, 150000, 200000}
	if s := os.Getenv("SYNQ_LIVE_RATES"); s != "" {
		rates = nil
		for _, f := range strings.Split(s, ",") {
			n, _ := strconv.Atoi(f)
			rates = append(rates, n)
		}
	}
	for _, write := range []bool{false, true} {
		for _, synRate := range rates {
			l := newLiveLab(t, fmt.Sprintf("r%d%v", synRate/1000, write)[:6])
			var srvOut, srvErr bytes.Buffer
			l.start(l.srv, &srvOut, &srvErr, l.labtool, "serve", "-addr", liveSrvAddr+":8080", "-backlog", "4096", "-duration", "60s")
			reportPath := filepath.Join(l.dir, fmt.Sprintf("rate-%d-%v.json", synRate, write))
			args := []string{"live", "-i", liveSrvIf, "--port", "8080", "--duration", "8s", "--format", "json", "-o", reportPath}
			if write {
				args = append(args, "-w", filepath.Join(l.dir, fmt.Sprintf("b-%d", synRate)))
			}
			var out, errOut syncBuffer
			cmd := exec.Command("ip", append([]string{"netns", "exec", l.srv, l.synq}, args...)...)
			cmd.Stdout, cmd.Stderr = &out, &errOut
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			for !strings.Contains(errOut.String(), "capturing on") {
				time.Sleep(20 * time.Millisecond)
			}
			sent, took := floodSYNs(t, l.cli, synRate, 3*time.Second)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("synq live: %v\n%s", err, errOut.String())
			}
			r := readLiveReport(t, reportPath)
			var syns int
			for _, ls := range r.Listeners {
				syns += ls.Attempts
			}
			t.Logf("-w=%v: %d SYNs/s asked, %d sent in %v (%.0f/s); ring received %d frames, dropped %d; %d attempts tracked",
				write, synRate, sent, took.Round(time.Millisecond), float64(sent)/took.Seconds(),
				r.Host.CaptureRing.Received, r.Host.CaptureRing.Dropped, syns)
		}
	}
}

// floodSYNs sends SYN frames from the client namespace's veth at rate per
// second for d, and returns how many it sent and how long it took.
func floodSYNs(t *testing.T, ns string, rate int, d time.Duration) (int, time.Duration) {
	type result struct {
		n   int
		d   time.Duration
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- result{err: err}
			return
		}
		cli, err := net.InterfaceByName("synqlive-c")
		if err != nil {
			done <- result{err: err}
			return
		}
		srv, err := exec.Command("ip", "netns", "exec", strings.TrimSuffix(ns, "-c")+"-s", "cat", "/sys/class/net/"+liveSrvIf+"/address").Output()
		if err != nil {
			done <- result{err: err}
			return
		}
		dstMAC, err := net.ParseMAC(strings.TrimSpace(string(srv)))
		if err != nil {
			done <- result{err: err}
			return
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer unix.Close(fd)
		sa := &unix.SockaddrLinklayer{Ifindex: cli.Index, Halen: 6}
		copy(sa.Addr[:], dstMAC)
		frame := synFrame(cli.HardwareAddr, dstMAC)
		start := time.Now()
		total := int(float64(rate) * d.Seconds())
		n := 0
		for n < total {
			// Pace in 1 ms steps.
			due := int(float64(rate) * time.Since(start).Seconds())
			for ; n < due && n < total; n++ {
				port := uint16(10000 + n%50000)
				binary.BigEndian.PutUint16(frame[34:], port)
				binary.BigEndian.PutUint32(frame[38:], uint32(n)*2654435761)
				fixTCPChecksum(frame)
				if err := unix.Sendto(fd, frame, 0, sa); err != nil && err != syscall.ENOBUFS {
					done <- result{err: err}
					return
				}
			}
			time.Sleep(time.Millisecond)
		}
		done <- result{n: n, d: time.Since(start)}
	}()
	r := <-done
	if r.err != nil {
		t.Fatalf("flood: %v", r.err)
	}
	return r.n, r.d
}

// synFrame is an Ethernet/IPv4/TCP SYN from the client to the server's
// port 8080 (ports, sequence number and checksum are set per frame).
func synFrame(src, dst net.HardwareAddr) []byte {
	f := make([]byte, 14+20+20)
	copy(f[0:], dst)
	copy(f[6:], src)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0], ip[8], ip[9] = 0x45, 64, 6
	binary.BigEndian.PutUint16(ip[2:], 40)
	copy(ip[12:], net.ParseIP(liveCliAddr).To4())
	copy(ip[16:], net.ParseIP(liveSrvAddr).To4())
	binary.BigEndian.PutUint16(ip[10:], ^checksum(0, ip))
	tcp := f[34:]
	binary.BigEndian.PutUint16(tcp[2:], 8080)
	tcp[12], tcp[13] = 5<<4, 0x02
	binary.BigEndian.PutUint16(tcp[14:], 64240)
	return f
}

func fixTCPChecksum(f []byte) {
	tcp := f[34:]
	tcp[16], tcp[17] = 0, 0
	var pseudo [12]byte
	copy(pseudo[0:], f[26:34])
	pseudo[9] = 6
	binary.BigEndian.PutUint16(pseudo[10:], uint16(len(tcp)))
	binary.BigEndian.PutUint16(tcp[16:], ^checksum(checksumRaw(0, pseudo[:]), tcp))
}

func checksumRaw(sum uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	return sum
}

func checksum(sum uint32, b []byte) uint16 {
	sum = checksumRaw(sum, b)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}
