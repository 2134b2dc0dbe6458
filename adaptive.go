package stream

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// AdaptiveWorkers is an engine policy like Timeout and Retry: the consume
// loop gates its workers with it, and the policy wrapper measures calls.

// AdaptiveWorkers lets a stage run between min and max concurrent calls of
// its function, adjusted by AIMD (additive increase, multiplicative
// decrease) on the calls' latency: after every round of as many calls as
// the current limit (counting only calls started under that limit), if
// their mean latency is at most target the limit grows by one, else it
// shrinks by a quarter (at least one). The stage
// starts at min. It suits a function that calls a service whose latency
// grows with load: the stage finds the concurrency the service sustains
// within target. It runs max goroutines, of which those above the limit
// wait. It applies to Map, Filter, FlatMap and ForEach and replaces
// [Workers]; the current limit is [StageStats].Limit. min < 1, max < min or
// max > 65536 or target <= 0 panics.
func AdaptiveWorkers(min, max int, target time.Duration) Option {
	if min < 1 || max < min {
		panic("stream: AdaptiveWorkers: need 1 <= min <= max")
	}
	checkMax(max, maxWorkers, "AdaptiveWorkers")
	if target <= 0 {
		panic("stream: AdaptiveWorkers: non-positive target")
	}
	params := adaptiveParams{min: min, max: max, target: target}
	return optionFunc(func(c *config) {
		// Applied once per stage: every stage gets its own controller.
		c.adaptive = &adaptive{adaptiveParams: params}
		c.adaptive.init()
		c.workers = max
		c.set |= usesPolicy
	})
}

type adaptiveParams struct {
	min, max int
	target   time.Duration
}

// adaptive is one stage's AIMD controller.
type adaptive struct {
	adaptiveParams
	limit     atomic.Int32
	gen       atomic.Uint64 // bumped at every change of limit
	exhausted atomic.Bool   // the input is closed: parked workers must end too

	mu    sync.Mutex // guards the round and wake
	sum   time.Duration
	calls int
	wake  chan struct{} // closed when the limit grows
}

func (a *adaptive) init() {
	a.limit.Store(int32(a.min))
	a.wake = make(chan struct{})
}

// gate parks worker w while its index is at or above the limit, until the
// limit grows or the input is exhausted.
func (a *adaptive) gate(w *worker) error {
	for w.id >= int(a.limit.Load()) && !a.exhausted.Load() {
		a.mu.Lock()
		wake := a.wake
		a.mu.Unlock()
		if w.id < int(a.limit.Load()) || a.exhausted.Load() {
			return nil
		}
		// A parked worker is not busy: Stats counts it as waiting.
		w.wait()
		select {
		case <-wake:
		case <-w.done:
			w.woke()
			return errDone
		}
		w.woke()
	}
	return nil
}

// inputClosed wakes every parked worker, to find the input closed and end.
func (a *adaptive) inputClosed() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.exhausted.Swap(true) {
		close(a.wake)
	}
}

// record adds the latency of a call started under limit generation gen to
// the round, and ends the round when it has as many calls as the limit.
// Calls started under an earlier limit do not count: their latency reflects
// the old concurrency, and counting them makes the limit overshoot.
func (a *adaptive) record(d time.Duration, gen uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if gen != a.gen.Load() {
		return
	}
	a.sum += d
	a.calls++
	limit := int(a.limit.Load())
	if a.calls < limit {
		return
	}
	mean := a.sum / time.Duration(a.calls)
	a.sum, a.calls = 0, 0
	switch {
	case mean <= a.target && limit < a.max:
		a.limit.Store(int32(limit + 1))
		a.gen.Add(1)
		if !a.exhausted.Load() {
			close(a.wake)
			a.wake = make(chan struct{})
		}
	case mean > a.target && limit > a.min:
		a.limit.Store(int32(max(a.min, min(limit-1, limit*3/4))))
		a.gen.Add(1)
	}
}

// measure wraps call to record its latency.
func measure[T, U any](a *adaptive, w *worker, call stepFunc[T, U]) stepFunc[T, U] {
	return func(ctx context.Context, v T, emit func(U) error) error {
		gen, start := a.gen.Load(), time.Now()
		err := call(ctx, v, emit)
		a.record(time.Since(start), gen)
		return err
	}
}
