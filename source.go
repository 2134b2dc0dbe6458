package stream

import (
	"context"
	"iter"
	"time"
)

// Sources start one goroutine each. Their output closes when they run out of
// elements, fail, or end with the pipeline; they stop early, without error,
// when the stage consuming their output releases it (see the package doc,
// "Demand"). Workers and Ordered do not apply to a source: they panic.

// FromSlice emits the elements of items in order, then closes its output.
// The slice must not be modified until the pipeline has ended. A nil or empty
// slice gives an output that closes at once.
func FromSlice[T any](p *Pipeline, items []T, opts ...Option) <-chan T {
	return source(p, "slice", opts, func(_ context.Context, _ *worker, emit func(T) error) error {
		for _, v := range items {
			if err := emit(v); err != nil {
				return err
			}
		}
		return nil
	})
}

// FromSeq emits the values of seq in order, then closes its output. The
// iteration stops (yield returns false) when the pipeline ends or the output
// is released. seq has no context, so nothing can interrupt it between two
// values: a seq that blocks (on I/O, on a channel) holds up the end of the
// pipeline until it yields again or returns, and Wait waits for it. For a
// source that may block, use [Generate], whose function gets the
// pipeline's context. A panic in seq fails the pipeline with a
// [*PanicError]. A nil seq panics.
func FromSeq[T any](p *Pipeline, seq iter.Seq[T], opts ...Option) <-chan T {
	if seq == nil {
		panic("stream: FromSeq: nil sequence")
	}
	return source(p, "seq", opts, func(_ context.Context, _ *worker, emit func(T) error) error {
		for v := range seq {
			if err := emit(v); err != nil {
				return err
			}
		}
		return nil
	})
}

// FromSeq2 emits the values of seq in order until seq yields a non-nil
// error, which fails the pipeline as a [*Error], or until seq ends, which
// closes the output. Like [FromSeq], it cannot interrupt a seq that blocks
// between two values. A nil seq panics.
func FromSeq2[T any](p *Pipeline, seq iter.Seq2[T, error], opts ...Option) <-chan T {
	if seq == nil {
		panic("stream: FromSeq2: nil sequence")
	}
	return source(p, "seq2", opts, func(_ context.Context, _ *worker, emit func(T) error) error {
		for v, err := range seq {
			if err != nil {
				return err
			}
			if err := emit(v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Generate calls gen once, in a goroutine of its own, and emits every value
// gen passes to emit. emit blocks while the output is full; it returns a
// non-nil error once the stage is done (pipeline ended or output released),
// and gen must then return. Like iter's yield, emit may be called only from
// gen's goroutine, while gen runs: a call after gen returned fails the
// pipeline with [ErrLateEmit] (and returns it); calls from other goroutines
// are a data race, which the race detector reports, and may lose elements,
// miscount [StageStats] or fail the pipeline. To emit from several
// goroutines, let them send to a channel that gen ranges over, or give each
// its own source and [Merge]. The output closes when gen returns. An error
// gen returns fails the pipeline, unless the stage was already done. A nil
// gen panics.
func Generate[T any](p *Pipeline, gen func(ctx context.Context, emit func(T) error) error, opts ...Option) <-chan T {
	if gen == nil {
		panic("stream: Generate: nil function")
	}
	return source(p, "generate", opts, func(ctx context.Context, _ *worker, emit func(T) error) error {
		return gen(ctx, emit)
	})
}

// Tick emits the current time every period, like a [time.Ticker], until the
// pipeline ends or its output is released; then the ticker is stopped. Like a
// Ticker it drops ticks for a slow consumer; every dropped tick is counted in
// [StageStats].Dropped. every <= 0 panics.
func Tick(p *Pipeline, every time.Duration, opts ...Option) <-chan time.Time {
	if every <= 0 {
		panic("stream: Tick: non-positive interval")
	}
	return source(p, "tick", opts, func(ctx context.Context, w *worker, emit func(time.Time) error) error {
		t := time.NewTicker(every)
		defer t.Stop()
		last := time.Now()
		for {
			// Ticks are rare: publish the count before each wait, so that
			// Stats is exact while the source waits for the next one.
			w.flush()
			select {
			case now := <-t.C:
				if missed := int64(now.Sub(last)/every) - 1; missed > 0 {
					w.drop(missed)
				}
				last = now
				if err := emit(now); err != nil {
					return err
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
}

// source adds a stage without inputs that runs gen once.
func source[T any](p *Pipeline, kind string, opts []Option, gen func(ctx context.Context, w *worker, emit func(T) error) error) <-chan T {
	checkPipeline(p)
	return sourceStage(p, kind, stageConfig(kind, opts, usesCapacity), gen)
}

// sourceStage adds a stage without inputs, configured by cfg, that runs gen
// once.
func sourceStage[T any](p *Pipeline, kind string, cfg config, gen func(ctx context.Context, w *worker, emit func(T) error) error) <-chan T {
	s := p.addStage(kind, cfg, nil)
	out := output[T](s)
	s.start(func(w *worker) error {
		send := emitter(w, out)
		// A source has no input whose receive would notice that the stage is
		// done, so it checks before each element: a cancelled or released
		// source stops at once rather than when its buffer is full.
		//
		// Its latency is the time from the end of one hand-off to the end of
		// the next: producing an element and handing it off.
		timing := w.sampling()
		var start time.Time
		if timing {
			start = time.Now()
		}
		emit := func(v T) error {
			if w.exited.Load() {
				return w.lateEmit() // see emitter
			}
			if err := s.ctx.Err(); err != nil { // cheaper than a receive from done
				return err
			}
			if err := send(v); err != nil {
				return err
			}
			if timing {
				w.timed(start)
			}
			if timing = w.sampling(); timing {
				start = time.Now()
			}
			return nil
		}
		return gen(s.ctx, w, emit)
	})
	return out.ch
}
