package stream

import (
	"context"
	"hash/maphash"
	"strconv"
)

// Merge emits the elements of all ins, in arrival order, from one output
// that closes when every input has closed. It runs one goroutine per input
// (not per element). Merge of no inputs returns a closed channel. A nil
// input, or the same channel twice, panics.
func Merge[T any](p *Pipeline, ins []<-chan T, opts ...Option) <-chan T {
	checkPipeline(p)
	keys := make([]any, len(ins))
	for i, in := range ins {
		checkInput(in, "Merge")
		keys[i] = in
	}
	cfg := stageConfig("merge", opts, usesCapacity)
	cfg.workers = len(ins)
	s := p.addStage("merge", cfg, keys)
	out := output[T](s)
	consume(s, ins, func(w *worker) func(context.Context, T) error {
		return func(_ context.Context, v T) error { return send(w, out, v, w.done) }
	})
	return out.ch
}

// FanOut distributes the elements of in over n outputs: each element goes to
// exactly one of them, whichever is ready to take it, so a slow consumer
// gets fewer elements. It runs n goroutines, one per output. When the
// consumer of one output releases it, the others go on and get every
// element from then on; what that output had (the elements in its buffer,
// and one its goroutine had taken for it and was waiting to send) is
// dropped, counted in [StageStats].Dropped and passed to [OnDrop]. The
// stage stops when all are released. The outputs close when in is closed.
// n < 1 or n > 65536 panics.
func FanOut[T any](p *Pipeline, in <-chan T, n int, opts ...Option) []<-chan T {
	checkPipeline(p)
	checkInput(in, "FanOut")
	checkN(n, "FanOut")
	cfg := typedConfig[T]("fanout", opts, usesDrop|usesCapacity)
	cfg.workers = n
	s := p.addStage("fanout", cfg, []any{in})
	outs := outputs[T](s, n)
	s.workerDone = make([]<-chan struct{}, n)
	for i, e := range s.outputs {
		s.workerDone[i] = e.done
	}
	onDrop := typedOption[func(T)](cfg.onDrop, "OnDrop", s.kind)
	// Element by element: a worker holds no element its output, once
	// released, would never take. Its receive watches the release. Read
	// element by element, the inport has no state: the workers share it.
	ip := input(s, in, false)
	ip.closes = false
	s.start(func(w *worker) error {
		out := outs[w.id]
		for {
			// A worker whose output was released takes no more elements:
			// it checks before each, and its receive watches the release
			// (closes is false), so the elements go to the others.
			if isDone(w.done) {
				return errDone
			}
			v, err := recv(w, ip)
			if err != nil {
				return err
			}
			if err := sendCh(w, out, v, w.done); err != nil {
				droppedIfRunning(w, onDrop, v) // taken for this output before its release
				return err
			}
		}
	})
	return receiveOnly(outs)
}

// Broadcast sends every element of in to each of n outputs, in order. It
// runs one goroutine, which sends an element to every output before it
// receives the next: the slowest consumer sets the pace of all (give a
// branch [Capacity] to absorb bursts). An output whose consumer released it
// is skipped from then on, and what was left in its buffer is discarded
// (not dropped: the other outputs got their copies); the stage stops when
// all are released. The
// outputs close when in is closed. n < 1 or n > 65536 panics.
func Broadcast[T any](p *Pipeline, in <-chan T, n int, opts ...Option) []<-chan T {
	checkPipeline(p)
	checkInput(in, "Broadcast")
	checkN(n, "Broadcast")
	s := p.addStage("broadcast", stageConfig("broadcast", opts, usesCapacity), []any{in})
	s.copies = true
	outs := outputs[T](s, n)
	consume(s, []<-chan T{in}, func(w *worker) func(context.Context, T) error {
		return func(_ context.Context, v T) error {
			for i, out := range outs {
				if _, err := sendOrReleased(w, out, v, s.outputs[i]); err != nil {
					return err
				}
			}
			return nil
		}
	})
	return receiveOnly(outs)
}

// Partition routes each element v of in to output hash(key(v)) mod n, so
// elements with equal keys always go to the same output, in input order. It
// runs one goroutine. Elements routed to an output whose consumer released
// it are dropped and counted in [StageStats].Dropped; the stage stops when
// all outputs are released. The outputs close when in is closed. A panic in
// key fails the pipeline. n < 1, n > 65536 or a nil key panics.
func Partition[T any, K comparable](p *Pipeline, in <-chan T, n int, key func(T) K, opts ...Option) []<-chan T {
	checkPipeline(p)
	checkInput(in, "Partition")
	checkN(n, "Partition")
	if key == nil {
		panic("stream: Partition: nil key function")
	}
	s := p.addStage("partition", typedConfig[T]("partition", opts, usesDrop|usesCapacity), []any{in})
	outs := outputs[T](s, n)
	seed := maphash.MakeSeed()
	onDrop := typedOption[func(T)](s.cfg.onDrop, "OnDrop", s.kind)
	s.callsUser = true // key
	consume(s, []<-chan T{in}, func(w *worker) func(context.Context, T) error {
		return func(_ context.Context, v T) error {
			i := maphash.Comparable(seed, key(v)) % uint64(n)
			sent, err := sendOrReleased(w, outs[i], v, s.outputs[i])
			if !sent && err == nil {
				droppedIfRunning(w, onDrop, v)
			}
			return err
		}
	})
	return receiveOnly(outs)
}

// sendOrReleased sends v on out, the channel of e, and reports whether it
// did: not when e has been released. It returns errDone when the whole
// stage is done.
func sendOrReleased[T any](w *worker, out chan<- T, v T, e *edge) (bool, error) {
	if e.released.Load() {
		return false, nil
	}
	if err := sendCh(w, out, v, e.done); err != nil {
		// The output's consumer let go. If the whole pipeline is being
		// cancelled (consumers can hear of it before this stage does),
		// stop now rather than start another element.
		if isDone(w.done) || w.s.p.ctx.Err() != nil {
			return false, errDone
		}
		return false, nil
	}
	return true, nil
}

func receiveOnly[T any](chans []chan T) []<-chan T {
	outs := make([]<-chan T, len(chans))
	for i, ch := range chans {
		outs[i] = ch
	}
	return outs
}

func checkN(n int, op string) {
	if n < 1 {
		panic("stream: " + op + ": n must be at least 1, got " + strconv.Itoa(n))
	}
	checkMax(n, maxWorkers, op)
}

// dropped counts a dropped element and passes it to the OnDrop function,
// if any.
func dropped[T any](w *worker, onDrop func(T), v T) {
	w.drop(1)
	if onDrop != nil {
		w.s.callOnDrop(func() { onDrop(v) })
	}
}

// droppedIfRunning is dropped for an element bound for a released output:
// once the stage is done (the pipeline ended, or every output was released)
// it is discarded, not dropped (see "Drops" in the package doc). A policy's
// drop (Buffer's overflow) is a drop whenever it happens: the element may
// already be out of the output, and the stage's end must not hide it.
func droppedIfRunning[T any](w *worker, onDrop func(T), v T) {
	if !isDone(w.s.ctx.Done()) {
		dropped(w, onDrop, v)
	}
}
