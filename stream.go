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
	group      *errgroup.Group
	ctx        context.Context // stopCtx plus cancellation by the first stage error

	mu         sync.Mutex
	stages     []*stage
	edges      map[any]*edge // keyed by the output channel, as a <-chan T
	waitCalled bool          // no stage may start once Wait has been called
	observer   Observer      // for stages without WithObserver

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
	p := &Pipeline{parent: ctx, edges: make(map[any]*edge)}
	p.stopCtx, p.stopCancel = context.WithCancelCause(ctx)
	p.group, p.ctx = errgroup.WithContext(p.stopCtx)
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
// return once its context is done. An empty name becomes "go#N"; a nil fn
// panics.
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
//   - the parent context's error if its end cut a stage short.
//
// Errors returned by stages after the pipeline was cancelled are not
// reported; a panic always is (if it is the first error). Calling Wait again,
// or from several goroutines, returns the same result. No stage may be added
// after Wait has returned.
func (p *Pipeline) Wait() error {
	checkPipeline(p)
	p.waitOnce.Do(func() {
		// Stages start their goroutines under p.mu, after checking this
		// flag: so every group.Go happens before group.Wait starts.
		p.mu.Lock()
		p.waitCalled = true
		p.mu.Unlock()
		err := p.group.Wait()
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

func checkPipeline(p *Pipeline) {
	if p == nil {
		panic("stream: nil Pipeline")
	}
}
