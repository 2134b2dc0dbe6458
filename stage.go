package stream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"
)

// The one stage engine every operator is built on is in three files. This
// one: stage registration and naming, the ownership of channels (one
// producer, at most one consuming stage), the close-once of outputs and
// demand-driven release. worker.go: the worker goroutines, with panic
// recovery and counting, and the consumer loop. handoff.go: the fast-path
// send and receive. Operators supply only the per-element step.

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
	// abandoned counts the outputs released before their consumer read
	// them to their end: once every output is, the stage ended for lack of
	// demand, and what is left in its outputs is not a drop.
	abandoned atomic.Int32
	// copies marks a stage whose outputs get copies of the same elements
	// (Broadcast): what a released output had, the others got too, so it
	// is not a drop.
	copies bool
	// elementsOnly marks a stage whose single output must not carry
	// chunks: it handles its output channel itself (Buffer).
	elementsOnly bool
	// flushers hand on the pending chunks of its outputs (see chunk.go).
	flushers []func(*worker)
	// discards clear what its chunked inputs hold unread, once it ends.
	discards []func()
	finished atomic.Bool
	err      atomic.Pointer[Error] // the error the stage reported, if any
	dropMu   sync.Mutex            // calls of OnDrop never overlap
	counters []counters            // one per worker, so counting never contends
	workers  []*worker             // set by start, under the pipeline's lock
	latency  []latencyHist         // one per worker
}

// edge is a channel from one stage to the stage that consumes it.
type edge struct {
	from     *stage
	to       *stage // nil while no stage consumes it (the caller may read it)
	link     any    // the *link[T] of an output that may carry chunks, or nil
	capacity int
	length   func() int
	close    func()
	// drain discards what is buffered; when count is true it counts it as
	// dropped and passes it to the producer's OnDrop.
	drain    func(count bool)
	released atomic.Bool
	closed   atomic.Bool // by its producer, which has finished
	// mu guards drained (the edge is drained once) and countDrops, which
	// says whether what is left in it when it is released is a drop: it
	// was released while another output of its producer was still wanted,
	// before the pipeline ended (see "Drops" in the package doc).
	mu         sync.Mutex
	countDrops bool
	drained    bool
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
	// inIdle is the count of elements in, shifted left by one, plus 1
	// while the worker waits (for input, mostly): a worker about to block
	// publishes both with one atomic add.
	inIdle                                         atomic.Int64
	out, errors, skipped, dropped, retried, panics atomic.Int64
	early                                          atomic.Int64 // panes emitted early (MaxPanes)
	_                                              [64]byte
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
		if to := p.callerIns[in]; to != nil {
			panic("stream: " + kind + ": channel made by the caller is already consumed by " +
				to.name + "; use FanOut or Broadcast to feed several stages")
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
		} else {
			p.callerIns[in] = s
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
	ports := makePorts[T](s, n)
	chans := make([]chan T, n)
	for i, p := range ports {
		chans[i] = p.ch
	}
	return chans
}

// output makes the single output of s, which may carry chunks to a stage
// of the pipeline that consumes it (see chunk.go).
func output[T any](s *stage) *port[T] {
	return makePorts[T](s, 1)[0]
}

func makePorts[T any](s *stage, n int) []*port[T] {
	if size := unsafe.Sizeof(*new(T)); size > 0 && uint64(s.cfg.capacity) > maxChanBytes/uint64(size) {
		panic(fmt.Sprintf("stream: %s: a channel of %d elements of %d bytes is too large (at most %d bytes)",
			s.kind, s.cfg.capacity, size, maxChanBytes))
	}
	ports := make([]*port[T], n)
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	for i := range ports {
		ch := make(chan T, s.cfg.capacity)
		out := &port[T]{ch: ch}
		e := &edge{
			from:     s,
			capacity: s.cfg.capacity,
			length:   func() int { return len(ch) },
			close:    func() { close(ch) },
			drain:    func(count bool) { drainOutput(s, ch, nil, count) },
			done:     s.ctx.Done(),
		}
		if n == 1 && chunkable[T](s) {
			l := newLink[T](s)
			out.l = l
			e.link = l
			e.length = func() int {
				return min(len(ch)+l.queuedMax(), s.cfg.capacity)
			}
			e.close = func() {
				// By the producer's goroutine, which closed ch if it
				// switched to chunks.
				if !out.chunking {
					close(ch)
				}
				close(l.chunks)
			}
			e.drain = func(count bool) { drainOutput(s, ch, l, count) }
			s.flushers = append(s.flushers, out.flushPending)
		}
		if n > 1 {
			var ctx context.Context
			ctx, e.cancel = context.WithCancel(s.ctx)
			e.done = ctx.Done()
		}
		s.p.edges[(<-chan T)(ch)] = e
		s.outputs = append(s.outputs, e)
		ports[i] = out
	}
	return ports
}

// finish closes the outputs of s and releases its inputs, once its last
// worker has exited.
func (s *stage) finish() {
	for _, e := range s.outputs {
		e.close()
		e.closed.Store(true)
		e.discard()
	}
	for _, d := range s.discards {
		d()
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
// stops without waiting for each stage to notice in turn. What e holds is
// discarded once its producer has closed it (see discard).
func (e *edge) release() {
	from := e.from
	e.mu.Lock()
	if e.released.Load() {
		e.mu.Unlock()
		return
	}
	last := int(from.released.Add(1)) == len(from.outputs)
	// A consumer that read e to its end did not abandon it.
	abandoned := from.abandoned.Load()
	if !e.closed.Load() || e.length() > 0 {
		abandoned = from.abandoned.Add(1)
	}
	e.countDrops = int(abandoned) < len(from.outputs) && from.p.ctx.Err() == nil && !from.copies
	e.released.Store(true)
	e.mu.Unlock()
	e.discard()
	if e.cancel != nil {
		e.cancel()
	}
	if last {
		from.cancel()
		for _, in := range from.inputs {
			in.release()
		}
	}
}

// discard empties e once it is both released and closed, whichever
// happened last: nobody will read what is left in it, and it is not kept
// alive until the pipeline ends. Not before it is closed: a receive would
// complete a send its producer is blocked in, and the producer would go on
// as if the element had been delivered.
func (e *edge) discard() {
	e.mu.Lock()
	drain := e.released.Load() && e.closed.Load() && !e.drained
	e.drained = e.drained || drain
	count := e.countDrops
	e.mu.Unlock()
	if drain { // not under the lock: it calls OnDrop and the observer
		e.drain(count)
	}
}

// drainOutput receives what is buffered in ch, an output of s, and in its
// chunks if l is not nil, without blocking. When count is true each element
// is a drop: counted, passed to the stage's OnDrop if it has one for this
// type, and reported.
func drainOutput[T any](s *stage, ch chan T, l *link[T], count bool) {
	onDrop, _ := s.cfg.onDrop.(func(T))
	count = count && len(s.counters) > 0
	var n int64
	if l != nil {
		var drop func(T)
		if count && onDrop != nil {
			drop = func(v T) { s.callOnDrop(func() { onDrop(v) }) }
		}
		if k := drainChunks(l, drop); count && k > 0 {
			n += k
			s.counters[0].dropped.Add(k)
		}
	}
loop:
	for {
		select {
		case v, ok := <-ch:
			if !ok {
				break loop
			}
			if count {
				n++
				s.counters[0].dropped.Add(1)
				if onDrop != nil {
					s.callOnDrop(func() { onDrop(v) })
				}
			}
		default:
			break loop
		}
	}
	if n > 0 {
		s.notify(Event{Kind: ElementDropped, Count: n})
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
