package analyze

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/synq/synq/host"
)

// oneWithPlural is a count of 1 followed by a plural ("1 SYNs were", "1
// attempts' SYNs"), with the adjectives our sentences put between them.
var oneWithPlural = regexp.MustCompile(`(?:^|[^\d,.-])1 (?:more |completed |half-open |client |listen |accept-queue |challenge |syncookie |cookie |handshake |TCP |ICMP destination-unreachable |passive |source |connection |such |other )*(SYNs|SYN-ACKs|attempts|connections|handshakes|packets|segments|ACKs|drops|overflows|resets|errors|clients|addresses|syncookies|retransmissions|listeners|others)\b`)

// ungrouped is a count of 10,000 or more printed without separators; ports
// follow a colon, and the backlog settings Sayf prints plain follow
// "about" or "like".
var ungrouped = regexp.MustCompile(`(?:^|[^\d,.:])(\d{5,})\b`)

// TestSentencesAgreeWithTheirCounts: every sentence a diagnosis can say,
// on listeners whose counts are 1 or 12,345 in random combinations, reads
// "1 SYN was" and "12,345 SYNs were", never "1 SYNs" or "12345". The
// listeners are not coherent captures: the point is to reach as many
// sentences as the causes have, with the counts they print.
func TestSentencesAgreeWithTheirCounts(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 6))
	values := []int64{0, 1, 1, 12345}
	counters := []string{"TcpExtListenOverflows", "TcpExtListenDrops", "TcpExtTCPReqQFullDrop",
		"TcpExtSyncookiesSent", "TcpExtSyncookiesRecv", "TcpOutRsts", "TcpExtTCPChallengeACK",
		"IcmpOutDestUnreachs", "TcpInCsumErrors", "TcpExtTCPDeferAcceptDrop",
		"TcpExtTCPReqQFullDoCookies", "TcpPassiveOpens"}
	seen := map[string]bool{}
	for i := range 4000 {
		l := Listener{Server: netip.MustParseAddrPort("10.0.0.2:8080")}
		randomCounts(reflect.ValueOf(&l).Elem(), rng, values)
		l.Server = netip.MustParseAddrPort("10.0.0.2:8080")
		l.Signs.TopUnansweredSource = netip.MustParseAddr("10.0.0.3")
		if i%3 == 0 {
			l.Signs.SamePort = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8080")}
		}
		l.Kernel = nil
		var h host.Host
		if i%2 == 1 {
			d := map[string]int64{}
			for _, c := range counters {
				d[c] = values[rng.IntN(len(values))]
			}
			h.Deltas = d
		}
		r := Result{Listeners: []Listener{l}, Attempts: l.Attempts}
		Diagnose(&r, &h)
		var texts []string
		for _, ls := range r.Listeners {
			d := &ls.Diagnosis
			for _, f := range append(append([]Finding{d.Verdict}, d.Findings...), d.RuledOut...) {
				texts = append(texts, f.Summary)
				texts = append(texts, f.Evidence...)
			}
		}
		for _, rc := range r.Reconciliation {
			texts = append(texts, rc.Note)
		}
		for _, s := range texts {
			if seen[s] {
				continue
			}
			seen[s] = true
			if m := oneWithPlural.FindString(s); m != "" {
				t.Errorf("%q: a count of 1 with a plural: %s", m, s)
			}
			for _, m := range ungrouped.FindAllStringSubmatchIndex(s, -1) {
				before := s[:m[2]]
				if strings.HasSuffix(before, "about ") || strings.HasSuffix(before, "like ") {
					continue
				}
				t.Errorf("%q printed without thousands separators: %s", s[m[2]:m[3]], s)
			}
		}
	}
	t.Logf("%d different sentences", len(seen))
	if len(seen) < 100 {
		t.Errorf("only %d different sentences: the random listeners reach too few causes", len(seen))
	}
}

// randomCounts sets every int and bool field of v, nested structs and
// arrays included, to a random value: ints from values, bools at random.
// Durations are int64 too, and take the same values in nanoseconds.
func randomCounts(v reflect.Value, rng *rand.Rand, values []int64) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				randomCounts(f, rng, values)
			}
		}
	case reflect.Array:
		for i := range v.Len() {
			randomCounts(v.Index(i), rng, values)
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(values[rng.IntN(len(values))])
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 0)
	}
}
