package stream

import "context"

// Map emits fn(v) for every element v of in. It starts Workers goroutines
// (default 1), each calling fn on the next element; with more than one,
// results leave in completion order. The output closes when in is closed and
// every call has returned. An error from fn fails the pipeline as a [*Error];
// on cancellation calls in flight see a done context and no new call starts.
// A nil p, in or fn panics.
func Map[T, U any](p *Pipeline, in <-chan T, fn func(context.Context, T) (U, error), opts ...Option) <-chan U {
	checkPipeline(p)
	checkInput(in, "Map")
	if fn == nil {
		panic("stream: Map: nil function")
	}
	s := p.addStage("map", newConfig(opts), []any{in})
	out := output[U](s)
	consume(s, in, func(w *worker) func(context.Context, T) error {
		return func(ctx context.Context, v T) error {
			u, err := fn(ctx, v)
			if err != nil {
				return err
			}
			return send(w, out, u)
		}
	})
	return out
}

// Filter emits the elements v of in for which keep(v) is true. Workers,
// closing, errors and cancellation are as for [Map]. A nil p, in or keep
// panics.
func Filter[T any](p *Pipeline, in <-chan T, keep func(context.Context, T) (bool, error), opts ...Option) <-chan T {
	checkPipeline(p)
	checkInput(in, "Filter")
	if keep == nil {
		panic("stream: Filter: nil function")
	}
	s := p.addStage("filter", newConfig(opts), []any{in})
	out := output[T](s)
	consume(s, in, func(w *worker) func(context.Context, T) error {
		return func(ctx context.Context, v T) error {
			ok, err := keep(ctx, v)
			if err != nil || !ok {
				return err
			}
			return send(w, out, v)
		}
	})
	return out
}

// FlatMap calls fn for every element of in; fn emits any number of values
// with emit, which blocks while the output is full and returns a non-nil
// error once the stage is done (fn must then return). Workers, closing,
// errors and cancellation are as for [Map]. A nil p, in or fn panics.
func FlatMap[T, U any](p *Pipeline, in <-chan T, fn func(ctx context.Context, v T, emit func(U) error) error, opts ...Option) <-chan U {
	checkPipeline(p)
	checkInput(in, "FlatMap")
	if fn == nil {
		panic("stream: FlatMap: nil function")
	}
	s := p.addStage("flatmap", newConfig(opts), []any{in})
	out := output[U](s)
	consume(s, in, func(w *worker) func(context.Context, T) error {
		emit := emitter(w, out)
		return func(ctx context.Context, v T) error { return fn(ctx, v, emit) }
	})
	return out
}

func checkInput[T any](in <-chan T, op string) {
	if in == nil {
		panic("stream: " + op + ": nil input channel")
	}
}
