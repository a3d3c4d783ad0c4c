package report

import (
	"fmt"
	"strings"

	"github.com/synq/synq/capture"
	"github.com/synq/synq/reassemble"
)

// emptyHints explains a report with no connection attempt in it: what the
// capture held instead and the flag that would open it. With attempts, it
// says only when --port/--server left out more SYNs than it kept.
func emptyHints(in *Input) []string {
	r := &in.Result
	if r.Attempts > 0 {
		return nearEmptyHints(in)
	}
	cs := &in.Capture
	var out []string
	if cs.Filter != "" && cs.Filtered > 0 {
		out = append(out, fmt.Sprintf("The filter '%s' left out %s of the %s frames: loosen it, or leave it out.",
			Sanitize(cs.Filter), count(int(cs.Filtered)), count(int(cs.Packets))))
	}
	if sk := in.Tracker.SkippedListeners; len(sk) > 0 {
		out = append(out, fmt.Sprintf("SYNs went to listeners that --port/--server left out: %s. Name one of them (--port %d), or leave the filter out.",
			skippedList(sk), sk[0].Listener.Port()))
	}
	for _, u := range cs.UDPPorts {
		if u.VXLANLike*2 >= u.Packets && u.Packets > 0 {
			out = append(out, fmt.Sprintf("UDP to port %d (%s datagrams) looks like VXLAN: if this is an overlay's underlay (Flannel and Linux use 8472), add --vxlan-port %d to follow the TCP inside it.",
				u.Port, count(int(u.Packets)), u.Port))
		}
	}
	if n := in.Tracker.MidStreamSYNACK; n >= 3 && 2*n >= r.MidStream && len(r.Listeners) > 0 {
		// Not connections begun before the capture: a SYN-ACK is
		// the second packet of a handshake (a capture of 'tcpdump -Q
		// out' read as 5 connections already open).
		out = append(out, fmt.Sprintf("%s connections began with the server's SYN-ACK, and the capture holds no SYN from any client: it has the servers' packets only (tcpdump -Q out, a filter such as 'src port %d', a one-way mirror), and shows nothing of what the clients sent. Capture both directions.",
			count(n), r.Listeners[0].Server.Port()))
	} else if r.MidStream > 0 {
		out = append(out, fmt.Sprintf("%s connections were already open when the capture started, and no handshake is in it: synq judges connection attempts, so capture while clients connect (during the incident, and from before it starts).", count(r.MidStream)))
	}
	if cs.TCPPackets == 0 && cs.Truncated > 0 && capture.ShortSnaplen(cs.MinSnaplen()) {
		out = append(out, fmt.Sprintf("The snap length (%d bytes kept of each frame) cut %s of the %s frames before their TCP header: capture again with tcpdump -s 128 or more.",
			cs.MinSnaplen(), count(int(cs.Truncated)), count(int(cs.Packets))))
	}
	if cs.Packets > 0 && cs.TCPPackets == 0 && len(out) == 0 {
		var what []string
		for _, u := range cs.UDPPorts {
			what = append(what, fmt.Sprintf("UDP to port %d (%s)", u.Port, count(int(u.Packets))))
		}
		if n := cs.Fragments; n > 0 {
			what = append(what, fmt.Sprintf("%s IP fragments", count(int(n))))
		}
		if n := cs.UnsupportedLink; n > 0 {
			what = append(what, fmt.Sprintf("%s frames of a link type synq does not decode", count(int(n))))
		}
		msg := fmt.Sprintf("None of the %s packets is TCP (link types: %s).", count(int(cs.Packets)), strings.Join(cs.LinkTypes, ", "))
		if len(what) > 0 {
			msg = fmt.Sprintf("None of the %s packets is TCP; the capture holds %s (link types: %s).", count(int(cs.Packets)), strings.Join(what, ", "), strings.Join(cs.LinkTypes, ", "))
		}
		out = append(out, msg+" Was the capture filter (or the interface) the one meant?")
	}
	return out
}

// nearEmptyHints: attempts were found, but the filter left out more SYNs
// than it kept, so the listener in trouble may be one of the others.
func nearEmptyHints(in *Input) []string {
	sk := in.Tracker.SkippedListeners
	left := 0
	for _, l := range sk {
		left += l.SYNs
	}
	if left <= in.Result.Attempts {
		return nil
	}
	return []string{fmt.Sprintf("--port/--server kept %s attempts and left out more SYNs, to %s: if the trouble is there, name it (--port %d).",
		count(in.Result.Attempts), skippedList(sk), sk[0].Listener.Port())}
}

// skippedList names the listeners left out, with their SYNs.
func skippedList(sk []reassemble.ListenerSYNs) string {
	names := make([]string, len(sk))
	for i, l := range sk {
		names[i] = fmt.Sprintf("%s (%s SYNs)", l.Listener, count(l.SYNs))
	}
	return strings.Join(names, ", ")
}
