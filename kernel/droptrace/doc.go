// Package droptrace loads an eBPF program on the kfree_skb tracepoint
// that reports, through a ring buffer, every TCP packet the kernel drops
// to or from the listener ports in synq's network namespace, with the
// kernel's drop reason. Linux 5.17 or later with BTF; elsewhere Open
// returns kernel.ErrUnsupported.
package droptrace
