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
func recv[T any](w *worker, in *inport[T]) (T, error) {
	v, err := take(w, in, nil)
	if err == nil {
		w.received()
	}
	return v, err
}

// take receives from in without counting: recv for a stage's input, and
// directly for stages with their own loop. It tries a non-blocking receive
// first. In a stage that calls a user function it never hands out an
// element once the worker is done, even one that was already queued
// (pitfall P21); such an element is discarded. Stages that only
// move elements (sinks, Merge, Buffer, …) skip that check, which costs as
// much as a receive: forwarding an element already queued is harmless, and
// the next stage that calls a function drops it. A non-nil timeout makes it
// return errTimeout when timeout delivers first.
//
// When in.closes is true (and there is no timeout) the receive blocks on the
// channel alone: it was made by a single-output stage of this pipeline, which
// closes it as soon as its own context is done, and the release of this stage
// cancels that producer at once (see edge.release). A select on the channel
// and done costs twice as much on the blocking path, which a busy pipeline
// takes often.
//
// Before it blocks, the worker publishes its counts. It keeps its pending
// chunk: a consumer that runs out steals it (see chunk.go).
func take[T any](w *worker, in *inport[T], timeout <-chan time.Time) (T, error) {
	var (
		v  T
		ok bool
	)
	switch {
	case in.i < in.n:
		return checkDone(w, in.pop())
	case in.chunked:
		return takeChunk(w, in, timeout)
	}
	select {
	case v, ok = <-in.ch:
	default:
		var err error
		// await clears the waiting mark before takeChunk may set it
		// again: one mark at a time.
		if v, ok, err = await(w, in.ch, in.closes, timeout); err != nil {
			return v, err
		}
	}
	if !ok {
		if in.l != nil {
			// Closed by its producer to switch to chunks, or at its
			// end, when it closes the chunks too.
			in.chunked = true
			return takeChunk(w, in, timeout)
		}
		return v, errClosed
	}
	return checkDone(w, v)
}

// await blocks for the next receive from ch, marked as waiting (see
// worker.wait): on ch alone when closes is true and there is no timeout
// (see take), else also returning errTimeout when timeout delivers first
// and errDone when the worker is done.
func await[E any](w *worker, ch <-chan E, closes bool, timeout <-chan time.Time) (v E, ok bool, err error) {
	w.wait()
	switch {
	case timeout != nil:
		select {
		case v, ok = <-ch:
		case <-timeout:
			err = errTimeout
		case <-w.done:
			err = errDone
		}
	case closes:
		v, ok = <-ch
	default:
		select {
		case v, ok = <-ch:
		case <-w.done:
			err = errDone
		}
	}
	w.woke()
	return v, ok, err
}

// checkDone returns v, or discards it with errDone when w's stage calls a
// user function and is done (see take).
func checkDone[T any](w *worker, v T) (T, error) {
	// Err, an atomic load, is cheaper than a receive from Done, and turns
	// non-nil before Done closes. (A stage that calls user functions has
	// no done channel per worker: w.done is its context's.)
	if w.s.callsUser && (w.s.ctx.Err() != nil || w.s.p.ctx.Err() != nil) {
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

// takeChunk is take once in reads chunks, and the chunk it read is done.
func takeChunk[T any](w *worker, in *inport[T], timeout <-chan time.Time) (T, error) {
	l := in.l
	for {
		if in.takeHeld() {
			return checkDone(w, in.pop())
		}
		var (
			it item[T]
			ok bool
		)
		select {
		case it, ok = <-l.chunks:
		default:
			// The queue is empty: rather than wait, take what the
			// producer has pending. Tell it that we wait, then look once
			// more: either we see an element it appends meanwhile, or it
			// sees that we wait and sends it. (Not while a stolen chunk
			// waits for those before it, which are queued.)
			c, k := in.steal()
			if c == nil && in.held == nil {
				l.waits.Add(1)
				c, k = in.steal()
			}
			if c != nil {
				if c.seq != in.next {
					// Chunks sent before it are still queued.
					in.held, in.heldN = c, k
					continue
				}
				in.load(c, k)
				return checkDone(w, in.pop())
			}
			var err error
			if it, ok, err = await(w, l.chunks, in.closes, timeout); err != nil {
				var zero T
				return zero, err
			}
		}
		if !ok {
			var zero T
			return zero, errClosed
		}
		return checkDone(w, in.got(it))
	}
}

// errTimeout is returned by take when its timeout fired first.
var errTimeout = errors.New("stream: timeout")

// sendCh sends v on out and counts it, or returns errDone when done is
// closed first. See put.
func sendCh[T any](w *worker, out chan<- T, v T, done <-chan struct{}) error {
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
