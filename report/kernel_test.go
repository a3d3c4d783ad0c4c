package report

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/synq/synq/analyze"
)

// TestKernelAccountInEveryFormat: a listener the kernel was traced on
// shows its reasons, the attempts they were, and the agreement, in the
// table, the page and JSON; one it was not traced on shows nothing and
// "kernel": null.
func TestKernelAccountInEveryFormat(t *testing.T) {
	traced := analyze.Listener{Server: netip.MustParseAddrPort("10.0.0.2:8080"), Attempts: 5,
		Kernel: &analyze.KernelDrops{
			Reasons:   []analyze.ReasonCount{{Reason: analyze.ReasonListenOverflow, Packets: 18}, {Reason: "TCP_FLAGS", Packets: 2}},
			Attempts:  2,
			ByOutcome: []analyze.OutcomeReason{{Outcome: analyze.ACKIgnored, Reason: analyze.ReasonListenOverflow, Packets: 18, Attempts: 2}},
			Unmatched: 2,
			Examples:  []analyze.KernelExample{{Client: "10.0.0.1:40000", Outcome: analyze.ACKIgnored, Reason: analyze.ReasonListenOverflow, Packets: 9}},
			Agreement: analyze.KernelAgreement{Agrees: true, Says: "The kernel agrees: it dropped packets as TCP_LISTEN_OVERFLOW 18."},
		}}
	traced.Outcomes[analyze.ACKIgnored] = 2
	traced.Outcomes[analyze.Established] = 3
	plain := analyze.Listener{Server: netip.MustParseAddrPort("10.0.0.2:9090"), Attempts: 1}
	plain.Outcomes[analyze.Established] = 1
	in := &Input{Result: analyze.Result{Listeners: []analyze.Listener{traced, plain}, Attempts: 6}}

	var table bytes.Buffer
	if err := WriteTable(&table, in); err != nil {
		t.Fatal(err)
	}
	flat := strings.Join(strings.Fields(table.String()), " ") // the table wraps long lines
	for _, want := range []string{
		"Kernel drop reasons for 10.0.0.2:8080",
		"TCP_LISTEN_OVERFLOW 18, TCP_FLAGS 2",
		"18 packets of 2 attempts synq classified ack_ignored: TCP_LISTEN_OVERFLOW",
		"2 dropped packets belong to no attempt",
		"10.0.0.1:40000 (ack_ignored, TCP_LISTEN_OVERFLOW x9)",
		"The kernel agrees",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if strings.Contains(flat, "Kernel drop reasons for 10.0.0.2:9090") {
		t.Error("the table shows a kernel account for a listener that had none")
	}

	var page bytes.Buffer
	if err := Render(&page, FormatHTML, in); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(page.String(), "Kernel drop reasons (eBPF, kfree_skb)"); n != 1 {
		t.Errorf("page has %d kernel sections, want 1", n)
	}

	var js bytes.Buffer
	if err := Render(&js, FormatJSON, in); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Listeners []struct {
			Kernel *struct {
				Reasons []struct {
					Reason  string `json:"reason"`
					Packets int    `json:"packets"`
				} `json:"reasons"`
				ByOutcome []struct {
					Outcome string `json:"outcome"`
				} `json:"by_outcome"`
				Agrees bool `json:"agrees"`
			} `json:"kernel"`
		} `json:"listeners"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	k := doc.Listeners[0].Kernel
	if k == nil || len(k.Reasons) != 2 || k.Reasons[0].Packets != 18 || k.ByOutcome[0].Outcome != "ack_ignored" || !k.Agrees {
		t.Errorf("JSON kernel: %+v", k)
	}
	if doc.Listeners[1].Kernel != nil {
		t.Errorf("JSON kernel for an untraced listener: %+v", doc.Listeners[1].Kernel)
	}
	if !bytes.Contains(js.Bytes(), []byte(`"kernel": null`)) {
		t.Error(`an untraced listener's JSON lacks "kernel": null`)
	}
}
