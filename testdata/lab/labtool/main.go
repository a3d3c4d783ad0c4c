// Command labtool is a helper for testdata/lab/run.sh. It runs inside the
// network namespaces that run.sh creates and provides:
//
//	serve     a TCP listener with an explicit listen(2) backlog that either
//	          never accepts or accepts, reads once, replies and closes;
//	connect   a bounded set of TCP clients;
//	relay     an AF_PACKET layer-2 relay between two interfaces that delays
//	          frames (there is no sch_netem) and can drop client SYNs;
//	vlantag   attaches tcx BPF programs that push an 802.1Q tag on egress and
//	          pop it on ingress (there is no 8021q module nor act_vlan);
//	tcdrop    attaches a tcx BPF program that drops one source's SYNs on
//	          ingress (there is no cls_flower nor act_gact);
//	synflood  sends a bounded number of SYNs from spoofed source addresses;
//	proxy     a TCP reverse proxy that connects to one backend per client.
//
// It is test tooling only; it is not part of synq.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	args := os.Args[2:]
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(args)
	case "connect":
		err = connect(args)
	case "relay":
		err = relay(args)
	case "vlantag":
		err = vlantag(args)
	case "tcdrop":
		err = tcdrop(args)
	case "synflood":
		err = synflood(args)
	case "proxy":
		err = proxy(args)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "labtool %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: labtool serve|connect|relay|vlantag|tcdrop|synflood|proxy [flags]")
	os.Exit(2)
}
