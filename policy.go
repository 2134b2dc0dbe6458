package stream

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// This file holds the per-element policies of the stages that call a user
// function (Map, Filter, FlatMap, ForEach): Timeout, Retry and OnError. They
// live in one wrapper around the operator's step, built once per worker,
// and cost nothing when unused.

// Timeout gives each call of the stage's function a context whose deadline
// is d from the call's start, or the pipeline's own deadline if that is
// earlier. The context is cancelled as soon as the call returns. A call that
// runs past it should return its context's error, which counts as the
// element's failure (and may be retried). Timeout does not stop, abandon or
// outrun a call: Go cannot interrupt a function, so the stage waits for it
// to return, and what it returns stands, even after the deadline (a late
// success is a success). It bounds the calls of a function that honours its
// context, and only those. d <= 0 panics.
func Timeout(d time.Duration) Option {
	if d <= 0 {
		panic("stream: Timeout: non-positive duration")
	}
	return optionFunc(func(c *config) { c.timeout = d; c.set |= usesPolicy })
}

// RetryPolicy says how a failed call of a stage's function is retried.
// Zero fields take the documented defaults.
type RetryPolicy struct {
	// Attempts is the number of calls per element, the first included:
	// Attempts 3 makes at most 2 retries. Default 3.
	Attempts int
	// Initial is the delay before the first retry. Default 100ms.
	Initial time.Duration
	// Max caps every delay. Default 10s; math.MaxInt64 means no cap.
	Max time.Duration
	// Multiplier grows the delay from one retry to the next. Default 2;
	// values below 1, NaN and infinities panic.
	Multiplier float64
	// Jitter spreads each delay uniformly over ±Jitter of its value, so
	// that failing elements do not retry in lockstep. Default 0.2; a
	// negative value means no jitter; values above 1 and NaN panic.
	Jitter float64
	// If reports whether an error is worth retrying. Default: every error
	// except the stage's context ending. Panics are never retried.
	If func(error) bool
}

// Retry retries a failed call of the stage's function per r. Waiting
// between attempts ends at once when the pipeline ends. Every retry is
// counted in [StageStats].Retried. With FlatMap, values an attempt emitted
// before it failed are not taken back. Invalid fields panic.
func Retry(r RetryPolicy) Option {
	switch {
	case r.Attempts < 0:
		panic("stream: Retry: negative Attempts")
	case r.Initial < 0 || r.Max < 0:
		panic("stream: Retry: negative delay")
	case math.IsNaN(r.Multiplier) || math.IsInf(r.Multiplier, 0):
		panic("stream: Retry: Multiplier is not finite")
	case r.Multiplier != 0 && r.Multiplier < 1:
		panic("stream: Retry: Multiplier below 1")
	case math.IsNaN(r.Jitter):
		panic("stream: Retry: Jitter is NaN")
	case r.Jitter > 1:
		panic("stream: Retry: Jitter above 1")
	}
	if r.Attempts == 0 {
		r.Attempts = 3
	}
	if r.Initial == 0 {
		r.Initial = 100 * time.Millisecond
	}
	if r.Max == 0 {
		r.Max = 10 * time.Second
	}
	if r.Multiplier == 0 {
		r.Multiplier = 2
	}
	switch {
	case r.Jitter == 0:
		r.Jitter = 0.2
	case r.Jitter < 0:
		r.Jitter = 0
	}
	return optionFunc(func(c *config) { c.retry = &r; c.set |= usesPolicy })
}

// delay returns the wait before retry number n (1 for the first). The
// arithmetic saturates at Max: a delay that overflows (Max math.MaxInt64,
// a growth past 2^63) is Max, never a negative or zero delay.
func (r *RetryPolicy) delay(n int) time.Duration {
	d := float64(r.Initial) * math.Pow(r.Multiplier, float64(n-1))
	if r.Jitter > 0 {
		d *= 1 + r.Jitter*(2*rand.Float64()-1)
	}
	// float64(r.Max) may round up past MaxInt64: compare, then convert
	// only a value known to fit.
	if !(d < float64(r.Max)) || d >= math.MaxInt64 {
		return r.Max
	}
	return max(time.Duration(d), 0)
}

// OnError decides what happens to an element whose function failed, after
// any retries: h returns nil to skip the element (it is counted in
// [StageStats].Errors and Skipped) or an error to fail the pipeline with it.
// T must be the stage's input element type: a mismatch panics when the
// stage is built. A nil h panics.
func OnError[T any](h func(item T, err error) error) Option {
	if h == nil {
		panic("stream: OnError: nil handler")
	}
	return optionFunc(func(c *config) { c.onError = h; c.set |= usesPolicy })
}

// typedOption returns a generic option's function for element type T, or
// nil if the option was not given; a function for another type panics.
func typedOption[F any](v any, option, kind string) F {
	var zero F
	if v == nil {
		return zero
	}
	f, ok := v.(F)
	if !ok {
		panic(fmt.Sprintf("stream: %s: %s takes %T, not %T", kind, option, zero, v))
	}
	return f
}

// policy is a stage's Timeout, Retry, OnError and AdaptiveWorkers, checked
// against its element type when the stage is built.
type policy[T any] struct {
	s       *stage
	onError func(T, error) error
}

// newPolicy returns the stage's policy, or nil when it has none. A generic
// option for another element type panics here, at construction.
func newPolicy[T any](s *stage) *policy[T] {
	onError := typedOption[func(T, error) error](s.cfg.onError, "OnError", s.kind)
	if s.cfg.timeout == 0 && s.cfg.retry == nil && onError == nil && s.cfg.adaptive == nil {
		return nil
	}
	return &policy[T]{s: s, onError: onError}
}

// wrap wraps an operator's step with the policy, for worker w. A nil
// policy returns step itself: unused options cost nothing.
func wrap[T, U any](pol *policy[T], w *worker, step stepFunc[T, U]) stepFunc[T, U] {
	if pol == nil {
		return step
	}
	cfg := &pol.s.cfg
	call := step
	if timeout := cfg.timeout; timeout > 0 {
		call = func(ctx context.Context, v T, emit func(U) error) error {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return step(ctx, v, emit)
		}
	}
	if a := cfg.adaptive; a != nil {
		call = measure(a, w, call)
	}
	retry, onError := cfg.retry, pol.onError
	return func(ctx context.Context, v T, emit func(U) error) error {
		for attempt := 1; ; attempt++ {
			err := call(ctx, v, emit)
			if err == nil || ctx.Err() != nil {
				return err // success, or the stage is done: no policy applies
			}
			if retry != nil && attempt < retry.Attempts && (retry.If == nil || retry.If(err)) {
				w.c.retried.Add(1)
				w.s.notify(Event{Kind: ElementRetried, Err: err, Attempt: attempt})
				if !sleep(ctx, retry.delay(attempt)) {
					return err
				}
				continue
			}
			if onError == nil {
				return err
			}
			if err := onError(v, err); err != nil {
				return err
			}
			// Counted before the observer hears of it: an observer that
			// does not return (Goexit) must not leave a told failure
			// uncounted.
			w.c.errors.Add(1)
			w.c.skipped.Add(1)
			w.s.notify(Event{Kind: ElementFailed, Err: err})
			return nil
		}
	}
}

// sleep waits for d or until ctx is done, and reports whether it waited
// the whole time. Its timer is stopped either way.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
