package stream

import (
	"context"
	"errors"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
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

	// workerDone, when set, gives each worker its own done channel instead
	// of the stage's (FanOut: worker i ends when output i is released).
	workerDone []<-chan struct{}

	observer Observer // nil when nobody observes
	// callsUser marks a stage that calls a user function on its elements:
	// it checks for cancellation before starting each one.
	callsUser bool

	live     atomic.Int32 // workers still running
	released atomic.Int32 // outputs whose consumer has let go
	finished atomic.Bool
	err      atomic.Pointer[Error] // the error the stage reported, if any
	counters []counters            // one per worker, so counting never contends
	latency  []latencyHist         // one per worker
}

// edge is a channel from one stage to the stage that consumes it.
type edge struct {
	from     *stage
	to       *stage // nil while no stage consumes it (the caller may read it)
	capacity int
	length   func() int
	close    func()
	drain    func() int // discards what is buffered, returns how many
	released atomic.Bool
	closed   atomic.Bool // by its producer, which has finished
	discard  sync.Once
	// done is closed when the stage is done or this edge is released. A
	// stage with one output uses its own done channel; each output of a
	// stage with several has its own context, so that one consumer letting
	// go ends the sends to it and nothing else.
	done   <-chan struct{}
	cancel context.CancelFunc
}

// counters are one worker's element counts. They are padded to a cache line
// pair so that neighbouring workers never share one.
type counters struct {
	in, out, errors, skipped, dropped, retried, panics atomic.Int64
	idle                                               atomic.Int32 // the worker waits for input
	_                                                  [68]byte
}

// errClosed and errFinished end a worker normally: its input closed, or the
// operator needs no more input (Take, First).
var (
	errClosed   = errors.New("stream: input closed")
	errFinished = errors.New("stream: stage finished")
)

// addStage registers a stage consuming the channels ins (each a <-chan T
// made by this pipeline or by the caller), with workers goroutines. It
// panics, registering nothing, if Wait has been called or an
// input already has a consumer.
func (p *Pipeline) addStage(kind string, cfg config, ins []any) *stage {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waitCalled {
		panic("stream: " + kind + ": stage added after Wait was called")
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
	for _, other := range p.stages {
		if other.name == s.name {
			panic("stream: " + kind + ": a stage is already named " + strconv.Quote(s.name))
		}
	}
	s.ctx, s.cancel = context.WithCancel(p.ctx)
	for _, in := range ins {
		if e := p.edges[in]; e != nil {
			e.to = s
			s.inputs = append(s.inputs, e)
		}
	}
	s.counters = make([]counters, cfg.goroutines())
	s.latency = make([]latencyHist, cfg.goroutines())
	s.observer = cfg.observer
	if s.observer == nil {
		s.observer = p.observer
	}
	p.stages = append(p.stages, s)
	return s
}

// outputs makes the n output channels of s, with the stage's capacity.
func outputs[T any](s *stage, n int) []chan T {
	chans := make([]chan T, n)
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	for i := range chans {
		ch := make(chan T, s.cfg.capacity)
		e := &edge{
			from:     s,
			capacity: s.cfg.capacity,
			length:   func() int { return len(ch) },
			close:    func() { close(ch) },
			drain:    func() int { return drain(ch) },
			done:     s.ctx.Done(),
		}
		if n > 1 {
			var ctx context.Context
			ctx, e.cancel = context.WithCancel(s.ctx)
			e.done = ctx.Done()
		}
		s.p.edges[(<-chan T)(ch)] = e
		s.outputs = append(s.outputs, e)
		chans[i] = ch
	}
	return chans
}

// output makes the single output channel of s.
func output[T any](s *stage) chan T {
	return outputs[T](s, 1)[0]
}

// start runs body in len(s.counters) goroutines owned by the pipeline. Each
// gets its own counters. When the last one exits, the stage closes its
// outputs and releases its inputs. A stage with no worker (Merge of nothing)
// finishes at once.
func (s *stage) start(body func(w *worker) error) {
	n := len(s.counters)
	if n == 0 {
		s.notify(Event{Kind: StageStarted})
		s.finish()
		return
	}
	s.live.Store(int32(n))
	s.notify(Event{Kind: StageStarted}) // not under the lock: the observer may call Stats
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	if s.p.waitCalled {
		panic("stream: " + s.kind + ": stage started after Wait was called")
	}
	for i := range n {
		// timed starts so that the first element is timed: a stage that
		// handles few, slow elements still reports its latency.
		w := &worker{s: s, c: &s.counters[i], lat: &s.latency[i], id: i, done: s.ctx.Done(), timed: latencySample - 1}
		if s.workerDone != nil {
			w.done = s.workerDone[i]
		}
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
			pe := &PanicError{Value: r, Stack: debug.Stack()}
			s.notify(Event{Kind: StagePanicked, Err: pe})
			reported = s.report(pe)
		}
	}()
	err := body(w)
	switch {
	case err == nil, err == errClosed, err == errFinished:
		return nil
	case err == errDone, s.ctx.Err() != nil:
		// Ended by cancellation or release: not an error of this stage.
		// Remember whether the whole pipeline was cancelled.
		if s.p.ctx.Err() != nil {
			s.p.interrupted.Store(true)
		}
		return nil
	default:
		w.c.errors.Add(1)
		s.notify(Event{Kind: ElementFailed, Err: err})
		return s.report(err)
	}
}

// report makes err the stage's error, remembered for its StageStopped event.
func (s *stage) report(err error) *Error {
	e := &Error{Stage: s.name, Err: err}
	s.err.CompareAndSwap(nil, e)
	return e
}

func (s *stage) workerExit() {
	if s.live.Add(-1) == 0 {
		s.finish()
	}
}

// finish closes the outputs of s and releases its inputs, once its last
// worker has exited.
func (s *stage) finish() {
	for _, e := range s.outputs {
		e.close()
		e.closed.Store(true)
		e.discardIfAbandoned()
	}
	for _, e := range s.inputs {
		e.release()
	}
	s.finished.Store(true)
	var err error
	if e := s.err.Load(); e != nil {
		err = e
	}
	s.notify(Event{Kind: StageStopped, Err: err})
	for _, e := range s.outputs {
		if e.cancel != nil {
			e.cancel()
		}
	}
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
	e.discardIfAbandoned()
	if e.cancel != nil {
		e.cancel()
	}
	if from := e.from; int(from.released.Add(1)) == len(from.outputs) {
		from.cancel()
		for _, in := range from.inputs {
			in.release()
		}
	}
}

// discardIfAbandoned empties e once it is both released and closed,
// whichever happened last: nobody will read what is left in it, so it is
// counted as dropped, and not kept alive until the pipeline ends.
func (e *edge) discardIfAbandoned() {
	if !e.released.Load() || !e.closed.Load() {
		return
	}
	e.discard.Do(func() {
		if n := e.drain(); n > 0 && len(e.from.counters) > 0 {
			e.from.dropped(&e.from.counters[0], int64(n))
		}
	})
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
	lat     *latencyHist
	timed   uint32 // elements since the last latency sample
	id      int
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

// isDone reports whether a done channel is closed, without blocking.
func isDone(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// recv receives the next element of in and counts it. It returns errClosed
// when in is closed and errDone when the worker is done. See take.
func recv[T any](w *worker, in <-chan T, closes bool) (T, error) {
	v, err := take(w, in, closes, nil)
	if err == nil {
		w.received()
	}
	return v, err
}

// take receives from ch without counting: recv for a stage's input, and
// directly for the channels inside a stage. It tries a non-blocking receive
// first. In a stage that calls a user function it never hands out an
// element once the worker is done, even one that was already queued
// (pitfall P21); such an element is counted as dropped. Stages that only
// move elements (sinks, Merge, Buffer, …) skip that check, which costs as
// much as a receive: forwarding an element already queued is harmless, and
// the next stage that calls a function drops it. A non-nil timeout makes it return errTimeout when timeout
// delivers first.
//
// When closes is true (and there is no timeout) the receive blocks on ch
// alone: ch was made by a single-output stage of this pipeline, which closes
// it as soon as its own context is done, and the release of this stage
// cancels that producer at once (see edge.release). A select on ch and done
// costs twice as much on the blocking path, which a busy pipeline takes
// often.
func take[T any](w *worker, ch <-chan T, closes bool, timeout <-chan time.Time) (T, error) {
	var (
		v  T
		ok bool
	)
	select {
	case v, ok = <-ch:
	default:
		w.flush()
		w.c.idle.Store(1)
		defer w.c.idle.Store(0)
		switch {
		case timeout != nil:
			select {
			case v, ok = <-ch:
			case <-timeout:
				return v, errTimeout
			case <-w.done:
				return v, errDone
			}
		case closes:
			v, ok = <-ch
		default:
			select {
			case v, ok = <-ch:
			case <-w.done:
				return v, errDone
			}
		}
	}
	if !ok {
		return v, errClosed
	}
	if w.s.callsUser && isDone(w.done) {
		w.drop(1) // received, but the stage is done: never started
		var zero T
		return zero, errDone
	}
	return v, nil
}

// errTimeout is returned by take when its timeout fired first.
var errTimeout = errors.New("stream: timeout")

// send sends v on out and counts it, or returns errDone when done is closed
// first. See put.
func send[T any](w *worker, out chan<- T, v T, done <-chan struct{}) error {
	if err := put(w, out, v, done); err != nil {
		return err
	}
	w.sent()
	return nil
}

// put sends v on ch without counting, or returns errDone when done is
// closed first. The non-blocking attempt first makes the common case as
// cheap as a plain send.
func put[T any](w *worker, ch chan<- T, v T, done <-chan struct{}) error {
	select {
	case ch <- v:
		return nil
	default:
	}
	w.flush()
	select {
	case ch <- v:
		return nil
	case <-done:
		return errDone
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
	closes := make([]bool, len(ins))
	for i, in := range ins {
		closes[i] = s.closedWithProducer(in)
	}
	s.start(func(w *worker) error {
		ctx := s.ctx
		i := w.id % len(ins)
		in, closes := ins[i], closes[i]
		step := newStep(w)
		adaptive := s.cfg.adaptive
		for {
			if adaptive != nil {
				if err := adaptive.gate(w); err != nil {
					return err
				}
			}
			v, err := recv(w, in, closes)
			if err != nil {
				if err == errClosed && adaptive != nil {
					adaptive.inputClosed()
				}
				return err
			}
			if w.timed++; !counting || w.timed < latencySample {
				err = step(ctx, v)
			} else {
				w.timed = 0
				start := time.Now()
				err = step(ctx, v)
				w.lat.add(time.Since(start))
			}
			if err != nil {
				return err
			}
		}
	})
}

// emitter returns the function a worker uses to send to out. Once the worker
// is done it returns the stage context's error, which user code sees.
func emitter[T any](w *worker, out chan<- T) func(T) error {
	return func(v T) error {
		if send(w, out, v, w.done) != nil {
			return context.Canceled
		}
		return nil
	}
}

// drain receives whatever is buffered in ch, which may be closed, without
// blocking and returns how many elements it discarded.
func drain[T any](ch chan T) int {
	n := 0
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return n
			}
			n++
		default:
			return n
		}
	}
}
