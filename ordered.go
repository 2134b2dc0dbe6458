package stream

import (
	"context"
	"sync/atomic"
	"time"
)

// An Ordered stage with n workers runs n goroutines and adds no channel
// between its input and its output. Its reorder window is a ring of
// orderWindow·n slots, one per element, indexed by the element's sequence
// number:
//
//   - A worker takes the input in turn (the reader lock) and receives a run
//     of consecutive elements, as many as the window has room for, up to
//     orderRun and no more than its share of what is queued, so that idle
//     workers get their part. It processes its run in order.
//   - The worker whose element is the head of the window (the oldest not yet
//     emitted) is the owner: it sends its values to the output as they come.
//     Any other worker puts its element's values in the element's slot and
//     marks it done, with one atomic add.
//   - When the owner has finished its element it moves the head on, sending
//     the values of the following elements that are done, and at the first
//     that is not, hands the output over to its worker (or to whoever will
//     get that element) by setting the owned bit of the slot's word. The
//     worker sees the bit when it next publishes a value or its end, and
//     goes on as the owner. One word per slot holds the value count and the
//     done, owned and waiting bits, so the hand-over cannot miss a value.
//
// Waiting is on channels only (the reader lock's turn, room in the window,
// the hand-over to a worker whose slot is full), so that a blocked stage is
// durably blocked for testing/synctest. No allocation per element: slots,
// runs and values are reused.
const (
	orderWindow = 16 // slots (elements) per worker in the reorder window
	orderRun    = 16 // most elements a worker takes from the input at once
	orderValues = 8  // values a FlatMap element not at the head may hold
)

// The bits of a slot's word.
const (
	slotCount   = 1<<32 - 1 // values in the slot
	slotDone    = 1 << 32   // the element's step has returned
	slotOwned   = 1 << 33   // the element's worker owns the output
	slotWaiting = 1 << 34   // its worker waits for the output (its slot is full)
)

// orderSlot holds the values of one element of the window until the element
// is at the head.
type orderSlot[U any] struct {
	word     atomic.Uint64
	consumed int // values the owner has sent: the owner's
	waiter   int // the worker waiting for the output, with slotWaiting
	vals     []U
}

// ordered is the shared state of an Ordered stage.
type ordered[T, U any] struct {
	in      <-chan T
	closes  bool
	out     chan<- U
	once    bool // each step emits at most once, as its last act
	workers int
	slots   []orderSlot[U]
	window  uint64

	// The reader lock: a count of the workers that hold or want it, and
	// the turn handed to the next when the holder lets go.
	readers atomic.Int32
	turn    chan struct{}
	next    uint64 // sequence number of the next element received
	nextIdx int    // its slot

	head     atomic.Uint64 // sequence number of the oldest element not emitted
	headIdx  int           // its slot; the owner's
	roomWait atomic.Bool   // the reader waits for the head to move
	room     chan struct{}

	wake []chan struct{} // per worker: you own the output now
}

// transformOrdered runs an Ordered stage with n > 1 workers. See ordered.
func transformOrdered[T, U any](s *stage, in <-chan T, out chan U, pol *policy[T], step stepFunc[T, U], once bool) {
	n := s.cfg.workers
	o := &ordered[T, U]{
		in:      in,
		closes:  s.closedWithProducer(in),
		out:     out,
		once:    once,
		workers: n,
		slots:   make([]orderSlot[U], orderWindow*n),
		window:  uint64(orderWindow * n),
		turn:    make(chan struct{}, 1),
		room:    make(chan struct{}, 1),
		wake:    make([]chan struct{}, n),
	}
	for i := range o.wake {
		o.wake[i] = make(chan struct{}, 1)
	}
	if once {
		vals := make([]U, len(o.slots))
		for i := range o.slots {
			o.slots[i].vals = vals[i : i+1 : i+1]
		}
	}
	o.slots[0].word.Store(slotOwned) // the first element's worker owns the output
	s.start(func(w *worker) error {
		ow := &orderedWorker[T, U]{o: o, w: w, run: make([]T, orderRun)}
		return ow.loop(wrap(pol, w, step))
	})
}

// orderedWorker is one worker of an Ordered stage.
type orderedWorker[T, U any] struct {
	o         *ordered[T, U]
	w         *worker
	run       []T
	sl        *orderSlot[U] // the slot of the element in hand
	n         int           // values of the element in hand put in its slot
	published int           // of which its word counts
	owner     bool          // this worker sends on the output
}

func (ow *orderedWorker[T, U]) loop(step stepFunc[T, U]) error {
	o, w := ow.o, ow.w
	ctx := w.s.ctx
	emit := ow.emit
	var zero T
	for {
		k, idx, err := o.claim(w, ow.run)
		if err != nil {
			return err
		}
		for j := range k {
			if isDone(w.done) || isDone(w.s.p.ctx.Done()) { // see take
				// Received, never started (P21): discarded, not dropped
				// (see "Drops" in the package doc).
				clear(ow.run[j:k])
				return errDone
			}
			v := ow.run[j]
			ow.run[j] = zero
			ow.sl, ow.n, ow.published = &o.slots[idx], 0, 0
			var start time.Time
			timed := w.sampling()
			if timed {
				start = time.Now()
			}
			if err := step(ctx, v, emit); err != nil {
				if j+1 < k {
					clear(ow.run[j+1 : k]) // discarded: the stage fails
				}
				return err
			}
			if err := ow.finish(j+1 < k); err != nil {
				return err
			}
			if timed {
				w.timed(start)
			}
			if idx++; idx == len(o.slots) {
				idx = 0
			}
		}
	}
}

// claim takes the reader lock and receives the next run of elements into
// run. It returns their number and the slot of the first.
func (o *ordered[T, U]) claim(w *worker, run []T) (k, idx int, err error) {
	if o.readers.Add(1) != 1 {
		// Another worker reads: wait for the turn, as for input.
		w.flush()
		w.c.idle.Store(1)
		<-o.turn
		w.c.idle.Store(0)
	}
	k, idx, err = o.receive(w, run)
	if o.readers.Add(-1) != 0 {
		o.turn <- struct{}{} // never blocks: one turn is handed at a time
	}
	return k, idx, err
}

// receive is claim under the reader lock. It waits until the window has
// room for one element, receives it (blocking), and then as many more as
// are queued, up to the room left, len(run) and a fair share of the queue.
func (o *ordered[T, U]) receive(w *worker, run []T) (int, int, error) {
	limit := o.head.Load() + o.window // elements below limit have a free slot
	for o.next >= limit {
		w.flush()
		o.roomWait.Store(true)
		if limit = o.head.Load() + o.window; o.next < limit {
			break
		}
		select {
		case <-o.room:
		case <-w.done:
			return 0, 0, errDone
		}
		limit = o.head.Load() + o.window
	}
	v, err := recv(w, o.in, o.closes)
	if err != nil {
		return 0, 0, err
	}
	run[0] = v
	k := 1
	want := min(len(run), 1+len(o.in)/o.workers, int(limit-o.next))
more:
	for k < want {
		select {
		case v, ok := <-o.in:
			if !ok {
				break more
			}
			run[k] = v
			k++
			w.received()
		default:
			break more
		}
	}
	w.flush() // once per run: the window's elements show in Stats at once
	idx := o.nextIdx
	o.next += uint64(k)
	if o.nextIdx += k; o.nextIdx >= len(o.slots) {
		o.nextIdx -= len(o.slots)
	}
	return k, idx, nil
}

// emit is the emit function of the worker's steps.
func (ow *orderedWorker[T, U]) emit(u U) (err error) {
	if ow.w.exited.Load() {
		return ow.w.lateEmit() // see emitter
	}
	defer ow.w.recoverLateEmit(&err)
	if !ow.owner {
		sl := ow.sl
		if ow.n == len(sl.vals) {
			if sl.vals == nil {
				sl.vals = make([]U, orderValues) // once per slot
			} else if ow.own() != nil {
				return context.Canceled
			}
		}
		if !ow.owner {
			sl.vals[ow.n] = u
			ow.n++
			if ow.o.once {
				return nil // published with the element's end
			}
			ow.published = ow.n
			if sl.word.Add(1)&slotOwned == 0 {
				return nil
			}
			ow.owner = true
			if ow.flush() != nil {
				return context.Canceled
			}
			return nil
		}
	}
	if send(ow.w, ow.o.out, u, ow.w.done) != nil {
		return context.Canceled
	}
	return nil
}

// own waits until the worker's element is at the head and the output is
// handed to it, and sends the values its slot holds.
func (ow *orderedWorker[T, U]) own() error {
	sl, w := ow.sl, ow.w
	word := sl.word.Add(uint64(ow.n - ow.published))
	ow.published = ow.n
	for word&slotOwned == 0 {
		sl.waiter = w.id
		if sl.word.CompareAndSwap(word, word|slotWaiting) {
			w.flush()
			select {
			case <-ow.o.wake[w.id]:
			case <-w.done:
				return errDone
			}
			break
		}
		word = sl.word.Load()
	}
	ow.owner = true
	return ow.flush()
}

// flush sends the values the slot of the element in hand holds, once the
// worker owns the output.
func (ow *orderedWorker[T, U]) flush() error {
	sl := ow.sl
	for ; sl.consumed < ow.n; sl.consumed++ {
		if err := send(ow.w, ow.o.out, sl.vals[sl.consumed], ow.w.done); err != nil {
			return err
		}
	}
	return nil
}

// finish ends the element in hand: it marks it done, with its values, or,
// when the worker owns the output, moves the head on. At the end of its
// run the owner sends the results of the following elements that are done
// and hands the output on.
func (ow *orderedWorker[T, U]) finish(more bool) error {
	o, sl := ow.o, ow.sl
	if !ow.owner {
		if sl.word.Add(uint64(ow.n-ow.published)|slotDone)&slotOwned == 0 {
			return nil // the owner will send its values
		}
		ow.owner = true
		if err := ow.flush(); err != nil {
			return err
		}
	}
	o.release(sl, ow.n)
	if more {
		return nil // the next element of the run is the head now
	}
	ow.owner = false
	return o.drain(ow.w)
}

// release empties the head slot, which the owner has sent, and moves the
// head on; n is the number of values the slot held.
func (o *ordered[T, U]) release(sl *orderSlot[U], n int) {
	clear(sl.vals[:n])
	sl.consumed = 0
	sl.word.Store(0)
	if o.headIdx++; o.headIdx == len(o.slots) {
		o.headIdx = 0
	}
	o.head.Add(1)
	if o.roomWait.Load() && o.roomWait.CompareAndSwap(true, false) {
		select {
		case o.room <- struct{}{}:
		default:
		}
	}
}

// drain is run by the owner when it has no element in hand: it sends the
// values of the head elements that are done and releases them, and at the
// first element that is not, sends what it has emitted so far and hands
// the output to its worker.
func (o *ordered[T, U]) drain(w *worker) error {
	for {
		sl := &o.slots[o.headIdx]
		word := sl.word.Load()
		for c := int(word & slotCount); sl.consumed < c; sl.consumed++ {
			if err := send(w, o.out, sl.vals[sl.consumed], w.done); err != nil {
				return err
			}
		}
		if word&slotDone != 0 {
			o.release(sl, int(word&slotCount))
			continue
		}
		if !sl.word.CompareAndSwap(word, word|slotOwned) {
			continue // a value, the end or a waiter came meanwhile
		}
		if word&slotWaiting != 0 {
			o.wake[sl.waiter] <- struct{}{} // never blocks: one hand-over per wait
		}
		return nil
	}
}
