//go:build !linux

package host

import "errors"

// QueueSampler needs Linux inet_diag.
type QueueSampler struct{}

// NewQueueSampler fails: inet_diag is Linux only.
func NewQueueSampler([]uint16) (*QueueSampler, error) {
	return nil, errors.New("listen queue sampling needs Linux (inet_diag)")
}

func (*QueueSampler) Sample(int64) ([]QueueSample, error) { return nil, nil }
func (*QueueSampler) Close() error                        { return nil }
