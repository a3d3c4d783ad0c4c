package live

import (
	"errors"
	"fmt"

	"github.com/synq/synq/capture"
)

// Kind says whose problem an error of Run is, so that a caller can choose
// an exit status without matching messages.
type Kind int

const (
	// KindUsage: the Config asks for something impossible.
	KindUsage Kind = iota + 1
	// KindInput: the capture, the kernel counters, the sysctls or the
	// listen queues could not be read.
	KindInput
	// KindOutput: the bundle could not be written.
	KindOutput
	// KindPermission: not permitted to capture (needs root or
	// CAP_NET_RAW).
	KindPermission
)

func (k Kind) String() string {
	switch k {
	case KindUsage:
		return "usage"
	case KindInput:
		return "input"
	case KindOutput:
		return "output"
	case KindPermission:
		return "permission"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is an error of Run's own. Its message is the wrapped error's, as
// the user should read it.
type Error struct {
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrPermission) hold for every error of
// KindPermission, whatever the capture's own message.
func (e *Error) Is(target error) bool { return target == ErrPermission && e.Kind == KindPermission }

// ErrPermission matches (errors.Is) Run's error when it may not capture.
// It wraps capture.ErrNeedPrivilege, and so does that error.
var ErrPermission = fmt.Errorf("live: %w", capture.ErrNeedPrivilege)

// KindOf is the Kind of an error of Run; 0 for an error that is not its
// own (a hook's, returned as it was).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func inputErr(err error) error  { return &Error{Kind: KindInput, Err: err} }
func outputErr(err error) error { return &Error{Kind: KindOutput, Err: err} }
