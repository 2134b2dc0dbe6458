package stream

import (
	"errors"
	"time"
)

// This file moves elements: the receives and sends of workers, with their
// fast paths and cancellation.

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
// (pitfall P21); such an element is discarded. Stages that only
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
	if w.s.callsUser && (isDone(w.done) || isDone(w.s.p.ctx.Done())) {
		// The pipeline's context is checked too: Stop and a failure cancel
		// the stages one after another, and a stage cancelled first may
		// still hand on an element (Batch flushing at its input's close)
		// to one not cancelled yet.
		// Received, but the stage is done: discarded, not dropped (see
		// "Drops" in the package doc).
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
