//go:build !linux

package droptrace

import (
	"fmt"

	"github.com/synq/synq/kernel"
)

// Watcher is not available on this system.
type Watcher struct{}

// Open reports that drop reasons need Linux.
func Open([]uint16) (*Watcher, error) {
	return nil, fmt.Errorf("%w: not Linux", kernel.ErrUnsupported)
}

// Read never returns a drop.
func (*Watcher) Read() (kernel.Drop, error) { return kernel.Drop{}, kernel.ErrUnsupported }

// Flush does nothing.
func (*Watcher) Flush() error { return nil }

// Lost is always 0.
func (*Watcher) Lost() uint64 { return 0 }

// Close does nothing.
func (*Watcher) Close() error { return nil }
