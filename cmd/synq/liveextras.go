package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/synq/synq/analyze"
	"github.com/synq/synq/kernel"
	"github.com/synq/synq/kernel/droptrace"
	"github.com/synq/synq/live"
	"github.com/synq/synq/metrics"
	"github.com/synq/synq/reassemble"
)

// liveExtras are synq live's optional evidence and outputs: the kernel's
// drop reasons (--kernel: the session reads them, this only opens the
// tracer) and the Prometheus endpoint (--metrics, fed by the session's
// hooks).
type liveExtras struct {
	exporter *metrics.Exporter
	server   *http.Server
}

// setupLiveExtras opens what opts ask for and sets cfg's kernel source and
// hooks. Kernel reasons that cannot be had are one line on standard
// error, and the run goes on without them; a metrics address that cannot
// be listened on is a usage error.
func setupLiveExtras(opts *LiveOptions, cfg *live.Config) (*liveExtras, error) {
	x := &liveExtras{}
	if opts.Metrics != "" {
		ln, err := net.Listen("tcp", opts.Metrics)
		if err != nil {
			return nil, usageErrorf("--metrics %s: %v", opts.Metrics, err)
		}
		x.exporter = metrics.New(opts.Version)
		mux := http.NewServeMux()
		mux.Handle("/metrics", x.exporter.Handler())
		x.server = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = x.server.Serve(ln) }()
		fmt.Fprintf(opts.IO.ErrOut, "synq live: Prometheus metrics on http://%s/metrics\n", ln.Addr())
		now := cfg.Now
		nextAttempt, nextInterval := cfg.OnAttempt, cfg.OnInterval
		cfg.OnAttempt = func(a *reassemble.Attempt) {
			if !a.MidStream {
				x.exporter.Attempt(a.Server, analyze.Classify(a, now().UnixNano()))
			}
			if nextAttempt != nil {
				nextAttempt(a)
			}
		}
		cfg.OnInterval = func(iv live.Interval) error {
			x.exporter.Interval(iv)
			if nextInterval != nil {
				return nextInterval(iv)
			}
			return nil
		}
	}
	if opts.Kernel {
		w, err := droptrace.Open(cfg.Ports)
		switch {
		case errors.Is(err, kernel.ErrPermission), errors.Is(err, kernel.ErrUnsupported):
			fmt.Fprintf(opts.IO.ErrOut, "synq live: no kernel drop reasons (%v); going on with packets and counters\n", err)
		case err != nil:
			fmt.Fprintf(opts.IO.ErrOut, "synq live: no kernel drop reasons: %v; going on with packets and counters\n", err)
		default:
			cfg.Kernel = w
			if x.exporter != nil {
				x.exporter.KernelTraced()
				cfg.OnKernelDrop = x.exporter.KernelDrop
			}
		}
	}
	return x, nil
}

// close stops the endpoint.
func (x *liveExtras) close() {
	if x.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = x.server.Shutdown(ctx)
	}
}
