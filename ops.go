package stream

import (
	"context"
	"time"
)

// Map emits fn(v) for every element v of in. It starts Workers goroutines
// (default 1), each calling fn on the next element; with more than one,
// results leave in completion order, or in input order with [Ordered]. The
// output closes when in is closed and every call has returned. An error
// from fn fails the pipeline as a [*Error]; on cancellation calls in flight
// see a done context and no new call starts. A nil p, in or fn panics.
func Map[T, U any](p *Pipeline, in <-chan T, fn func(context.Context, T) (U, error), opts ...Option) <-chan U {
	checkPipeline(p)
	checkInput(in, "Map")
	if fn == nil {
		panic("stream: Map: nil function")
	}
	s := p.addStage("map", typedConfig[T]("map", opts, usesWorkers|usesOrder|usesPolicy|usesCapacity), []any{in})
	out := output[U](s)
	transform(s, in, out, true, func(ctx context.Context, v T, emit func(U) error) error {
		u, err := fn(ctx, v)
		if err != nil {
			return err
		}
		return emit(u)
	})
	return out.ch
}

// Filter emits the elements v of in for which keep(v) is true. Workers,
// order, closing, errors and cancellation are as for [Map]. A nil p, in or
// keep panics.
func Filter[T any](p *Pipeline, in <-chan T, keep func(context.Context, T) (bool, error), opts ...Option) <-chan T {
	checkPipeline(p)
	checkInput(in, "Filter")
	if keep == nil {
		panic("stream: Filter: nil function")
	}
	s := p.addStage("filter", typedConfig[T]("filter", opts, usesWorkers|usesOrder|usesPolicy|usesCapacity), []any{in})
	out := output[T](s)
	transform(s, in, out, true, func(ctx context.Context, v T, emit func(T) error) error {
		ok, err := keep(ctx, v)
		if err != nil || !ok {
			return err
		}
		return emit(v)
	})
	return out.ch
}

// FlatMap calls fn for every element of in; fn emits any number of values
// with emit, which blocks while the output is full and returns a non-nil
// error once the stage is done (fn must then return). Like iter's yield,
// emit may be called only from fn's goroutine while that call of fn runs;
// a call once the stage has ended fails it with [ErrLateEmit] (and returns
// it); calls from other goroutines, or after fn returned while the stage
// runs on, are a data race, which the race detector reports, and may lose
// elements, miscount [StageStats] or fail the pipeline. Workers, order,
// closing, errors and cancellation are as for [Map]. With [Ordered] the
// values of the element at the head
// of the window go out as fn emits them; those of a later element are held
// until it is at the head, up to 8 of them, after which its emit blocks
// until then. A nil p, in or fn panics.
func FlatMap[T, U any](p *Pipeline, in <-chan T, fn func(ctx context.Context, v T, emit func(U) error) error, opts ...Option) <-chan U {
	checkPipeline(p)
	checkInput(in, "FlatMap")
	if fn == nil {
		panic("stream: FlatMap: nil function")
	}
	s := p.addStage("flatmap", typedConfig[T]("flatmap", opts, usesWorkers|usesOrder|usesPolicy|usesCapacity), []any{in})
	out := output[U](s)
	transform(s, in, out, false, fn)
	return out.ch
}

// Flatten emits the elements of each slice of in, in order. It does not
// keep the slices. The output closes when in is closed. A nil p or in
// panics.
func Flatten[T any](p *Pipeline, in <-chan []T, opts ...Option) <-chan T {
	checkPipeline(p)
	checkInput(in, "Flatten")
	s := p.addStage("flatten", stageConfig("flatten", opts, usesWorkers|usesOrder|usesCapacity), []any{in})
	out := output[T](s)
	transform(s, in, out, false, func(_ context.Context, vs []T, emit func(T) error) error {
		for _, v := range vs {
			if err := emit(v); err != nil {
				return err
			}
		}
		return nil
	})
	return out.ch
}

// Take emits the first n elements of in, then closes its output and
// releases in, so the stages feeding it stop (see "Demand" in the package
// doc) while the rest of the pipeline runs on. Take(0) closes its output and
// releases in at once. It runs one goroutine. n < 0 panics.
func Take[T any](p *Pipeline, in <-chan T, n int, opts ...Option) <-chan T {
	checkPipeline(p)
	checkInput(in, "Take")
	if n < 0 {
		panic("stream: Take: negative n")
	}
	s := p.addStage("take", stageConfig("take", opts, usesCapacity), []any{in})
	out := output[T](s)
	if n == 0 {
		s.start(func(*worker) error { return errFinished })
		return out.ch
	}
	consume(s, []<-chan T{in}, func(w *worker) func(context.Context, T) error {
		left := n
		return func(_ context.Context, v T) error {
			if err := send(w, out, v, w.done); err != nil {
				return err
			}
			if left--; left == 0 {
				return errFinished
			}
			return nil
		}
	})
	return out.ch
}

// Batch groups the elements of in into slices of up to size elements, in
// order. A batch is emitted when it is full, or when maxWait has passed
// since its first element arrived; maxWait <= 0 means no time limit. No
// batch is empty; the last, partial batch is emitted when in closes. Each
// batch is a new slice that the receiver owns. On cancellation a partial
// batch is dropped. It runs one goroutine and stops its timer when it ends.
// A batch's memory grows with its elements, so size may be as large as
// math.MaxInt, for batches bounded by maxWait alone. size < 1 panics.
func Batch[T any](p *Pipeline, in <-chan T, size int, maxWait time.Duration, opts ...Option) <-chan []T {
	checkPipeline(p)
	checkInput(in, "Batch")
	if size < 1 {
		panic("stream: Batch: size must be at least 1")
	}
	s := p.addStage("batch", stageConfig("batch", opts, usesCapacity), []any{in})
	out := output[[]T](s)
	ip := input(s, in, true)
	s.start(func(w *worker) error {
		var (
			batch []T
			last  int // the length of the last batch sent
			timer *time.Timer
			ticks <-chan time.Time // nil while the batch is empty
			// The latency of a batch is the time from its first element's
			// arrival to the end of its hand-off.
			timing bool
			start  time.Time
		)
		if maxWait > 0 {
			timer = time.NewTimer(maxWait)
			timer.Stop()
			defer timer.Stop()
		}
		flush := func() error {
			if ticks != nil {
				timer.Stop()
				ticks = nil
			}
			b := batch
			batch, last = nil, len(b)
			if err := send(w, out, b, w.done); err != nil {
				return err
			}
			if timing {
				w.timed(start)
			}
			return nil
		}
		for {
			v, err := take(w, ip, ticks)
			switch {
			case err == errTimeout:
				if err := flush(); err != nil {
					return err
				}
				continue
			case err == errClosed && len(batch) > 0:
				if err := flush(); err != nil {
					return err
				}
				return nil
			case err != nil:
				return err
			}
			w.received()
			if batch == nil {
				if timing = w.sampling(); timing {
					start = time.Now()
				}
				// Not size up front: Batch(in, math.MaxInt, d) is the
				// natural time-only batch. The last batch's length is the
				// best guess of this one's; append grows it up to size.
				batch = make([]T, 0, min(size, max(last, 16)))
				if timer != nil {
					timer.Reset(maxWait)
					ticks = timer.C
				}
			}
			if batch = append(batch, v); len(batch) == size {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	})
	return out.ch
}

func checkInput[T any](in <-chan T, op string) {
	if in == nil {
		panic("stream: " + op + ": nil input channel")
	}
}
