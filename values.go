package stream

import (
	"iter"
	"sync"
	"time"
)

// Values returns an iterator over the elements of in, for a range loop in
// the caller's goroutine:
//
//	for v, err := range stream.Values(p, out) {
//		if err != nil {
//			return err // the pipeline failed
//		}
//		use(v)
//	}
//
// It yields (v, nil) for each element of in. When in is exhausted it waits
// for the pipeline and, if [Pipeline.Wait] returns an error, yields (zero,
// err) once. Breaking out of the loop (or returning from it) releases in at
// once, like [First]: the stages feeding it stop, other branches run on;
// then the iterator waits for the pipeline before the loop statement ends,
// and the caller gets its result from Wait. Either way every goroutine of the
// pipeline has exited when the loop ends. If the body panics or calls
// runtime.Goexit, in is released the same way but the iterator does not
// wait: the pipeline runs on, and its result is Wait's.
//
// Values is a sink: the stage that reads in is registered when Values is
// called (it shows in [Pipeline.Stats] and [Pipeline.Graph]), but it reads
// only while the loop runs, in the loop's goroutine. Range over the iterator
// once; a second loop yields only Wait's error, if any. The loop's body
// must not call Wait (or a blocking sink): the pipeline ends only when the
// loop does, so that call would never return; it panics instead. Until the loop
// starts, in is not read, so its producers wait (see "Channels" in the
// package doc): range over it, or end the pipeline. A nil p or in panics.
func Values[T any](p *Pipeline, in <-chan T) iter.Seq2[T, error] {
	checkPipeline(p)
	checkInput(in, "Values")
	s := p.addStage("values", newConfig(nil), []any{in})
	s.callsUser = true // the loop's body: no element once the pipeline ended (P21)
	ip := input(s, in, true)
	ip.closes = false
	// The loop, not the stage, reads in: the stage may end (the pipeline
	// cancelled) while the loop runs; the loop discards what it holds.
	s.discards = nil
	// The stage's one goroutine holds the stage open while the loop reads
	// in; it returns, finishing the stage and releasing in, when the loop
	// ends or the pipeline does.
	stop := make(chan struct{})
	var stopOnce sync.Once
	end := func() { stopOnce.Do(func() { close(stop) }) }
	s.start(func(w *worker) error {
		select {
		case <-stop:
			return errFinished
		case <-w.done:
			return errDone
		}
	})
	var mu sync.Mutex // one loop at a time reads in
	return func(yield func(T, error) bool) {
		mu.Lock()
		defer mu.Unlock()
		defer end() // also when the loop's body panics or calls runtime.Goexit
		// The loop's body must not wait for the pipeline, which waits for
		// the loop: Wait there panics rather than hangs.
		id := goid()
		p.enter(id, "the body of a Values loop over the pipeline")
		inside := true
		leave := func() {
			if inside {
				inside = false
				p.leave(id)
			}
		}
		defer leave()
		// The loop's own worker: it counts in the stage's counters (they
		// are atomic) and watches the stage's context, so a cancelled
		// pipeline ends the loop.
		w := &worker{s: s, c: &s.counters[0], lat: &s.latency[0], done: s.ctx.Done(), untimed: latencySample - 1}
		defer ip.discard() // the loop is over: what it holds is never handed out
		for {
			v, err := take(w, ip, nil)
			if err != nil {
				break
			}
			w.received()
			// An element's latency is the loop body's time on it.
			var more bool
			if w.sampling() {
				start := time.Now()
				more = yield(v, nil)
				w.timed(start)
			} else {
				more = yield(v, nil)
			}
			if !more {
				w.flush()
				end()
				leave()
				_ = p.Wait()
				return
			}
		}
		w.flush()
		end()
		leave()
		if err := p.Wait(); err != nil {
			var zero T
			yield(zero, err)
		}
	}
}
