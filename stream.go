package stream

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

// Pipeline owns the stages of one stream computation: their goroutines, their
// channels and their errors. Create one with [New] (or let [Run] do it), add
// stages with the functions of this package, then call [Pipeline.Wait].
//
// The methods of Pipeline are safe for concurrent use. A Pipeline cannot be
// reused once Wait has returned.
type Pipeline struct {
	parent     context.Context
	stopCtx    context.Context // parent plus Stop and build-error cancellation
	stopCancel context.CancelCauseFunc
	group      *errgroup.Group // owns the goroutines; errors go through fail
	ctx        context.Context // stopCtx plus cancellation by the first stage error
	failCancel context.CancelCauseFunc
	firstErr   atomic.Pointer[Error] // the first stage error: what Wait returns

	mu         sync.Mutex
	stages     []*stage
	edges      map[any]*edge  // keyed by the output channel, as a <-chan T
	waitCalled bool           // no stage may start once Wait has been called
	observer   Observer       // for stages without WithObserver
	callerIns  map[any]*stage // the consumer of each channel the caller made
	// inside counts, per goroutine id, the calls in progress on a goroutine
	// that is not the pipeline's own but that the pipeline waits for, where
	// Wait would never return: an Observer told StageStarted on the
	// goroutine adding a stage, the body of a Values loop.
	inside map[uint64]insideCall

	// interrupted records that the pipeline's cancellation cut a stage
	// short, as opposed to every stage finishing on its own.
	interrupted atomic.Bool

	waitOnce sync.Once
	waitErr  error
}

// New returns an empty pipeline whose stages run until ctx ends, a stage
// fails, or [Pipeline.Stop] is called. The caller must call [Pipeline.Wait]
// (directly or through a blocking sink such as [Collect]) to release the
// pipeline's resources. A nil ctx panics.
func New(ctx context.Context) *Pipeline {
	if ctx == nil {
		panic("stream: New: nil context")
	}
	p := &Pipeline{parent: ctx, edges: make(map[any]*edge), callerIns: make(map[any]*stage), inside: make(map[uint64]insideCall)}
	p.stopCtx, p.stopCancel = context.WithCancelCause(ctx)
	p.ctx, p.failCancel = context.WithCancelCause(p.stopCtx)
	p.group = new(errgroup.Group)
	return p
}

// Run creates a pipeline with [New], calls build to add its stages, and
// returns what [Pipeline.Wait] returns. If build returns an error, Run
// cancels the pipeline (with that error as the context's cause), waits for
// every stage to exit and returns build's error unchanged. If build panics,
// Run cancels and waits, then panics again with the same value.
func Run(ctx context.Context, build func(p *Pipeline) error) error {
	if build == nil {
		panic("stream: Run: nil build function")
	}
	p := New(ctx)
	completed := false
	defer func() {
		if !completed { // build panicked: stop and wait, then let the panic go on
			p.stopCancel(ErrStopped)
			_ = p.Wait()
		}
	}()
	err := build(p)
	completed = true
	if err != nil {
		p.stopCancel(err)
		_ = p.Wait()
		return err
	}
	return p.Wait()
}

// Context returns the pipeline's context. It is done when a stage fails,
// when [Pipeline.Stop] is called, when the parent context ends, or when
// [Pipeline.Wait] returns; context.Cause reports the first stage error, or
// [ErrStopped] after Stop.
func (p *Pipeline) Context() context.Context {
	checkPipeline(p)
	return p.ctx
}

// Go adds a custom stage: fn runs in a goroutine owned by the pipeline, with a
// context that is done when the pipeline ends. An error fn returns fails the
// pipeline as a [*Error] named name, unless fn's context was already done; a
// panic in fn is recovered and fails the pipeline as a [*PanicError]. fn must
// return once its context is done; it must not call [Pipeline.Wait] or a
// blocking sink, which would wait for fn itself (they panic). An empty name
// becomes "go#N"; a nil fn panics.
func (p *Pipeline) Go(name string, fn func(ctx context.Context) error) {
	checkPipeline(p)
	if fn == nil {
		panic("stream: Go: nil function")
	}
	cfg := newConfig(nil)
	cfg.name = name
	s := p.addStage("go", cfg, nil)
	s.start(func(*worker) error { return fn(s.ctx) })
}

// Stop ends the pipeline deliberately: every stage's context is cancelled
// with cause [ErrStopped], and [Pipeline.Wait] returns nil unless a stage had
// already failed (or the parent context had already ended). Stop does not
// wait; calling it again has no effect.
func (p *Pipeline) Stop() {
	checkPipeline(p)
	p.stopCancel(ErrStopped)
}

// Wait blocks until every goroutine of the pipeline has exited, then returns:
//   - the first stage error, as a [*Error], if a stage failed;
//   - nil if every stage finished, or [Pipeline.Stop] was called first;
//   - the parent context's error if its end cut a stage short, or if it
//     had ended before a stage started.
//
// Errors returned by stages after the pipeline was cancelled are not
// reported; a panic always is (if it is the first error). Calling Wait again,
// or from several goroutines, returns the same result. No stage may be added
// after Wait has returned.
//
// Wait must be called from outside the pipeline: from a stage's function, a
// [Pipeline.Go] function or an [Observer], it would wait for its own
// goroutine to exit, so it panics instead (in a stage, the panic fails the
// pipeline as a [*PanicError]). The blocking sinks ([Collect], [Reduce],
// [First], [Drain]) call Wait and panic there likewise. A stage that wants
// the pipeline to end calls [Pipeline.Stop] and returns.
func (p *Pipeline) Wait() error {
	checkPipeline(p)
	p.checkOutside("Wait")
	p.waitOnce.Do(func() {
		// Stages start their goroutines under p.mu, after checking this
		// flag: so every group.Go happens before group.Wait starts.
		p.mu.Lock()
		p.waitCalled = true
		p.mu.Unlock()
		_ = p.group.Wait() // the goroutines return no error: see fail
		var err error
		if e := p.firstErr.Load(); e != nil {
			err = e
		}
		switch {
		case err != nil:
		case !p.interrupted.Load():
		case errors.Is(context.Cause(p.stopCtx), ErrStopped):
		default:
			err = p.parent.Err() // nil when Run cancelled for a build error
		}
		p.stopCancel(ErrStopped) // release the contexts' resources
		p.waitErr = err
	})
	return p.waitErr
}

// fail makes e the pipeline's error if it is the first, and cancels the
// pipeline with it as the cause. Stages call it as soon as they fail, before
// telling their observer, so that a slow observer never changes which error
// wins.
func (p *Pipeline) fail(e *Error) {
	if p.firstErr.CompareAndSwap(nil, e) {
		p.failCancel(e)
	}
}

// checkOutside panics if the calling goroutine is one of the pipeline's
// own, or an Observer's call on the goroutine adding a stage: op (Wait, or
// a blocking sink) would wait for it to exit.
func (p *Pipeline) checkOutside(op string) {
	id := goid()
	if id == 0 {
		return // not parsed: never match a worker that has not recorded its id yet
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.inside[id]; c.n > 0 {
		panic("stream: " + op + " called from " + c.where + ": it would wait for the pipeline, which waits for it")
	}
	for _, s := range p.stages {
		for _, w := range s.workers {
			if w.goid.Load() == id {
				panic("stream: " + op + " called from the goroutine of stage " + s.name + ": it would wait for itself (call Stop and return instead)")
			}
		}
	}
}

// insideCall is an entry of Pipeline.inside.
type insideCall struct {
	n     int
	where string
}

// enter marks the calling goroutine, whose id is id, as inside a call the
// pipeline waits for (where says which), until leave(id).
func (p *Pipeline) enter(id uint64, where string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.inside[id]
	p.inside[id] = insideCall{n: c.n + 1, where: where}
}

func (p *Pipeline) leave(id uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.inside[id]; c.n > 1 {
		p.inside[id] = insideCall{n: c.n - 1, where: c.where}
	} else {
		delete(p.inside, id)
	}
}

func checkPipeline(p *Pipeline) {
	if p == nil {
		panic("stream: nil Pipeline")
	}
}
