package stream

import "context"

// stepFunc is an operator's work on one element: it passes its results, any
// number of them, to emit.
type stepFunc[T, U any] func(ctx context.Context, v T, emit func(U) error) error

// transform runs step on every element of in with the stage's workers and
// sends the results to out: in completion order, or in input order when the
// stage is Ordered with several workers.
func transform[T, U any](s *stage, in <-chan T, out chan U, step stepFunc[T, U]) {
	s.callsUser = true
	pol := newPolicy[T](s)
	if s.cfg.ordered && s.cfg.workers > 1 {
		transformOrdered(s, in, out, pol, step)
		return
	}
	consume(s, []<-chan T{in}, func(w *worker) func(context.Context, T) error {
		emit := emitter(w, out)
		step := wrap(pol, w, step)
		return func(ctx context.Context, v T) error { return step(ctx, v, emit) }
	})
}

// result is one message from an Ordered stage's worker to its collector:
// a value the step emitted, or the end of an element's results (a Map's
// single value comes with its end in one message).
type result[U any] struct {
	v   U
	has bool // v is a value
	end bool // the element's results are complete
}

// transformOrdered runs an Ordered stage with n workers in n+2 goroutines.
// The dispatcher receives the elements and hands each to a worker whose
// queue has room (trying them in turn, so a worker stuck on a slow element
// gets no more), and records in the order queue which worker got it. Each
// worker processes its queue in order and sends its results to its own
// result queue. The collector reads the order queue and takes each
// element's results from the worker that had it, so it emits in input
// order. Every queue has one writer, which closes it, and one reader: no
// locks, no sequence numbers, no allocation per element.
//
// The order queue bounds the reorder window: at most orderQueue·n elements
// are between the dispatcher and the collector. While one element is slow,
// the other workers run on until the window or their result queues are full.
func transformOrdered[T, U any](s *stage, in <-chan T, out chan U, pol *policy[T], step stepFunc[T, U]) {
	n := s.cfg.workers
	jobs := make([]chan T, n)
	results := make([]chan result[U], n)
	for i := range n {
		jobs[i] = make(chan T, 2)
		results[i] = make(chan result[U], orderQueue)
	}
	order := make(chan int, orderQueue*n)
	room := make(chan struct{}, 1)
	closes := s.closedWithProducer(in)
	s.start(func(w *worker) error {
		switch {
		case w.id == n:
			return dispatch(w, in, closes, jobs, order, room)
		case w.id == n+1:
			return collect(w, order, results, out)
		default:
			return work(w, jobs[w.id], results[w.id], room, wrap(pol, w, step))
		}
	})
}

// dispatch hands the elements of in to the workers and records who got
// each in order. It closes the job queues and the order queue when it
// returns.
func dispatch[T any](w *worker, in <-chan T, closes bool, jobs []chan T, order chan<- int, room <-chan struct{}) error {
	defer func() {
		for _, ch := range jobs {
			close(ch)
		}
		close(order)
	}()
	next := 0
	for {
		v, err := recv(w, in, closes)
		if err != nil {
			return err
		}
		i, err := handOut(w, v, jobs, next, room)
		if err != nil {
			return err
		}
		next = (i + 1) % len(jobs)
		if err := put(w, order, i, w.done); err != nil {
			return err
		}
	}
}

// handOut puts v in the first queue from jobs[next] on that has room, or,
// when none has, waits until a worker takes a job (it signals room) and
// tries again. It returns the queue's index.
func handOut[T any](w *worker, v T, jobs []chan T, next int, room <-chan struct{}) (int, error) {
	for {
		for k := range jobs {
			i := (next + k) % len(jobs)
			select {
			case jobs[i] <- v:
				return i, nil
			default:
			}
		}
		w.flush()
		select {
		case <-room:
		case <-w.done:
			return 0, errDone
		}
	}
}

// work runs step on each element of its queue and sends the results, then
// an end marker, to its result queue, which it closes when it returns.
func work[T, U any](w *worker, jobs <-chan T, results chan<- result[U], room chan<- struct{}, step stepFunc[T, U]) error {
	defer close(results)
	ctx := w.s.ctx
	var pending result[U] // the latest value, held back to carry the end marker
	emit := func(u U) error {
		if pending.has {
			if put(w, results, pending, w.done) != nil {
				return context.Canceled
			}
		}
		pending = result[U]{v: u, has: true}
		return nil
	}
	for {
		v, err := take(w, jobs, true, nil)
		if err != nil {
			return err
		}
		select {
		case room <- struct{}{}: // wake the dispatcher if it waits
		default:
		}
		if err := step(ctx, v, emit); err != nil {
			return err
		}
		pending.end = true
		if err := put(w, results, pending, w.done); err != nil {
			return err
		}
		pending = result[U]{}
	}
}

// collect takes the results of each element from the worker the order
// queue names, and emits the values. It returns when the order queue is
// closed and empty: every element has been emitted.
func collect[U any](w *worker, order <-chan int, results []chan result[U], out chan<- U) error {
	for {
		i, err := take(w, order, true, nil)
		if err == errClosed {
			return nil
		}
		if err != nil {
			return err
		}
		for {
			r, err := take(w, results[i], true, nil)
			if err != nil {
				return err
			}
			if r.has {
				if err := send(w, out, r.v, w.done); err != nil {
					return err
				}
			}
			if r.end {
				break
			}
		}
	}
}
