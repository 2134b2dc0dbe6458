package stream

import (
	"errors"
	"fmt"
	"strings"
)

// ErrEmpty is returned by [First] when its input closes before any element arrived.
var ErrEmpty = errors.New("stream: empty stream")

// ErrStopped is the cause of the pipeline context's cancellation after
// [Pipeline.Stop]: context.Cause(p.Context()) reports it. [Pipeline.Wait] never
// returns it; a stopped pipeline ends with nil.
var ErrStopped = errors.New("stream: pipeline stopped")

// Error is a stage failure: the error a stage's function returned or the
// [*PanicError] it raised, with the name of the stage. [Pipeline.Wait] returns
// the first one. errors.Is and errors.As reach the cause through Unwrap.
type Error struct {
	Stage string // the stage's name, as in [Pipeline.Stats]
	Err   error  // the cause
}

func (e *Error) Error() string {
	return "stream: stage " + e.Stage + ": " + strings.TrimPrefix(e.Err.Error(), "stream: ")
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// PanicError is a panic recovered in a stage, turned into an error. It is
// always wrapped in an [*Error] naming the stage.
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the panicking goroutine's stack, as runtime/debug.Stack reports it
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("stream: panic: %v", e.Value)
}

// Unwrap returns the panic value when it is an error, so errors.Is reaches it.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// ErrGoexit is the cause of the error a stage fails with when a function
// it called did not return: it called [runtime.Goexit], as t.FailNow and
// testify's require do in a test, or (with GODEBUG=panicnil=1) panicked
// with nil. The goroutine cannot be saved, but the pipeline fails instead of
// ending as if the stream were complete.
var ErrGoexit = errors.New("stream: a function called runtime.Goexit or panicked with nil")

// ErrLateEmit is the cause of the error a stage fails with when the emit
// function of [Generate] or [FlatMap] is called after the function it was
// given to returned (from a goroutine that function started, say). emit
// returns it too. Like iter's yield, emit may be called only from the
// goroutine running the function, while it runs.
var ErrLateEmit = errors.New("stream: emit called after its function returned")

// errDone is returned internally by sends and receives when the stage's
// context is done: the stage ends without reporting anything.
var errDone = errors.New("stream: stage done")
