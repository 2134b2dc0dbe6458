package stream

import (
	"context"
	"errors"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// ErrOverflow is the cause of the error a [Buffer] with the [Fail] policy
// returns when it is full.
var ErrOverflow = errors.New("stream: buffer overflow")

// Overflow is what a [Buffer] does with an element that arrives when it is
// full.
type Overflow int

const (
	// Block waits for room: the producer slows to the consumer's pace.
	Block Overflow = iota
	// DropNewest discards the arriving element.
	DropNewest
	// DropOldest discards the oldest buffered element to make room.
	DropOldest
	// Fail fails the pipeline with [ErrOverflow].
	Fail
)

func (o Overflow) String() string {
	switch o {
	case Block:
		return "Block"
	case DropNewest:
		return "DropNewest"
	case DropOldest:
		return "DropOldest"
	case Fail:
		return "Fail"
	}
	return "Overflow(" + strconv.Itoa(int(o)) + ")"
}

// OnDrop calls fn with every element a stage drops: a [Buffer] by its
// overflow policy, a [Partition] or [FanOut] for an output whose consumer
// released it. fn runs in the stage's goroutine and should be quick. T must
// be the stage's element type: a mismatch panics when the stage is built. A
// nil fn panics.
func OnDrop[T any](fn func(T)) Option {
	if fn == nil {
		panic("stream: OnDrop: nil function")
	}
	return optionFunc(func(c *config) { c.onDrop = fn; c.set |= usesDrop })
}

// Buffer passes the elements of in on through a buffer of size elements,
// and applies overflow when the buffer is full: it blocks, drops the newest
// or the oldest element, or fails the pipeline with [ErrOverflow]. Every
// dropped element is counted in [StageStats].Dropped and passed to [OnDrop]
// if given; [StageStats].Out counts every element put in the buffer, so
// with DropOldest what the consumer reads is Out − Dropped. Memory is
// bounded by size. With DropNewest, DropOldest or Fail the stage never
// blocks, so its output may also be read after the pipeline has ended. It runs one goroutine; its output closes when in closes.
// size < 1 or an unknown policy panics; [Capacity] does not apply (size is
// the capacity).
func Buffer[T any](p *Pipeline, in <-chan T, size int, overflow Overflow, opts ...Option) <-chan T {
	checkPipeline(p)
	checkInput(in, "Buffer")
	if size < 1 {
		panic("stream: Buffer: size must be at least 1")
	}
	if overflow < Block || overflow > Fail {
		panic("stream: Buffer: unknown overflow policy " + overflow.String())
	}
	cfg := typedConfig[T]("buffer", opts, usesDrop)
	cfg.capacity = size
	s := p.addStage("buffer", cfg, []any{in})
	out := output[T](s)
	onDrop := typedOption[func(T)](cfg.onDrop, "OnDrop", s.kind)
	consume(s, []<-chan T{in}, func(w *worker) func(context.Context, T) error {
		drop := func(v T) { dropped(w, onDrop, v) }
		trySend := func(v T) bool {
			select {
			case out <- v:
				w.sent()
				return true
			default:
				return false
			}
		}
		switch overflow {
		case DropNewest:
			return func(_ context.Context, v T) error {
				if !trySend(v) {
					drop(v)
				}
				return nil
			}
		case DropOldest:
			return func(_ context.Context, v T) error {
				for !trySend(v) {
					select {
					case old := <-out:
						drop(old)
					default: // the consumer made room meanwhile
					}
				}
				return nil
			}
		case Fail:
			return func(_ context.Context, v T) error {
				if !trySend(v) {
					return ErrOverflow
				}
				return nil
			}
		default:
			return func(_ context.Context, v T) error { return send(w, out, v, w.done) }
		}
	})
	return out
}

// Throttle passes the elements of in on at most perSecond per second on
// average, with bursts of up to burst elements, using a token bucket
// (golang.org/x/time/rate). Waiting for a token ends at once when the
// pipeline ends. It runs one goroutine; its output closes when in closes.
// perSecond <= 0 (or not finite) or burst < 1 panics.
func Throttle[T any](p *Pipeline, in <-chan T, perSecond float64, burst int, opts ...Option) <-chan T {
	checkPipeline(p)
	checkInput(in, "Throttle")
	if !(perSecond > 0) || math.IsInf(perSecond, 0) {
		panic("stream: Throttle: perSecond must be positive and finite")
	}
	if burst < 1 {
		panic("stream: Throttle: burst must be at least 1")
	}
	s := p.addStage("throttle", stageConfig("throttle", opts, usesCapacity), []any{in})
	out := output[T](s)
	limiter := rate.NewLimiter(rate.Limit(perSecond), burst)
	consume(s, []<-chan T{in}, func(w *worker) func(context.Context, T) error {
		return func(ctx context.Context, v T) error {
			if err := limiter.Wait(ctx); err != nil {
				// The limiter refuses at once a wait that would outlast
				// the context's deadline: wait for the deadline instead,
				// so the pipeline ends by its context, not by an error.
				<-ctx.Done()
				return ctx.Err()
			}
			return send(w, out, v, w.done)
		}
	})
	return out
}

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
// target <= 0 panics.
func AdaptiveWorkers(min, max int, target time.Duration) Option {
	if min < 1 || max < min {
		panic("stream: AdaptiveWorkers: need 1 <= min <= max")
	}
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
		w.flush()
		select {
		case <-wake:
		case <-w.done:
			return errDone
		}
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
