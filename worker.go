package stream

import (
	"context"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// This file runs the workers of a stage: their goroutines, panic recovery,
// the reporting of their end, their element counts, and the consumer loop
// every operator with an input shares.

// start runs body in len(s.counters) goroutines owned by the pipeline. Each
// gets its own counters. When the last one exits, the stage closes its
// outputs and releases its inputs. A stage with no worker (Merge of nothing)
// finishes at once.
func (s *stage) start(body func(w *worker) error) {
	n := len(s.counters)
	if n == 0 {
		s.notifyStarted()
		s.finish()
		return
	}
	s.live.Store(int32(n))
	s.notifyStarted() // not under the lock: the observer may call Stats
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	if s.p.waitCalled {
		panic("stream: " + s.kind + ": stage started after Wait was called")
	}
	for i := range n {
		// timed starts so that the first element is timed: a stage that
		// handles few, slow elements still reports its latency.
		w := &worker{s: s, c: &s.counters[i], lat: &s.latency[i], id: i, done: s.ctx.Done(), untimed: latencySample - 1}
		if s.workerDone != nil {
			w.done = s.workerDone[i]
		}
		s.workers = append(s.workers, w)
		s.p.group.Go(func() error {
			w.goid.Store(goid())
			defer s.workerExit(w)
			defer w.flush()
			defer w.exited.Store(true) // before the flush: see emitter
			s.runWorker(w, body)
			return nil
		})
	}
}

// runWorker runs body, recovering a panic, and reports its end as the
// stage's error when it is one: an error body returned while the stage was
// not done, a panic, or a body that did not return at all (runtime.Goexit).
// The error is recorded before the observer hears of it.
func (s *stage) runWorker(w *worker, body func(w *worker) error) {
	if s.p.ctx.Err() != nil {
		// The pipeline ended before this stage started (its parent
		// context was already cancelled, say): body runs, but the
		// pipeline did not run to its end.
		s.p.interrupted.Store(true)
	}
	returned := false
	defer func() {
		if returned {
			return
		}
		// A panic, or runtime.Goexit (t.FailNow in a test), which recover
		// cannot stop: the goroutine exits after the deferred calls, and
		// its stage fails. panic(nil) under GODEBUG=panicnil=1 looks the
		// same as Goexit.
		s.abnormal(w.c, recover())
	}()
	err := body(w)
	returned = true
	switch {
	case err == nil, err == errClosed, err == errFinished:
	case err == errDone, s.ctx.Err() != nil:
		// Ended by cancellation or release: not an error of this stage.
		// Remember whether the whole pipeline was cancelled.
		if s.p.ctx.Err() != nil {
			s.p.interrupted.Store(true)
		}
	default:
		w.c.errors.Add(1)
		s.fail(err)
		s.notify(Event{Kind: ElementFailed, Err: err})
	}
}

// abnormal fails the stage for a user function that did not return: it
// panicked with r (counted in c and reported as StagePanicked), or called
// runtime.Goexit when r is nil (counted as an error).
func (s *stage) abnormal(c *counters, r any) {
	if r != nil {
		c.panics.Add(1)
		pe := &PanicError{Value: r, Stack: debug.Stack()}
		s.fail(pe)
		s.notify(Event{Kind: StagePanicked, Err: pe})
		return
	}
	c.errors.Add(1)
	s.fail(ErrGoexit)
	s.notify(Event{Kind: ElementFailed, Err: ErrGoexit})
}

// fail makes err the stage's error if it is its first, remembered for its
// StageStopped event, and passes the stage's first error to the pipeline,
// whose first error Wait returns.
func (s *stage) fail(err error) {
	s.err.CompareAndSwap(nil, &Error{Stage: s.name, Err: err})
	s.p.fail(s.err.Load())
}

// workerExit ends worker w. The last one to exit hands on what is pending
// in the stage's chunked outputs (or discards it, once the stage is done),
// then finishes the stage.
func (s *stage) workerExit(w *worker) {
	if s.live.Add(-1) == 0 {
		w.flushOut()
		s.finish()
	}
}

// worker is the state of one goroutine of a stage. Element counts are kept
// in plain fields and published to the shared atomic counters in batches:
// before the worker blocks, every flushEvery elements, and when it exits. So
// counting costs no atomic operation per element, and Stats is exact for a
// stage that is idle or finished.
type worker struct {
	s       *stage
	c       *counters
	lat     *latencyHist
	untimed uint32 // elements since the last latency sample
	id      int
	goid    atomic.Uint64 // of the worker's goroutine: see Pipeline.checkOutside
	exited  atomic.Bool   // the worker's body returned: see emitter
	done    <-chan struct{}
	in, out int64 // not yet published
}

const flushEvery = 64

func (w *worker) flush() {
	if w.in != 0 {
		w.c.inIdle.Add(w.in << 1)
		w.in = 0
	}
	if w.out != 0 {
		w.c.out.Add(w.out)
		w.out = 0
	}
}

// wait publishes the worker's counts and marks it waiting, before it
// blocks: one atomic add for its count in and the mark (see counters).
// Each wait is followed by one woke.
func (w *worker) wait() {
	w.c.inIdle.Add(w.in<<1 | 1)
	w.in = 0
	if w.out != 0 {
		w.c.out.Add(w.out)
		w.out = 0
	}
}

// woke marks the worker busy again after a wait.
func (w *worker) woke() {
	w.c.inIdle.Add(-1)
}

// received and sent count one element in or out.
func (w *worker) received() {
	if !counting {
		return
	}
	if w.in++; w.in == flushEvery {
		w.flush()
	}
}

func (w *worker) sent() {
	if !counting {
		return
	}
	if w.out++; w.out == flushEvery {
		w.flush()
	}
}

// flushOut hands on the pending chunks of the stage's outputs when its last
// worker ends (see chunk.go): a stage with one worker, or an Ordered stage,
// whose output one worker at a time writes.
func (w *worker) flushOut() {
	for _, f := range w.s.flushers {
		f(w)
	}
}

// consume runs the shared consumer loop in every worker of s: receive an
// element and pass it to the worker's step (made once per worker by
// newStep, so a step may hold per-worker state such as its emit function).
// Worker i reads ins[i % len(ins)]: a single input is shared by all
// workers, Merge gives each worker its own. A step error ends the worker:
// errFinished as a normal end, any other as the stage's error, unless the
// stage is done by then.
func consume[T any](s *stage, ins []<-chan T, newStep func(w *worker) func(ctx context.Context, v T) error) {
	// Each worker has its own inport. Workers that share an input read it
	// one element at a time: a worker holding a chunk would keep its
	// elements from the others, idle. So does a worker of a stage whose
	// workers park (AdaptiveWorkers).
	n := len(s.counters)
	ports := make([]*inport[T], n)
	for i := range n {
		ports[i] = input(s, ins[i%len(ins)], s.cfg.adaptive == nil && n <= len(ins))
	}
	s.start(func(w *worker) error {
		ctx := s.ctx
		in := ports[w.id]
		step := newStep(w)
		adaptive := s.cfg.adaptive
		for {
			if adaptive != nil {
				if err := adaptive.gate(w); err != nil {
					return err
				}
			}
			v, err := recv(w, in)
			if err != nil {
				if err == errClosed && adaptive != nil {
					adaptive.inputClosed()
				}
				return err
			}
			if !w.sampling() {
				err = step(ctx, v)
			} else {
				start := time.Now()
				err = step(ctx, v)
				w.timed(start)
			}
			if err != nil {
				return err
			}
		}
	})
}

// emitter returns the function a worker uses to send to out, which user
// code calls as emit (Generate, FlatMap). Once the worker is done it returns
// the stage context's error, which user code sees. Like iter's yield, emit
// may be called only from the goroutine running the user's function, while
// it runs. A call once the worker has exited fails the stage with
// [ErrLateEmit] and returns it, even when the output is already closed: it
// never sends on a closed channel. (Calls from other goroutines while the
// function runs are not detected: that would cost an atomic operation per
// element, and the race detector reports them.)
func emitter[T any](w *worker, out *port[T]) func(T) error {
	return func(v T) (err error) {
		if w.exited.Load() {
			return w.lateEmit()
		}
		alone := out.chunking && out.alone()
		if out.chunking && !alone {
			w.sent() // see send
			if !out.add(v) {
				return nil // no channel operation: no send on a closed channel
			}
		}
		defer w.recoverLateEmit(&err)
		switch {
		case alone:
			err = out.sendAlone(w, v, w.done)
		case out.chunking:
			err = out.flush(w, w.done)
		default:
			err = send(w, out, v, w.done)
		}
		if err != nil {
			return context.Canceled
		}
		return nil
	}
}

// lateEmit fails the stage of w for a call of emit after w exited.
func (w *worker) lateEmit() error {
	w.s.fail(ErrLateEmit)
	return ErrLateEmit
}

// recoverLateEmit, deferred by an emit function that checked that w had not
// exited, turns the panic of a send on the closed output into ErrLateEmit:
// w exited, and its stage closed the output, between the check and the send.
// Any other panic there comes from calls of emit from two goroutines at once
// (a chunked output switched, closing its element channel, under a send
// from the other): it fails the stage as a panic of the user's function
// would, rather than crash a goroutine the stage does not own.
func (w *worker) recoverLateEmit(err *error) {
	if r := recover(); r != nil {
		if w.exited.Load() {
			*err = w.lateEmit()
			return
		}
		w.s.abnormal(w.c, r)
		*err = w.s.err.Load()
	}
}
