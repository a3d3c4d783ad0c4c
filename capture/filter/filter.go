// Package filter is synq's capture filter: tcpdump's filter language
// (pcap-filter(7)) for what an incident analyst filters on, matched on
// each frame's outer headers as tcpdump matches them, without libpcap.
//
// Why not a library: the Go modules that compile pcap filters either bind
// libpcap (cgo: the static binary for an incident host would need it) or
// compile to classic BPF for Ethernet only (github.com/packetcap/go-pcap,
// untagged since 2024), while synq reads Linux cooked (SLL, SLL2), raw IP
// and loopback captures too. Matching on parsed headers serves every link
// type synq reads and costs nothing when no filter is given.
//
// Supported: host, net (CIDR, "mask", or a dotted prefix as tcpdump takes
// "net 10.1"), port, portrange, each with src, dst, src or dst, src and
// dst; the protocols ip, ip6, tcp, udp, sctp, icmp, icmp6, arp, and "ip
// proto N", "ip6 proto N", "proto N"; vlan [ID]; and, or, not, &&, ||, !,
// parentheses, and tcpdump's shorthand that repeats the last qualifiers
// ("host a or b", "tcp port 80 or 443"). Not supported, with an error
// that says so: byte offsets (tcp[13]), arithmetic, names that need a
// resolver (hosts; a few well-known service names are known), ether and
// other link-level primitives.
//
// One difference from tcpdump: VLAN tags are looked through whether or
// not the expression says vlan (tcpdump needs "vlan and ..." before it
// looks inside a tagged frame in a file; on a live Linux interface the
// kernel has removed the tags already, so both agree there).
package filter

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("filter expression")

// Filter is a parsed expression; the zero value and nil match everything.
type Filter struct {
	root node
	text string
}

// String is the expression as given.
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.text
}

type nodeKind uint8

const (
	nAnd nodeKind = iota
	nOr
	nNot
	nProto  // proto: an L3 (ip, ip6, arp) or L4 protocol
	nHost   // addr, dir, family by addr
	nNet    // prefix, dir
	nPort   // lo..hi, dir, l4 (0: tcp, udp or sctp)
	nIPProt // l3 (0: either), number
	nVLAN   // id (-1: any)
)

type dir uint8

const (
	dirSrcOrDst dir = iota
	dirSrc
	dirDst
	dirSrcAndDst
)

// Protocol numbers and the layer-3 kinds.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
	protoSCTP   = 132

	l3Any  = 0
	l3IPv4 = 4
	l3IPv6 = 6
	l3ARP  = 7
)

type node struct {
	kind        nodeKind
	left, right *node
	dir         dir
	l3          uint8 // nProto, nIPProt, nHost/nNet/nPort qualifier (0: any)
	l4          uint8 // nProto (with l3 0), nPort qualifier (0: tcp, udp or sctp)
	prefix      netip.Prefix
	lo, hi      uint16
	num         int
}

// Parse parses expr; an empty expression gives a nil Filter (everything
// matches).
func Parse(expr string) (*Filter, error) {
	toks, err := tokenize(expr)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, nil
	}
	p := &parser{toks: toks}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		return nil, p.errf("unexpected %q", p.toks[p.i])
	}
	return &Filter{root: *n, text: strings.Join(strings.Fields(expr), " ")}, nil
}

func tokenize(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '(' || c == ')':
			out = append(out, string(c))
			i++
		case c == '!':
			if strings.HasPrefix(s[i:], "!=") {
				return nil, fmt.Errorf("%w: comparisons (!=) are not supported", ErrSyntax)
			}
			out = append(out, "not")
			i++
		case strings.HasPrefix(s[i:], "&&"):
			out = append(out, "and")
			i += 2
		case strings.HasPrefix(s[i:], "||"):
			out = append(out, "or")
			i += 2
		case c == '[' || c == ']' || c == '&' || c == '|' || c == '=' || c == '<' || c == '>' || c == '+' || c == '*':
			return nil, fmt.Errorf("%w: %q: byte offsets and arithmetic (tcp[13], len > 100) are not supported; use host, net, port, portrange, protocols, and, or, not", ErrSyntax, s[i:])
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n()!&|[]=<>", rune(s[j])) {
				j++
			}
			out = append(out, strings.ToLower(s[i:j]))
			i = j
		}
	}
	return out, nil
}

type parser struct {
	toks []string
	i    int
	// last is the last primitive's qualifiers, for "host a or b".
	last *node
}

func (p *parser) errf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSyntax, fmt.Sprintf(format, args...))
}

func (p *parser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *parser) next() string {
	t := p.peek()
	if t != "" {
		p.i++
	}
	return t
}

func (p *parser) or() (*node, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peek() == "or" {
		p.i++
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &node{kind: nOr, left: l, right: r}
	}
	return l, nil
}

func (p *parser) and() (*node, error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for p.peek() == "and" {
		p.i++
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		l = &node{kind: nAnd, left: l, right: r}
	}
	return l, nil
}

func (p *parser) not() (*node, error) {
	switch p.peek() {
	case "not":
		p.i++
		n, err := p.not()
		if err != nil {
			return nil, err
		}
		return &node{kind: nNot, left: n}, nil
	case "(":
		p.i++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.next() != ")" {
			return nil, p.errf("missing )")
		}
		return n, nil
	case "":
		return nil, p.errf("the expression ends where a primitive should be")
	}
	return p.primitive()
}

var protoNames = map[string]struct{ l3, l4 uint8 }{
	"ip": {l3IPv4, 0}, "ip6": {l3IPv6, 0}, "arp": {l3ARP, 0},
	"tcp": {0, protoTCP}, "udp": {0, protoUDP}, "sctp": {0, protoSCTP},
	"icmp": {l3IPv4, protoICMP}, "icmp6": {l3IPv6, protoICMPv6},
}

// services are the names tcpdump users write most; others need a number.
var services = map[string]uint16{
	"ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "http": 80, "www": 80,
	"pop3": 110, "imap": 143, "https": 443, "ldap": 389, "ldaps": 636, "mysql": 3306,
	"postgresql": 5432, "redis": 6379, "http-alt": 8080,
}

func (p *parser) primitive() (*node, error) {
	start := p.i
	var (
		l3, l4   uint8
		hasProto bool
		d        = dirSrcOrDst
		hasDir   bool
	)
	if pr, ok := protoNames[p.peek()]; ok {
		p.i++
		l3, l4, hasProto = pr.l3, pr.l4, true
	}
	switch p.peek() {
	case "src", "dst":
		hasDir = true
		d = dirSrc
		if p.next() == "dst" {
			d = dirDst
		}
		if t := p.peek(); t == "or" || t == "and" {
			if q := p.i + 1; q < len(p.toks) && (p.toks[q] == "src" || p.toks[q] == "dst") {
				p.i += 2
				d = dirSrcOrDst
				if t == "and" {
					d = dirSrcAndDst
				}
			}
		}
	}
	switch t := p.peek(); t {
	case "host", "net", "port", "portrange":
		p.i++
		n := &node{dir: d, l3: l3, l4: l4}
		if err := p.value(n, t); err != nil {
			return nil, err
		}
		p.last = n
		return n, nil
	case "proto":
		p.i++
		if hasDir || (hasProto && l3 == 0) {
			return nil, p.errf("proto takes ip or ip6 before it, nothing else")
		}
		num, err := p.protoNumber()
		if err != nil {
			return nil, err
		}
		return &node{kind: nIPProt, l3: l3, num: num}, nil
	case "vlan":
		if hasProto || hasDir {
			return nil, p.errf("vlan takes no qualifier")
		}
		p.i++
		n := &node{kind: nVLAN, num: -1}
		if v, err := strconv.Atoi(p.peek()); err == nil {
			if v < 0 || v > 4095 {
				return nil, p.errf("vlan %d: want 0 to 4095", v)
			}
			n.num = v
			p.i++
		}
		return n, nil
	}
	if hasProto && !hasDir {
		// A protocol alone: "tcp", "ip6".
		if t := p.peek(); t != "" && t != "and" && t != "or" && t != ")" {
			return nil, p.unknown(t)
		}
		return &node{kind: nProto, l3: l3, l4: l4}, nil
	}
	if hasDir {
		// "src 10.0.0.1": host by default.
		n := &node{dir: d, l3: l3, l4: l4}
		if err := p.value(n, "host"); err != nil {
			return nil, err
		}
		p.last = n
		return n, nil
	}
	// A bare value repeats the last primitive's qualifiers.
	if p.last != nil && p.i == start && looksLikeValue(p.peek()) {
		n := &node{dir: p.last.dir, l3: p.last.l3, l4: p.last.l4}
		kind := map[nodeKind]string{nHost: "host", nNet: "net", nPort: "port"}[p.last.kind]
		if p.last.kind == nPort && p.last.lo != p.last.hi {
			kind = "portrange"
		}
		if err := p.value(n, kind); err != nil {
			return nil, err
		}
		return n, nil
	}
	return nil, p.unknown(p.peek())
}

func looksLikeValue(t string) bool {
	if t == "" {
		return false
	}
	c := t[0]
	_, svc := services[t]
	return c >= '0' && c <= '9' || strings.Contains(t, ":") || svc
}

func (p *parser) unknown(t string) error {
	switch t {
	case "ether", "gateway", "broadcast", "multicast", "less", "greater", "len", "mpls", "pppoes", "geneve", "wlan", "type", "subtype":
		return p.errf("%q is not supported by synq's filter (host, net, port, portrange, src/dst, ip, ip6, tcp, udp, icmp, icmp6, proto, vlan, and, or, not)", t)
	}
	if t != "" && (t[0] >= 'a' && t[0] <= 'z') {
		return p.errf("%q: not a filter keyword; host names are not resolved: give an address (host 10.0.0.1)", t)
	}
	return p.errf("%q: expected a primitive such as host 10.0.0.1, port 80 or tcp", t)
}

func (p *parser) protoNumber() (int, error) {
	t := p.next()
	switch t {
	case "tcp":
		return protoTCP, nil
	case "udp":
		return protoUDP, nil
	case "icmp":
		return protoICMP, nil
	case "icmp6":
		return protoICMPv6, nil
	case "sctp":
		return protoSCTP, nil
	}
	n, err := strconv.Atoi(t)
	if err != nil || n < 0 || n > 255 {
		return 0, p.errf("proto %q: want a protocol number (0-255) or tcp, udp, icmp, icmp6, sctp", t)
	}
	return n, nil
}

// value reads the value of a host, net, port or portrange primitive.
func (p *parser) value(n *node, kind string) error {
	v := p.next()
	if v == "" || v == "and" || v == "or" || v == ")" {
		return p.errf("%s needs a value", kind)
	}
	switch kind {
	case "host":
		a, err := netip.ParseAddr(v)
		if err != nil {
			return p.errf("host %q: give an IPv4 or IPv6 address (names are not resolved)", v)
		}
		n.kind, n.prefix = nHost, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		if n.l4 != 0 {
			return p.errf("%s host: a host takes ip, ip6 or no protocol", protoName(n.l4))
		}
	case "net":
		pf, err := parseNet(v)
		if err != nil {
			return p.errf("net %q: %v", v, err)
		}
		if p.peek() == "mask" {
			p.i++
			m, err := netip.ParseAddr(p.next())
			if err != nil || !m.Is4() || !pf.Addr().Is4() {
				return p.errf("net %s mask: want an IPv4 mask such as 255.255.0.0", v)
			}
			bits := 0
			for _, b := range m.As4() {
				for ; b&0x80 != 0; b <<= 1 {
					bits++
				}
			}
			pf = netip.PrefixFrom(pf.Addr(), bits)
		}
		if pf.Masked() != pf {
			return p.errf("net %s: bits set past the prefix length (tcpdump refuses it too); did you mean %s?", v, pf.Masked())
		}
		n.kind, n.prefix = nNet, pf
		if n.l4 != 0 {
			return p.errf("%s net: a net takes ip, ip6 or no protocol", protoName(n.l4))
		}
	case "port", "portrange":
		lo, hi, err := parsePorts(v, kind == "portrange")
		if err != nil {
			return p.errf("%s %q: %v", kind, v, err)
		}
		n.kind, n.lo, n.hi = nPort, lo, hi
		if n.l4 != 0 && n.l4 != protoTCP && n.l4 != protoUDP && n.l4 != protoSCTP {
			return p.errf("%s %s: ports belong to tcp, udp or sctp", protoName(n.l4), kind)
		}
	}
	return nil
}

func protoName(l4 uint8) string {
	switch l4 {
	case protoTCP:
		return "tcp"
	case protoUDP:
		return "udp"
	case protoSCTP:
		return "sctp"
	case protoICMP:
		return "icmp"
	case protoICMPv6:
		return "icmp6"
	}
	return strconv.Itoa(int(l4))
}

// parseNet takes a CIDR, an address (a host-length prefix) or a dotted
// IPv4 prefix of 1 to 3 bytes ("10", "192.168").
func parseNet(v string) (netip.Prefix, error) {
	if strings.Contains(v, "/") {
		pf, err := netip.ParsePrefix(v)
		if err != nil {
			// tcpdump takes "10.1/16" too.
			a, bits, ok := strings.Cut(v, "/")
			if ok {
				if full, err2 := dottedPrefix(a); err2 == nil {
					if b, err3 := strconv.Atoi(bits); err3 == nil && b >= 0 && b <= 32 {
						return netip.PrefixFrom(full.Addr(), b), nil
					}
				}
			}
			return netip.Prefix{}, fmt.Errorf("want a network such as 10.0.0.0/8 or fd00::/8")
		}
		return netip.PrefixFrom(pf.Addr().Unmap(), pf.Bits()-map[bool]int{true: 96, false: 0}[pf.Addr().Is4In6()]), nil
	}
	if a, err := netip.ParseAddr(v); err == nil {
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	return dottedPrefix(v)
}

func dottedPrefix(v string) (netip.Prefix, error) {
	parts := strings.Split(v, ".")
	if len(parts) > 4 {
		return netip.Prefix{}, fmt.Errorf("want a network such as 10.0.0.0/8")
	}
	var b [4]byte
	for i, s := range parts {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 255 {
			return netip.Prefix{}, fmt.Errorf("want a network such as 10.0.0.0/8")
		}
		b[i] = byte(n)
	}
	return netip.PrefixFrom(netip.AddrFrom4(b), 8*len(parts)), nil
}

func parsePorts(v string, rng bool) (lo, hi uint16, err error) {
	one := func(s string) (uint16, error) {
		if n, ok := services[s]; ok {
			return n, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 65535 {
			return 0, fmt.Errorf("want a port number (0-65535)")
		}
		return uint16(n), nil
	}
	if !rng {
		p, err := one(v)
		return p, p, err
	}
	a, b, ok := strings.Cut(v, "-")
	if !ok {
		return 0, 0, fmt.Errorf("want a range such as 8000-8080")
	}
	if lo, err = one(a); err == nil {
		hi, err = one(b)
	}
	if err == nil && lo > hi {
		lo, hi = hi, lo // tcpdump swaps them too
	}
	return lo, hi, err
}
