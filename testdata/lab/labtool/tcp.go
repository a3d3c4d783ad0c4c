package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// serve listens with an explicit backlog (net.Listen always uses somaxconn).
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", "", "listen address ip:port")
	backlog := fs.Int("backlog", 4096, "listen(2) backlog")
	accept := fs.Bool("accept", true, "accept connections (false: never call accept)")
	reply := fs.String("reply", "ok\n", "reply written after the first read")
	readTimeout := fs.Duration("read-timeout", 5*time.Second, "per-connection read timeout")
	deferAccept := fs.Duration("defer-accept", 0, "TCP_DEFER_ACCEPT (rounded to seconds)")
	acceptDelay := fs.Duration("accept-delay", 0, "sleep this long after each accept() before the next (a slow application)")
	duration := fs.Duration("duration", 30*time.Second, "exit after this long")
	reusePort := fs.Bool("reuseport", false, "set SO_REUSEPORT (several listeners on one port)")
	readBytes := fs.Int("read-bytes", 0, "read until this many bytes (or EOF) before replying (0: one read)")
	reset := fs.Bool("reset", false, "close every accepted connection at once with a reset (SO_LINGER 0), as an application at its connection limit does")
	fastOpen := fs.Int("fastopen", 0, "TCP_FASTOPEN queue length (0: off); the namespace needs net.ipv4.tcp_fastopen with the server bit (2)")
	dualStack := fs.Bool("dual-stack", false, "for an IPv6 address, clear IPV6_V6ONLY: one socket takes IPv4 clients too (Go's \":port\", Java, nginx's ipv6only=off)")
	fs.Parse(args)

	ap, err := netip.ParseAddrPort(*addr)
	if err != nil {
		return err
	}
	var sa unix.Sockaddr
	family := unix.AF_INET
	if ap.Addr().Is4() {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return err
	}
	if *reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return err
		}
	}
	if family == unix.AF_INET6 {
		v6only := 1
		if *dualStack {
			v6only = 0
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only); err != nil {
			return err
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("bind %s: %w", *addr, err)
	}
	if *deferAccept > 0 {
		secs := int((*deferAccept + time.Second - 1) / time.Second)
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, secs); err != nil {
			return err
		}
	}
	if *fastOpen > 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_FASTOPEN, *fastOpen); err != nil {
			return err
		}
	}
	if err := unix.Listen(fd, *backlog); err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), "listener")
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "serve: listening on %s backlog=%d accept=%v defer-accept=%v accept-delay=%v reuseport=%v read-bytes=%d reset=%v dual-stack=%v\n", *addr, *backlog, *accept, *deferAccept, *acceptDelay, *reusePort, *readBytes, *reset, *dualStack)

	done := make(chan os.Signal, 1)
	signal.Notify(done, syscall.SIGINT, syscall.SIGTERM)
	if *accept {
		go func() {
			n := 0
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				n++
				if *reset {
					c.(*net.TCPConn).SetLinger(0)
					c.Close()
					continue
				}
				go func(c net.Conn) {
					defer c.Close()
					buf := make([]byte, 1024)
					c.SetReadDeadline(time.Now().Add(*readTimeout))
					got := 0
					for {
						n, err := c.Read(buf)
						got += n
						if err != nil && (got == 0 || *readBytes == 0) {
							return
						}
						if err != nil || got >= *readBytes {
							break
						}
					}
					io.WriteString(c, *reply)
				}(c)
				// A slow application: sleep before the next accept(2)
				// (the first connection is taken at once). The kernel's
				// accept queue is only drained by accept: Go's Accept
				// calls accept4 directly and parks in the netpoller on
				// EAGAIN, so the queue waits meanwhile.
				time.Sleep(*acceptDelay)
			}
		}()
	}
	select {
	case <-time.After(*duration):
	case <-done:
	}
	return nil
}

type result struct {
	local    string
	connErr  error
	connTime time.Duration
	sendErr  error
	readInfo string
}

// connect runs n clients, starting one every -interval, at most -parallel at a time.
func connect(args []string) error {
	fs := flag.NewFlagSet("connect", flag.ExitOnError)
	addr := fs.String("addr", "", "server ip:port")
	n := fs.Int("n", 1, "number of clients")
	parallel := fs.Int("parallel", 0, "max concurrent clients (0: n)")
	interval := fs.Duration("interval", 0, "delay between client starts")
	send := fs.String("send", "", "data to send after connecting (empty: none)")
	sendDelay := fs.Duration("send-delay", 0, "wait this long after connect before sending")
	read := fs.Bool("read", false, "read the reply (until EOF or -hold)")
	hold := fs.Duration("hold", 0, "keep the connection open this long (bound for -read)")
	timeout := fs.Duration("timeout", 10*time.Second, "connect timeout")
	linger0 := fs.Bool("linger0", false, "close with RST (SO_LINGER 0)")
	bind := fs.String("bind", "", "comma-separated local IPs, used round robin")
	label := fs.String("label", "client", "label for the log")
	sport := fs.Int("sport", 0, "fixed local port (SO_REUSEADDR; retried while the previous socket with that port still exists)")
	sendSize := fs.Int("send-size", 0, "send this many bytes ('x') instead of -send")
	keepalive := fs.Duration("keepalive", 0, "TCP keepalive: a probe after this long idle and every this long after (0: off), as connection pools keep idle connections alive")
	fastOpen := fs.Bool("fastopen", false, "TCP Fast Open (TCP_FASTOPEN_CONNECT): with a cookie cached from an earlier connection, the first -send goes in the SYN")
	fs.Parse(args)
	if *sendSize > 0 {
		*send = strings.Repeat("x", *sendSize)
	}
	if *parallel <= 0 {
		*parallel = *n
	}
	var binds []string
	if *bind != "" {
		binds = strings.Split(*bind, ",")
	}
	res := make([]result, *n)
	sem := make(chan struct{}, *parallel)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < *n; i++ {
		if i > 0 && *interval > 0 {
			time.Sleep(*interval)
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			r := &res[i]
			d := net.Dialer{Timeout: *timeout, KeepAlive: -1}
			if *keepalive > 0 {
				d.KeepAliveConfig = net.KeepAliveConfig{Enable: true, Idle: *keepalive, Interval: *keepalive, Count: 9}
			}
			if len(binds) > 0 {
				ip := net.ParseIP(binds[i%len(binds)])
				d.LocalAddr = &net.TCPAddr{IP: ip}
			}
			if *sport > 0 {
				la, _ := d.LocalAddr.(*net.TCPAddr)
				if la == nil {
					la = &net.TCPAddr{}
				}
				la.Port = *sport
				d.LocalAddr = la
			}
			if *sport > 0 || *fastOpen {
				d.Control = func(network, address string, rc syscall.RawConn) error {
					var serr error
					rc.Control(func(fd uintptr) {
						if *sport > 0 {
							serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
						}
						if serr == nil && *fastOpen {
							serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_FASTOPEN_CONNECT, 1)
						}
					})
					return serr
				}
			}
			t0 := time.Now()
			c, err := d.Dial("tcp", *addr)
			// The previous socket with this port may still be closing.
			for try := 0; *sport > 0 && err != nil && try < 200 && (errors.Is(err, unix.EADDRINUSE) || errors.Is(err, unix.EADDRNOTAVAIL)); try++ {
				time.Sleep(time.Millisecond)
				t0 = time.Now()
				c, err = d.Dial("tcp", *addr)
			}
			r.connTime = time.Since(t0)
			if err != nil {
				r.connErr = err
				return
			}
			r.local = c.LocalAddr().String()
			tc := c.(*net.TCPConn)
			if *send != "" {
				time.Sleep(*sendDelay)
				_, r.sendErr = io.WriteString(c, *send)
			}
			if *read {
				c.SetReadDeadline(time.Now().Add(*hold))
				b, err := io.ReadAll(c)
				switch {
				case err == nil:
					r.readInfo = fmt.Sprintf("read %q then EOF", b)
				case errors.Is(err, os.ErrDeadlineExceeded):
					r.readInfo = fmt.Sprintf("read %q then hold expired", b)
				default:
					r.readInfo = fmt.Sprintf("read %q then %s", b, short(err))
				}
			} else if *hold > 0 {
				time.Sleep(*hold)
			}
			if *linger0 {
				tc.SetLinger(0)
			}
			c.Close()
		}(i)
	}
	wg.Wait()
	ok, failed := 0, 0
	for i, r := range res {
		if r.connErr != nil {
			failed++
			fmt.Printf("%s %2d: connect failed after %.1fs: %s\n", *label, i, r.connTime.Seconds(), short(r.connErr))
			continue
		}
		ok++
		line := fmt.Sprintf("%s %2d: connected from %s in %.1fs", *label, i, r.local, r.connTime.Seconds())
		if r.sendErr != nil {
			line += ", send: " + short(r.sendErr)
		}
		if r.readInfo != "" {
			line += ", " + r.readInfo
		}
		fmt.Println(line)
	}
	fmt.Printf("%s summary: %d connected, %d failed, %.1fs total\n", *label, ok, failed, time.Since(start).Seconds())
	return nil
}

func short(err error) string {
	var se syscall.Errno
	if errors.As(err, &se) {
		return unix.ErrnoName(se)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return err.Error()
}

// proxy is a reverse proxy as nginx or HAProxy runs one: it accepts every
// client at once and connects to the backend for it, answering 502 and
// closing when the backend does not answer in time.
func proxy(args []string) error {
	fs := flag.NewFlagSet("proxy", flag.ExitOnError)
	addr := fs.String("addr", "", "listen address ip:port")
	backend := fs.String("backend", "", "backend address ip:port")
	timeout := fs.Duration("timeout", 4*time.Second, "connect timeout to the backend")
	duration := fs.Duration("duration", 30*time.Second, "exit after this long")
	fs.Parse(args)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "proxy: listening on %s, backend %s, connect timeout %v\n", *addr, *backend, *timeout)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				b, err := net.DialTimeout("tcp", *backend, *timeout)
				if err != nil {
					fmt.Fprintf(os.Stderr, "proxy: %s: %v\n", c.RemoteAddr(), err)
					c.Write([]byte("HTTP/1.0 502 Bad Gateway\r\n\r\n"))
					return
				}
				defer b.Close()
				// A backend that never accepts never answers either.
				b.SetDeadline(time.Now().Add(10 * time.Second))
				back := make(chan struct{})
				go func() {
					io.Copy(c, b)
					c.(*net.TCPConn).CloseWrite()
					close(back)
				}()
				io.Copy(b, c)
				b.(*net.TCPConn).CloseWrite()
				<-back
			}(c)
		}
	}()
	done := make(chan os.Signal, 1)
	signal.Notify(done, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(*duration):
	}
	return ln.Close()
}
