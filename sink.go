package stream

import (
	"context"
	"strings"
)

// Sinks consume a channel to its end. They are stages like any other: they
// show in [Pipeline.Stats] and [Pipeline.Graph], and they count as the
// consumer of their input. ForEach returns at once; the others block, calling
// [Pipeline.Wait], so they must be the last thing added to the pipeline.

// ForEach calls fn for every element of in, with Workers goroutines (default
// 1). It does not block: call [Pipeline.Wait] for the result. An error from
// fn fails the pipeline as a [*Error]. A nil p, in or fn panics.
func ForEach[T any](p *Pipeline, in <-chan T, fn func(context.Context, T) error, opts ...Option) {
	checkPipeline(p)
	checkInput(in, "ForEach")
	if fn == nil {
		panic("stream: ForEach: nil function")
	}
	s := p.addStage("foreach", typedConfig[T]("foreach", opts, usesWorkers|usesPolicy), []any{in})
	s.callsUser = true
	pol := newPolicy[T](s)
	consume(s, []<-chan T{in}, func(w *worker) func(context.Context, T) error {
		step := wrap(pol, w, func(ctx context.Context, v T, _ func(struct{}) error) error { return fn(ctx, v) })
		return func(ctx context.Context, v T) error { return step(ctx, v, nil) }
	})
}

// Collect reads in to its end, then waits for the pipeline and returns the
// elements read, in arrival order, with [Pipeline.Wait]'s error. On error it
// returns what it read: elements still in flight when the pipeline was
// cancelled may be missing (see "Cancellation" in the package doc). It
// blocks until the pipeline has ended.
func Collect[T any](p *Pipeline, in <-chan T) ([]T, error) {
	var items []T
	sink(p, in, "Collect", func(v T) error {
		items = append(items, v)
		return nil
	}, false)
	err := p.Wait()
	return items, err
}

// Reduce folds the elements of in into an accumulator, starting from init:
// acc = fn(acc, v) for each element in arrival order. It blocks until the
// pipeline has ended and returns the accumulator with [Pipeline.Wait]'s error
// (the accumulator so far, on error). A panic in fn fails the pipeline. A nil
// fn panics.
func Reduce[T, A any](p *Pipeline, in <-chan T, init A, fn func(A, T) A) (A, error) {
	if fn == nil {
		panic("stream: Reduce: nil function")
	}
	acc := init
	sink(p, in, "Reduce", func(v T) error {
		acc = fn(acc, v)
		return nil
	}, true)
	err := p.Wait()
	return acc, err
}

// First returns the first element of in and releases in at once, so the
// stages feeding it stop (see "Demand" in the package doc); then it waits for
// the pipeline. It returns [Pipeline.Wait]'s error if there is one, and
// [ErrEmpty] if in closed before any element arrived.
func First[T any](p *Pipeline, in <-chan T) (T, error) {
	var (
		first T
		got   bool
	)
	sink(p, in, "First", func(v T) error {
		first, got = v, true
		return errFinished
	}, false)
	if err := p.Wait(); err != nil {
		return first, err
	}
	if !got {
		return first, ErrEmpty
	}
	return first, nil
}

// Drain reads and discards in to its end, then returns [Pipeline.Wait]'s
// error. It blocks until the pipeline has ended.
func Drain[T any](p *Pipeline, in <-chan T) error {
	sink(p, in, "Drain", func(T) error { return nil }, false)
	return p.Wait()
}

// sink adds a one-worker stage that passes every element of in to fn; op
// is the exported function's name, and its kind in lower case.
// callsUser says whether fn calls a user function (see stage.callsUser).
func sink[T any](p *Pipeline, in <-chan T, op string, fn func(T) error, callsUser bool) {
	checkPipeline(p)
	checkInput(in, op)
	p.checkOutside(op) // it calls Wait next
	s := p.addStage(strings.ToLower(op), newConfig(nil), []any{in})
	s.callsUser = callsUser
	consume(s, []<-chan T{in}, func(*worker) func(context.Context, T) error {
		return func(_ context.Context, v T) error { return fn(v) }
	})
}

// Count reads in to its end, then waits for the pipeline and returns the
// number of elements read with [Pipeline.Wait]'s error (the count so far, on
// error). It blocks until the pipeline has ended.
func Count[T any](p *Pipeline, in <-chan T) (int, error) {
	n := 0
	sink(p, in, "Count", func(T) error {
		n++
		return nil
	}, false)
	err := p.Wait()
	return n, err
}

// Any reports whether pred is true for some element of in. At the first
// match it releases in at once, like [First], so the stages feeding it stop;
// then it waits for the pipeline and returns true with [Pipeline.Wait]'s
// error. Any of an empty stream is false; on error Any returns whether a
// match was found before it. It blocks until the pipeline has
// ended. A panic in pred fails the pipeline. A nil pred panics.
func Any[T any](p *Pipeline, in <-chan T, pred func(T) bool) (bool, error) {
	if pred == nil {
		panic("stream: Any: nil function")
	}
	found := false
	sink(p, in, "Any", func(v T) error {
		if pred(v) {
			found = true
			return errFinished
		}
		return nil
	}, true)
	err := p.Wait()
	return found, err
}

// All reports whether pred is true for every element of in. At the first
// element for which it is false it releases in at once, like [First], so
// the stages feeding it stop; then it waits for the pipeline and returns
// false with [Pipeline.Wait]'s error. All of an empty stream is true; on
// error All returns false, since not every element was seen. It blocks until
// the pipeline has ended. A panic in pred fails the pipeline. A nil pred panics.
func All[T any](p *Pipeline, in <-chan T, pred func(T) bool) (bool, error) {
	if pred == nil {
		panic("stream: All: nil function")
	}
	missed := false
	sink(p, in, "All", func(v T) error {
		if !pred(v) {
			missed = true
			return errFinished
		}
		return nil
	}, true)
	err := p.Wait()
	return !missed && err == nil, err
}
