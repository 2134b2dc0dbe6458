package stream

import (
	"context"
	"runtime"
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
//     goes on as the owner. One word per slot holds the value count, the
//     done, owned and waiting bits and the waiting worker's id, so the
//     hand-over cannot miss a value.
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
	slotWaiter  = 40        // the waiting worker's id is in the bits from here
)

// ordered is the shared state of an Ordered stage. The slots are dense
// arrays (a word and a value each), so that a run of elements handed from
// one worker to the owner moves few cache lines.
type ordered[T, U any] struct {
	in      *inport[T] // read under the reader lock: its order is kept
	out     *port[U]   // written by the owner of the output only
	once    bool       // each step emits at most once, as its last act
	workers int
	window  uint64
	words   []atomic.Uint64 // per slot: the count and bits above
	vals    []U             // per slot, once: the element's value
	multi   [][]U           // per slot, not once: its values (made on first use)
	wake    []chan struct{} // per worker: you own the output now
	room    chan struct{}

	_ [64]byte
	// The reader lock (see lockReader) and what its holder owns, on a
	// cache line of their own.
	readers atomic.Int32
	turn    chan struct{}
	next    uint64 // sequence number of the next element received
	nextIdx int    // its slot
	_       [64]byte

	// What the owner of the output writes, on a line of its own too.
	head     atomic.Uint64 // sequence number of the oldest element not emitted
	headIdx  int           // its slot
	consumed int           // values of the head element sent
	roomWait atomic.Bool   // the reader waits for the head to move
	_        [64]byte
}

// transformOrdered runs an Ordered stage with n > 1 workers. See ordered.
func transformOrdered[T, U any](s *stage, in <-chan T, out *port[U], pol *policy[T], step stepFunc[T, U], once bool) {
	n := s.cfg.workers
	size := orderWindow * n
	o := &ordered[T, U]{
		in:      input(s, in, true),
		out:     out,
		once:    once,
		workers: n,
		window:  uint64(size),
		words:   make([]atomic.Uint64, size),
		wake:    make([]chan struct{}, n),
		room:    make(chan struct{}, 1),
		turn:    make(chan struct{}, 1),
	}
	if once {
		o.vals = make([]U, size)
	} else {
		o.multi = make([][]U, size)
	}
	for i := range o.wake {
		o.wake[i] = make(chan struct{}, 1)
	}
	o.words[0].Store(slotOwned) // the first element's worker owns the output
	s.start(func(w *worker) error {
		ow := &orderedWorker[T, U]{o: o, w: w, run: make([]T, orderRun)}
		return ow.loop(wrap(pol, w, step))
	})
}

// slot returns the values of slot idx: its value, or its values.
func (o *ordered[T, U]) slot(idx int) []U {
	if o.once {
		return o.vals[idx : idx+1 : idx+1]
	}
	return o.multi[idx]
}

// orderedWorker is one worker of an Ordered stage.
type orderedWorker[T, U any] struct {
	o         *ordered[T, U]
	w         *worker
	run       []T
	idx       int  // the slot of the element in hand
	n         int  // values of the element in hand put in its slot
	published int  // of which its word counts
	owner     bool // this worker sends on the output
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
			ow.idx, ow.n, ow.published = idx, 0, 0
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
			if idx++; idx == len(o.words) {
				idx = 0
			}
		}
	}
}

// claim takes the reader lock and receives the next run of elements into
// run. It returns their number and the slot of the first.
func (o *ordered[T, U]) claim(w *worker, run []T) (k, idx int, err error) {
	o.lockReader(w)
	k, idx, err = o.receive(w, run)
	o.unlockReader()
	return k, idx, err
}

// The reader lock's state: readLocked, plus readWaiter for each worker
// parked on turn. A worker that finds the lock taken yields a few times
// before it parks: the holder only receives, which is quick, and a park and
// wake-up cost far more than a receive.
const (
	readLocked = 1
	readWaiter = 2
	readSpins  = 4
)

func (o *ordered[T, U]) lockReader(w *worker) {
	for range readSpins {
		s := o.readers.Load()
		if s&readLocked == 0 && o.readers.CompareAndSwap(s, s|readLocked) {
			return
		}
		runtime.Gosched()
	}
	for {
		s := o.readers.Load()
		if s&readLocked == 0 {
			if o.readers.CompareAndSwap(s, s|readLocked) {
				return
			}
			continue
		}
		if o.readers.CompareAndSwap(s, s+readWaiter) {
			break
		}
	}
	// Wait for the turn, as for input: the holder hands the lock over.
	w.wait()
	<-o.turn
	w.woke()
}

func (o *ordered[T, U]) unlockReader() {
	for {
		s := o.readers.Load()
		if s < readWaiter {
			if o.readers.CompareAndSwap(s, 0) {
				return
			}
			continue
		}
		if o.readers.CompareAndSwap(s, s-readWaiter) { // still locked: handed over
			o.turn <- struct{}{} // never blocks: one turn is handed at a time
			return
		}
	}
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
	v, err := recv(w, o.in)
	if err != nil {
		return 0, 0, err
	}
	run[0] = v
	k := 1
	want := min(len(run), 1+o.in.queued()/o.workers, int(limit-o.next))
more:
	for k < want {
		v, ok := o.in.poll()
		if !ok {
			break more
		}
		run[k] = v
		k++
		w.received()
	}
	w.flush() // once per run: the window's elements show in Stats at once
	idx := o.nextIdx
	o.next += uint64(k)
	if o.nextIdx += k; o.nextIdx >= len(o.words) {
		o.nextIdx -= len(o.words)
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
		o := ow.o
		vals := o.slot(ow.idx)
		if ow.n == len(vals) {
			if vals == nil {
				vals = make([]U, orderValues) // once per slot
				o.multi[ow.idx] = vals
			} else if ow.own() != nil {
				return context.Canceled
			}
		}
		if !ow.owner {
			vals[ow.n] = u
			ow.n++
			if o.once {
				return nil // published with the element's end
			}
			ow.published = ow.n
			if o.words[ow.idx].Add(1)&slotOwned == 0 {
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
	word, w := &ow.o.words[ow.idx], ow.w
	v := word.Add(uint64(ow.n - ow.published))
	ow.published = ow.n
	for v&slotOwned == 0 {
		if word.CompareAndSwap(v, v|slotWaiting|uint64(w.id)<<slotWaiter) {
			w.flush()
			select {
			case <-ow.o.wake[w.id]:
			case <-w.done:
				return errDone
			}
			break
		}
		v = word.Load()
	}
	ow.owner = true
	return ow.flush()
}

// flush sends the values the slot of the element in hand holds, once the
// worker owns the output.
func (ow *orderedWorker[T, U]) flush() error {
	o := ow.o
	vals := o.slot(ow.idx)
	for ; o.consumed < ow.n; o.consumed++ {
		if err := send(ow.w, o.out, vals[o.consumed], ow.w.done); err != nil {
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
	o := ow.o
	if !ow.owner {
		if o.words[ow.idx].Add(uint64(ow.n-ow.published)|slotDone)&slotOwned == 0 {
			return nil // the owner will send its values
		}
		ow.owner = true
		if err := ow.flush(); err != nil {
			return err
		}
	}
	o.release(ow.n)
	if more {
		return nil // the next element of the run is the head now
	}
	ow.owner = false
	return o.drain(ow.w)
}

// release empties the head slot, whose n values the owner has sent, and
// moves the head on.
func (o *ordered[T, U]) release(n int) {
	idx := o.headIdx
	if n > 0 {
		clear(o.slot(idx)[:n])
	}
	o.consumed = 0
	if o.words[idx].Load() != 0 {
		o.words[idx].Store(0)
	}
	if idx++; idx == len(o.words) {
		idx = 0
	}
	o.headIdx = idx
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
		word := &o.words[o.headIdx]
		v := word.Load()
		if c := int(v & slotCount); o.consumed < c {
			vals := o.slot(o.headIdx)
			for ; o.consumed < c; o.consumed++ {
				if err := send(w, o.out, vals[o.consumed], w.done); err != nil {
					return err
				}
			}
		}
		if v&slotDone != 0 {
			o.release(int(v & slotCount))
			continue
		}
		if !word.CompareAndSwap(v, v|slotOwned) {
			continue // a value, the end or a waiter came meanwhile
		}
		if v&slotWaiting != 0 {
			o.wake[v>>slotWaiter] <- struct{}{} // never blocks: one hand-over per wait
		}
		return nil
	}
}
