package stream

import "context"

// stepFunc is an operator's work on one element: it passes its results, any
// number of them, to emit.
type stepFunc[T, U any] func(ctx context.Context, v T, emit func(U) error) error

// transform runs step on every element of in with the stage's workers and
// sends the results to out: in completion order, or in input order when the
// stage is Ordered with several workers. once says that step emits at most
// one value, as the last thing it does (Map, Filter): an Ordered stage then
// publishes the value together with the element's end.
func transform[T, U any](s *stage, in <-chan T, out *port[U], once bool, step stepFunc[T, U]) {
	s.callsUser = true
	pol := newPolicy[T](s)
	if s.cfg.ordered && s.cfg.workers > 1 {
		transformOrdered(s, in, out, pol, step, once)
		return
	}
	consume(s, []<-chan T{in}, func(w *worker) func(context.Context, T) error {
		emit := emitter(w, out)
		step := wrap(pol, w, step)
		return func(ctx context.Context, v T) error { return step(ctx, v, emit) }
	})
}
