package stream

import (
	"context"
	"errors"
	"runtime/debug"
	"strconv"
	"sync/atomic"
)

// This file is the one stage engine every operator is built on: stage
// registration and naming, the ownership of channels (one producer, at most
// one consuming stage), the worker goroutines with panic recovery, the
// close-once of outputs, demand-driven release, and the fast-path send and
// receive. Operators supply only the per-element step.

// stage is one node of the pipeline.
type stage struct {
	p       *Pipeline
	id      int
	name    string
	kind    string
	cfg     config
	ctx     context.Context // the pipeline's context plus this stage's release
	cancel  context.CancelFunc
	inputs  []*edge
	outputs []*edge

	live     atomic.Int32 // workers still running
	released atomic.Int32 // outputs whose consumer has let go
	finished atomic.Bool
	counters []counters // one per worker, so counting never contends
}

// edge is a channel from one stage to the stage that consumes it.
type edge struct {
	from     *stage
	to       *stage // nil while no stage consumes it (the caller may read it)
	capacity int
	length   func() int
	close    func()
	released atomic.Bool
}

// counters are one worker's element counts. They are padded to a cache line
// pair so that neighbouring workers never share one.
type counters struct {
	in, out, errors, skipped, dropped, retried, panics atomic.Int64
	_                                                  [72]byte
}

// errClosed and errFinished end a worker normally: its input closed, or the
// operator needs no more input (Take, First).
var (
	errClosed   = errors.New("stream: input closed")
	errFinished = errors.New("stream: stage finished")
)

// addStage registers a stage consuming the channels ins (each a <-chan T
// made by this pipeline or by the caller). It panics, registering nothing,
// if the pipeline has been waited for or an input already has a consumer.
func (p *Pipeline) addStage(kind string, cfg config, ins []any) *stage {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waited {
		panic("stream: " + kind + ": stage added after Wait returned")
	}
	for i, in := range ins {
		if e := p.edges[in]; e != nil && e.to != nil {
			panic("stream: " + kind + ": channel made by " + e.from.name + " is already consumed by " +
				e.to.name + "; use FanOut or Broadcast to feed several stages")
		}
		for _, prev := range ins[:i] {
			if prev == in {
				panic("stream: " + kind + ": the same channel is passed twice")
			}
		}
	}
	s := &stage{p: p, id: len(p.stages) + 1, kind: kind, cfg: cfg, name: cfg.name}
	if s.name == "" {
		s.name = kind + "#" + strconv.Itoa(s.id)
	}
	s.ctx, s.cancel = context.WithCancel(p.ctx)
	for _, in := range ins {
		if e := p.edges[in]; e != nil {
			e.to = s
			s.inputs = append(s.inputs, e)
		}
	}
	s.counters = make([]counters, cfg.workers)
	p.stages = append(p.stages, s)
	return s
}

// output makes one output channel of s with the stage's capacity.
func output[T any](s *stage) chan T {
	ch := make(chan T, s.cfg.capacity)
	e := &edge{
		from:     s,
		capacity: s.cfg.capacity,
		length:   func() int { return len(ch) },
		close:    func() { close(ch) },
	}
	s.p.mu.Lock()
	s.p.edges[(<-chan T)(ch)] = e
	s.p.mu.Unlock()
	s.outputs = append(s.outputs, e)
	return ch
}

// start runs body in cfg.workers goroutines owned by the pipeline. Each gets
// its own counters. When the last one exits, the stage closes its outputs and
// releases its inputs.
func (s *stage) start(body func(w *worker) error) {
	n := len(s.counters)
	s.live.Store(int32(n))
	done := s.ctx.Done()
	for i := range n {
		w := &worker{s: s, c: &s.counters[i], done: done}
		s.p.group.Go(func() error {
			defer s.workerExit()
			defer w.flush()
			return s.runWorker(w, body)
		})
	}
}

// runWorker runs body, recovering a panic, and decides whether its end is
// reported as the stage's error.
func (s *stage) runWorker(w *worker, body func(w *worker) error) (reported error) {
	defer func() {
		if r := recover(); r != nil {
			w.c.panics.Add(1)
			reported = &Error{Stage: s.name, Err: &PanicError{Value: r, Stack: debug.Stack()}}
		}
	}()
	err := body(w)
	switch {
	case err == nil, err == errClosed, err == errFinished:
		return nil
	case s.ctx.Err() != nil:
		// Ended by cancellation: not an error of this stage. Remember
		// whether the whole pipeline was cancelled, rather than this stage
		// released by its consumer.
		if s.p.ctx.Err() != nil {
			s.p.interrupted.Store(true)
		}
		return nil
	default:
		w.c.errors.Add(1)
		return &Error{Stage: s.name, Err: err}
	}
}

func (s *stage) workerExit() {
	if s.live.Add(-1) != 0 {
		return
	}
	for _, e := range s.outputs {
		e.close()
	}
	for _, e := range s.inputs {
		e.release()
	}
	s.finished.Store(true)
	s.cancel()
}

// release tells the producer of e that nobody will read e any more. A
// producer all of whose outputs are released is cancelled, and releases its
// own inputs at once, so that the whole chain upstream of an early exit
// stops without waiting for each stage to notice in turn.
func (e *edge) release() {
	if e.released.Swap(true) {
		return
	}
	if from := e.from; int(from.released.Add(1)) == len(from.outputs) {
		from.cancel()
		for _, in := range from.inputs {
			in.release()
		}
	}
}

// closedWithProducer reports whether in was made by a stage of this pipeline
// with a single output, which closes it when the stage is done: see recv.
func (s *stage) closedWithProducer(in any) bool {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	e := s.p.edges[in]
	return e != nil && len(e.from.outputs) == 1
}

// worker is the state of one goroutine of a stage. Element counts are kept
// in plain fields and published to the shared atomic counters in batches:
// before the worker blocks, every flushEvery elements, and when it exits. So
// counting costs no atomic operation per element, and Stats is exact for a
// stage that is idle or finished.
type worker struct {
	s       *stage
	c       *counters
	done    <-chan struct{}
	in, out int64 // not yet published
}

const flushEvery = 64

func (w *worker) flush() {
	if w.in != 0 {
		w.c.in.Add(w.in)
		w.in = 0
	}
	if w.out != 0 {
		w.c.out.Add(w.out)
		w.out = 0
	}
}

// isDone reports whether a done channel is closed, without blocking.
func isDone(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// recv receives the next element of in. It returns errClosed when in is
// closed and errDone when the stage is done. It tries a non-blocking receive
// first, and never hands out an element once the stage is done, even one
// that was already queued (pitfall P21).
//
// When closes is true the receive blocks on in alone: in was made by a
// single-output stage of this pipeline, which closes it as soon as its own
// context is done, and the release of this stage cancels that producer at
// once (see edge.release). A select on in and done costs twice as much on
// the blocking path, which a busy pipeline takes often.
func recv[T any](w *worker, in <-chan T, closes bool) (T, error) {
	var (
		v  T
		ok bool
	)
	select {
	case v, ok = <-in:
	default:
		w.flush()
		if closes {
			v, ok = <-in
		} else {
			select {
			case v, ok = <-in:
			case <-w.done:
				return v, errDone
			}
		}
	}
	if !ok {
		return v, errClosed
	}
	if isDone(w.done) {
		var zero T
		return zero, errDone
	}
	if w.in++; w.in == flushEvery {
		w.flush()
	}
	return v, nil
}

// send sends v on out, or returns errDone when the stage is done first. The
// non-blocking attempt first makes the common case as cheap as a plain send.
func send[T any](w *worker, out chan<- T, v T) error {
	select {
	case out <- v:
	default:
		w.flush()
		select {
		case out <- v:
		case <-w.done:
			return errDone
		}
	}
	if w.out++; w.out == flushEvery {
		w.flush()
	}
	return nil
}

// consume runs the shared consumer loop in every worker of s: receive an
// element of in and pass it to the worker's step (made once per worker by
// newStep, so a step may hold per-worker state such as its emit function).
// A step error ends the worker: errFinished as a normal end, any other as
// the stage's error, unless the stage is done by then.
func consume[T any](s *stage, in <-chan T, newStep func(w *worker) func(ctx context.Context, v T) error) {
	closes := s.closedWithProducer(in)
	s.start(func(w *worker) error {
		ctx := s.ctx
		step := newStep(w)
		for {
			v, err := recv(w, in, closes)
			if err != nil {
				return err
			}
			if err := step(ctx, v); err != nil {
				return err
			}
		}
	})
}

// emitter returns the function a worker uses to send to out. Once the stage
// is done it returns the stage context's error, which user code sees.
func emitter[T any](w *worker, out chan<- T) func(T) error {
	return func(v T) error {
		if send(w, out, v) != nil {
			return w.s.ctx.Err()
		}
		return nil
	}
}
