package report

import (
	"fmt"
	"strings"

	"github.com/synq/synq/analyze"
)

// The JSON "kernel" object of a listener: null unless synq live traced
// the kernel's drops (eBPF).
type jsonKernel struct {
	Reasons          []jsonReasonCount   `json:"reasons"`
	Attempts         int                 `json:"attempts"`
	ByOutcome        []jsonOutcomeReason `json:"by_outcome"`
	UnmatchedPackets int                 `json:"unmatched_packets"`
	Examples         []jsonKernelExample `json:"examples"`
	Agrees           bool                `json:"agrees"`
	Says             string              `json:"says"`
}

type jsonReasonCount struct {
	Reason  string `json:"reason"`
	Packets int    `json:"packets"`
}

type jsonOutcomeReason struct {
	Outcome  string `json:"outcome"`
	Reason   string `json:"reason"`
	Packets  int    `json:"packets"`
	Attempts int    `json:"attempts"`
}

type jsonKernelExample struct {
	Client  string `json:"client"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
	Packets int    `json:"packets"`
}

func kernelJSON(k *analyze.KernelDrops) *jsonKernel {
	if k == nil {
		return nil
	}
	j := &jsonKernel{Reasons: []jsonReasonCount{}, ByOutcome: []jsonOutcomeReason{}, Examples: []jsonKernelExample{},
		Attempts: k.Attempts, UnmatchedPackets: k.Unmatched, Agrees: k.Agreement.Agrees, Says: k.Agreement.Says}
	for _, r := range k.Reasons {
		j.Reasons = append(j.Reasons, jsonReasonCount{Reason: r.Reason, Packets: r.Packets})
	}
	for _, o := range k.ByOutcome {
		j.ByOutcome = append(j.ByOutcome, jsonOutcomeReason{Outcome: o.Outcome.String(), Reason: o.Reason, Packets: o.Packets, Attempts: o.Attempts})
	}
	for _, e := range k.Examples {
		j.Examples = append(j.Examples, jsonKernelExample{Client: e.Client, Outcome: e.Outcome.String(), Reason: e.Reason, Packets: e.Packets})
	}
	return j
}

// kernelLines is a listener's kernel account in sentences, for the
// table and the page: what the kernel dropped and why, which attempts
// those packets were, and whether that agrees with the verdict.
func kernelLines(k *analyze.KernelDrops) []string {
	if k == nil {
		return nil
	}
	var out []string
	if len(k.Reasons) == 0 {
		out = append(out, "The kernel reported no dropped packet on this listener.")
	} else {
		var rs []string
		for _, r := range k.Reasons {
			rs = append(rs, fmt.Sprintf("%s %s", r.Reason, count(r.Packets)))
		}
		out = append(out, "Dropped by the kernel (packets, by its reason): "+strings.Join(rs, ", ")+".")
	}
	for _, o := range k.ByOutcome {
		out = append(out, fmt.Sprintf("%s packets of %s attempts synq classified %s: %s.", count(o.Packets), count(o.Attempts), o.Outcome, o.Reason))
	}
	if k.Unmatched > 0 {
		out = append(out, fmt.Sprintf("%s dropped packets belong to no attempt synq followed (connections older than the capture, stray segments).", count(k.Unmatched)))
	}
	if len(k.Examples) > 0 {
		var es []string
		for _, e := range k.Examples {
			es = append(es, fmt.Sprintf("%s (%s, %s x%d)", e.Client, e.Outcome, e.Reason, e.Packets))
		}
		out = append(out, "For example: "+strings.Join(es, "; ")+".")
	}
	if k.Agreement.Says != "" {
		out = append(out, k.Agreement.Says)
	}
	return sanitizeAll(out)
}

// kernel prints each traced listener's kernel account.
func (p *printer) kernel(in *Input) {
	for i := range in.Result.Listeners {
		l := &in.Result.Listeners[i]
		lines := kernelLines(l.Kernel)
		if lines == nil {
			continue
		}
		p.line("")
		p.line("Kernel drop reasons for %s (eBPF, kfree_skb):", Sanitize(l.Server.String()))
		for _, s := range lines {
			p.wrap("  - ", s)
		}
	}
}
