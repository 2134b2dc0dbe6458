package stream

import (
	"context"
	"errors"
	"math"
	"strconv"

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

// OnDrop calls fn with every element a stage drops (see "Drops" in the
// package doc): a [Buffer] by its overflow policy, a [Partition], [Split]
// or [FanOut] for an output whose consumer released it, a window for a
// late element. Calls never overlap, but may come from another stage's
// goroutine (the consumer that released an output drains it); fn should be
// quick. A panic in fn fails the pipeline like one in the stage's
// function. T must be the stage's element type: a mismatch panics when the
// stage is built. A nil fn panics.
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
// size < 1, size > 2^30 (or a buffer of more than 1 GiB) or an unknown
// policy panics; [Capacity] does not apply (size is
// the capacity).
func Buffer[T any](p *Pipeline, in <-chan T, size int, overflow Overflow, opts ...Option) <-chan T {
	checkPipeline(p)
	checkInput(in, "Buffer")
	if size < 1 {
		panic("stream: Buffer: size must be at least 1")
	}
	checkMax(size, maxCapacity, "Buffer")
	if overflow < Block || overflow > Fail {
		panic("stream: Buffer: unknown overflow policy " + overflow.String())
	}
	cfg := typedConfig[T]("buffer", opts, usesDrop)
	cfg.capacity = size
	s := p.addStage("buffer", cfg, []any{in})
	s.elementsOnly = true // its policies work on the channel
	out := output[T](s).ch
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
			return func(_ context.Context, v T) error { return sendCh(w, out, v, w.done) }
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
	return out.ch
}
