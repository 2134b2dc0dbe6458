package stream

import (
	"math/bits"
	"reflect"
	"sync/atomic"
	"unsafe"
)

// This file is the chunked hand-off between two stages of a pipeline.
//
// Every output is a channel of elements, the one the caller gets. When a
// stage of the pipeline consumes it and its producer runs one goroutine, the
// two switch to a second channel, which carries chunks of up to chunkSize
// elements: once the element channel is empty, the producer closes it (the
// consumer then reads the chunk channel) and from then on appends each
// element to a pending chunk, which it sends
//
//   - when it is full,
//   - at once when the consumer waits for it (then an element that is
//     alone goes by itself, as cheaply as on an element channel),
//   - and when the producer ends.
//
// So a consumer that is behind gets its elements sixteen at a time, one
// channel operation per chunk instead of per element, and one that keeps
// up gets each element as it is made. A consumer that finds its queue
// empty does not wait while the producer holds a pending chunk: it takes
// it ("steals" it). So an element never waits for a producer that is busy
// with the next ones, in a slow function or a Generate that sleeps between
// emits, or that waits for its own input.
//
// The pending chunk's word is its element count plus a sealed bit. The
// producer writes an element, then publishes it by raising the count with a
// compare-and-swap; whoever seals the chunk (the producer to send it, a
// consumer to steal it) owns its first count elements. A stolen chunk may
// overtake chunks still queued, so chunks carry a sequence number and the
// consumer holds a stolen chunk back until its predecessors are read. An
// element sent alone takes a number too (the consumer counts it, FIFO), or
// a chunk stolen while it is queued would overtake it.
// Chunks go back to the producer through a bounded ring once read: the
// hand-off allocates nothing in steady state. Only the producer reuses a
// chunk, after it has sealed it or seen it stolen, so a stale pointer to a
// chunk can only ever seal the producer's current pending chunk.
//
// The queue holds capacity/16 chunks, so the edge holds at most its
// capacity in queued elements, plus the chunk being filled and the one in
// the consumer's hand (as an element channel holds its capacity plus the
// element a blocked producer holds and the one its consumer works on).
// An element counts in the producer's Stats Out once it is appended.

const (
	chunkSize = 16
	// sealed marks a chunk no longer pending: sent, or stolen.
	sealed = 1 << 31
	// maxChunkBytes bounds the elements a chunk may hold: larger elements
	// gain nothing from chunks and would multiply an edge's memory.
	maxChunkBytes = 16 << 10
	// maxFree bounds the ring of chunks read (a power of two).
	maxFree = 64
)

// chunk is a run of elements handed on at once.
type chunk[T any] struct {
	word atomic.Uint32 // the count, | sealed
	seq  uint64        // 1, 2, … in the producer's order
	v    [chunkSize]T
}

// item is what a chunk channel carries: a chunk, or (c nil) one element
// sent alone to a consumer that waits while nothing is pending, as cheaply
// as on an element channel.
type item[T any] struct {
	c *chunk[T]
	v T
}

// count is the number of elements of c, once it is sealed.
func (c *chunk[T]) count() uint32 {
	return c.word.Load() &^ sealed
}

// link is the chunk channel of an output, beside its element channel. It
// takes two cache lines (its size class is 128 bytes): the first holds what
// both ends write, so that a lone element moves one line between their
// cores, not four.
type link[T any] struct {
	cur atomic.Pointer[chunk[T]] // the producer's pending chunk, to steal
	// free is a ring of chunks read, from the consumer (which pushes at
	// tail) back to the producer (which pops at head): cheaper than a
	// channel, and bounded.
	head, tail atomic.Uint64
	// waits counts the times the consumer began to wait for an item: the
	// producer serves each wait once, handing on its next element at once
	// (see port.served).
	waits atomic.Uint32
	_     [64 - 8 - 16 - 4]byte

	chunks chan item[T]
	free   []*chunk[T]
	want   atomic.Bool // a consumer that reads chunks attached
	// clears says that the consumer clears each element it reads: T
	// holds pointers, which a recycled chunk must not keep alive.
	clears bool
	_      [128 - 64 - 8 - 24 - 4 - 1]byte
}

// port is the producer's end of an output: its element channel and, when
// the output may carry chunks, the link and the one producer's state.
type port[T any] struct {
	ch chan T
	l  *link[T] // nil: elements only

	// Owned by the producer's goroutine.
	chunking bool      // ch is closed, chunks go on l
	pend     *chunk[T] // the pending chunk, if any
	n        uint32    // its count
	seq      uint64
	// served is the consumer's wait (l.waits) the producer last sent an
	// item for: until the consumer waits again, elements gather.
	served uint32
}

// chunkable reports whether the single output of s may carry chunks: one
// goroutine at a time writes it (s runs one, or s is Ordered, whose
// workers hand the output on to each other), so one producer appends to
// the pending chunk in the output's order; the output holds at least one
// chunk; and its elements are small.
func chunkable[T any](s *stage) bool {
	size := uint64(unsafe.Sizeof(*new(T)))
	capacity := uint64(s.cfg.capacity)
	return (len(s.counters) == 1 || s.cfg.ordered) && !s.elementsOnly && capacity >= chunkSize &&
		size*chunkSize <= maxChunkBytes &&
		// The chunk queue, made up front, costs no more than the element
		// channel, give or take 64 KiB (its items are a pointer plus an
		// element: small elements, zero-size ones above all, with a huge
		// capacity go element by element).
		capacity/chunkSize*uint64(unsafe.Sizeof(item[T]{})) <= capacity*size+64<<10
}

func newLink[T any](s *stage) *link[T] {
	// The queue holds the capacity's worth of chunks, as the element
	// channel would hold its elements.
	slots := s.cfg.capacity / chunkSize
	return &link[T]{
		clears: hasPointers(reflect.TypeFor[T]()),
		chunks: make(chan item[T], slots),
		// Enough for every chunk there can be (queued, pending, and in
		// the consumer's hand, read or held), up to maxFree: beyond, a
		// chunk read when the ring is full goes to the garbage collector.
		free: make([]*chunk[T], min(1<<bits.Len(uint(slots+3)), maxFree)),
	}
}

// recycle returns c, read to its end, to the producer; by the consumer.
func (l *link[T]) recycle(c *chunk[T]) {
	t := l.tail.Load()
	if t-l.head.Load() == uint64(len(l.free)) {
		return // full: c goes to the garbage collector
	}
	l.free[t&uint64(len(l.free)-1)] = c
	l.tail.Store(t + 1)
}

// reuse takes a recycled chunk, if there is one; by the producer.
func (l *link[T]) reuse() *chunk[T] {
	h := l.head.Load()
	if h == l.tail.Load() {
		return nil
	}
	i := h & uint64(len(l.free)-1)
	c := l.free[i]
	l.free[i] = nil
	l.head.Store(h + 1)
	return c
}

// send sends v on out and counts it, or returns errDone when done is closed
// first. A chunked output appends v to the pending chunk, which goes on as
// described above.
func send[T any](w *worker, out *port[T], v T, done <-chan struct{}) error {
	if !out.chunking {
		if out.l == nil || !out.l.want.Load() || len(out.ch) > 0 {
			return sendCh(w, out.ch, v, done)
		}
		// A consumer that reads chunks attached, and has read what the
		// element channel held (so that the edge never holds more than
		// its capacity in both): from now on it reads chunks.
		out.chunking = true
		close(out.ch)
	}
	if out.alone() {
		return out.sendAlone(w, v, done)
	}
	w.sent() // queued or pending, it is on the edge, as in a channel
	if out.add(v) {
		return out.flush(w, done)
	}
	return nil
}

// alone reports whether the next element goes on by itself: the consumer
// waits and nothing is pending.
func (out *port[T]) alone() bool {
	return out.pend == nil && out.l.waits.Load() != out.served
}

// sendAlone sends v by itself on the chunk channel, serving the consumer's
// wait. v takes a place in the sequence of chunks, as a chunk would: a chunk
// stolen after it must wait until it is read (see inport.got).
func (out *port[T]) sendAlone(w *worker, v T, done <-chan struct{}) error {
	out.served = out.l.waits.Load()
	out.seq++
	if err := put(w, out.l.chunks, item[T]{v: v}, done); err != nil {
		return err
	}
	w.sent()
	return nil
}

// add appends v to the pending chunk of a chunked output, and reports
// whether the chunk must go on now.
func (out *port[T]) add(v T) bool {
	c := out.pend
	k := out.n
	for {
		if c == nil || k >= chunkSize { // (k: only if emit is misused, see emitter)
			c = out.fresh()
			k = 0
		}
		c.v[k] = v
		if c.word.CompareAndSwap(k, k+1) {
			break
		}
		// Stolen: the consumer took the k elements before v.
		var zero T
		c.v[k] = zero
		out.stolen()
		c = nil
	}
	k++
	out.pend, out.n = c, k
	// A consumer that waits is served once: until it waits again, what
	// follows gathers in the next chunk.
	return k == chunkSize || out.l.waits.Load() != out.served
}

// fresh makes a recycled (or new) chunk the pending one.
func (out *port[T]) fresh() *chunk[T] {
	c := out.l.reuse()
	if c == nil {
		c = new(chunk[T])
	}
	out.seq++
	c.seq = out.seq
	c.word.Store(0)
	out.l.cur.Store(c)
	return c
}

// stolen lets go of the pending chunk, whose elements a consumer took.
func (out *port[T]) stolen() {
	out.pend, out.n = nil, 0
}

// flush hands on the pending chunk, if any: it seals it and sends it, unless
// a consumer stole it first. It returns errDone, the chunk discarded, when
// done is closed first.
func (out *port[T]) flush(w *worker, done <-chan struct{}) error {
	c, k := out.pend, out.n
	if c == nil {
		return nil
	}
	if !c.word.CompareAndSwap(k, k|sealed) {
		// Stolen: that consumer's wait, if it waits again, is not
		// served yet.
		out.stolen()
		return nil
	}
	out.served = out.l.waits.Load()
	out.pend, out.n = nil, 0
	if err := put(w, out.l.chunks, item[T]{c: c}, done); err != nil {
		out.l.discard(c, k) // l.cur may keep c
		return err
	}
	return nil
}

// discard clears the first k elements of c, a chunk nobody will read, so
// that it keeps none alive (l.cur may still point to it).
func (l *link[T]) discard(c *chunk[T], k uint32) {
	if l.clears {
		clear(c.v[:k])
	}
}

// flushPending is flush for a worker that ends: see worker.flushOut.
func (out *port[T]) flushPending(w *worker) {
	_ = out.flush(w, w.done)
}

// inport is a consumer's end of an input: the element channel and, when
// its producer sends chunks, the link and the chunk being read. An inport
// is read by one goroutine at a time; one that reads chunks is its input's
// only reader, and keeps the producer's order: a stolen chunk waits for
// those sent before it.
type inport[T any] struct {
	ch     <-chan T
	l      *link[T] // nil: elements only
	closes bool     // see take

	chunked bool      // ch was closed: read l.chunks
	cur     *chunk[T] // being read: cur.v[i:n]
	i, n    uint32
	held    *chunk[T] // stolen ahead of its predecessors
	heldN   uint32
	next    uint64 // the sequence number of the chunk to read next
}

// input makes the inport of s for in. chunks says whether s may read in in
// chunks: the inport is the input's only reader, which may keep elements
// in hand while it runs (not FanOut, whose worker must not hold elements
// its released output will never take, nor workers sharing an input, nor
// workers that park).
func input[T any](s *stage, in <-chan T, chunks bool) *inport[T] {
	ip := &inport[T]{ch: in, closes: s.closedWithProducer(in), next: 1}
	if !chunks {
		return ip
	}
	s.p.mu.Lock()
	e := s.p.edges[in]
	s.p.mu.Unlock()
	if e == nil {
		return ip
	}
	if l, ok := e.link.(*link[T]); ok {
		ip.l = l
		l.want.Store(true)
		s.discards = append(s.discards, ip.discard)
	}
	return ip
}

// discard clears what ip holds and will not hand out, once its stage has
// ended: the rest of the chunk being read and a held chunk (l.cur, or the
// producer's stale pend, may keep them). Only the producer may still touch
// them, beyond their last element (see port.add).
func (ip *inport[T]) discard() {
	if ip.l == nil || !ip.l.clears {
		return
	}
	if c := ip.cur; c != nil {
		clear(c.v[ip.i:ip.n])
		ip.cur, ip.i, ip.n = nil, 0, 0
	}
	if h := ip.held; h != nil {
		clear(h.v[:ip.heldN])
		ip.held, ip.heldN = nil, 0
	}
}

// queued is a lower bound of the elements ip can hand out without waiting:
// a queued chunk counts as one (an Ordered stage's fair share of them must
// not take them all).
func (ip *inport[T]) queued() int {
	n := len(ip.ch) + int(ip.n-ip.i)
	if ip.l != nil {
		n += len(ip.l.chunks)
	}
	return n
}

// next hands out the next element of the chunk being read; ip.i < ip.n.
func (ip *inport[T]) pop() T {
	c := ip.cur
	v := c.v[ip.i]
	if ip.l.clears {
		var zero T
		c.v[ip.i] = zero // hold no reference once handed on
	}
	if ip.i++; ip.i == ip.n {
		ip.cur, ip.i, ip.n = nil, 0, 0
		ip.l.recycle(c)
	}
	return v
}

// got hands out the first element of it, an item received from the chunk
// channel: an element sent alone, which had the next place in the
// producer's sequence (see port.sendAlone), or a chunk's first.
func (ip *inport[T]) got(it item[T]) T {
	if it.c == nil {
		ip.next++
		return it.v
	}
	ip.load(it.c, it.c.count())
	return ip.pop()
}

// takeHeld makes the held chunk the one being read, if its turn came.
func (ip *inport[T]) takeHeld() bool {
	h := ip.held
	if h == nil || h.seq != ip.next {
		return false
	}
	ip.held = nil
	ip.load(h, ip.heldN)
	return true
}

// load makes c, with k elements, the chunk being read; k > 0.
func (ip *inport[T]) load(c *chunk[T], k uint32) {
	ip.next = c.seq + 1
	ip.cur, ip.i, ip.n = c, 0, k
}

// steal takes the producer's pending chunk if it has elements, sealing it;
// not while a chunk stolen before waits (see inport).
func (ip *inport[T]) steal() (*chunk[T], uint32) {
	if ip.held != nil {
		return nil, 0
	}
	c := ip.l.cur.Load()
	if c == nil {
		return nil, 0
	}
	for {
		word := c.word.Load()
		if word == 0 || word&sealed != 0 {
			return nil, 0
		}
		if c.word.CompareAndSwap(word, word|sealed) {
			return c, word
		}
	}
}

// drainChunks discards what l's queue holds, passing each element to drop
// when it is not nil, and returns their number. It clears the chunks it
// discards: l.cur may keep the last one.
func drainChunks[T any](l *link[T], drop func(T)) int64 {
	var n int64
	for {
		select {
		case it, ok := <-l.chunks:
			if !ok {
				return n
			}
			vs := []T{it.v}
			if it.c != nil {
				vs = it.c.v[:it.c.count()]
			}
			n += int64(len(vs))
			if drop != nil {
				for _, v := range vs {
					drop(v)
				}
			}
			if it.c != nil {
				l.discard(it.c, uint32(len(vs)))
			}
		default:
			return n
		}
	}
}

// poll hands out the next element of ip if one is there without waiting,
// without take's check for done.
func (ip *inport[T]) poll() (T, bool) {
	var zero T
	if ip.i < ip.n {
		return ip.pop(), true
	}
	if !ip.chunked {
		select {
		case v, ok := <-ip.ch:
			if ok {
				return v, true
			}
			if ip.l == nil {
				return zero, false
			}
			ip.chunked = true
		default:
			return zero, false
		}
	}
	if ip.takeHeld() {
		return ip.pop(), true
	}
	select {
	case it, ok := <-ip.l.chunks:
		if !ok {
			return zero, false
		}
		return ip.got(it), true
	default:
		return zero, false
	}
}

// queuedMax is an upper bound of the elements queued in l: each chunk counts
// as full. Counting them exactly would cost an atomic operation on a line
// both sides write for every chunk.
func (l *link[T]) queuedMax() int {
	return len(l.chunks) * chunkSize
}

// hasPointers reports whether a value of type t may hold a pointer.
func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	default:
		return true
	}
}
