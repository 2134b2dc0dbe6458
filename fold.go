package stream

import (
	"context"
	"strconv"
)

// This file holds the stateful element-wise operators: Scan and Distinct.
// Each runs one goroutine, so its state needs no lock.

// Scan emits the running state of a fold over in: for each element v, in
// arrival order, acc = fn(acc, v), starting from init, and emits acc. So the
// output has one element per input element, the last being what [Reduce]
// returns. It runs one goroutine; fn is never called concurrently. The
// output closes when in closes. A panic in fn fails the pipeline; on
// cancellation no new call of fn starts. If A holds references (a slice, a
// map), every emitted state shares them: copy in fn if the receiver must
// not see later changes. Name and [Capacity] apply. A nil p, in or fn
// panics.
func Scan[T, A any](p *Pipeline, in <-chan T, init A, fn func(A, T) A, opts ...Option) <-chan A {
	checkPipeline(p)
	checkInput(in, "Scan")
	if fn == nil {
		panic("stream: Scan: nil function")
	}
	s := p.addStage("scan", stageConfig("scan", opts, usesCapacity), []any{in})
	s.callsUser = true
	out := output[A](s)
	consume(s, []<-chan T{in}, func(w *worker) func(context.Context, T) error {
		acc := init
		return func(_ context.Context, v T) error {
			acc = fn(acc, v)
			return send(w, out, acc, w.done)
		}
	})
	return out.ch
}

// Distinct emits the elements of in whose key is not among the memory most
// recently seen distinct keys: a repeat within that memory is removed (a
// repeat counts as a sighting, so a key seen again and again is never
// forgotten). Memory is bounded: it keeps at most memory keys, and forgets
// the least recently seen one to make room, after which that key passes
// again. With memory at least the number of distinct keys, every key passes
// once. A key not equal to itself (a float NaN, or a value holding one)
// is never remembered: its elements always pass. Elements leave in arrival order; removed repeats are not counted as
// dropped (the stage's In − Out in [Pipeline.Stats] is their number). It
// runs one goroutine; the output closes when in closes. A panic in key fails
// the pipeline. A nil p, in or key, or memory < 1, panics.
func Distinct[T any, K comparable](p *Pipeline, in <-chan T, key func(T) K, memory int, opts ...Option) <-chan T {
	checkPipeline(p)
	checkInput(in, "Distinct")
	if key == nil {
		panic("stream: Distinct: nil key function")
	}
	if memory < 1 {
		panic("stream: Distinct: memory must be at least 1, got " + strconv.Itoa(memory))
	}
	s := p.addStage("distinct", stageConfig("distinct", opts, usesCapacity), []any{in})
	s.callsUser = true
	out := output[T](s)
	consume(s, []<-chan T{in}, func(w *worker) func(context.Context, T) error {
		seen := newLRU[K](memory)
		return func(_ context.Context, v T) error {
			if seen.saw(key(v)) {
				return nil
			}
			return send(w, out, v, w.done)
		}
	})
	return out.ch
}

// lru is a set of at most max keys that forgets the least recently seen
// one. Its nodes live in slices grown up to max and then reused, so seeing
// a key allocates nothing in steady state.
type lru[K comparable] struct {
	max        int
	index      map[K]int32
	keys       []K
	prev, next []int32 // a ring through the nodes, most recent first; -1: none
	head       int32   // the most recently seen node
}

func newLRU[K comparable](max int) *lru[K] {
	return &lru[K]{max: max, index: make(map[K]int32, min(max, 1024)), head: -1}
}

// saw records a sighting of k and reports whether k was already known.
func (l *lru[K]) saw(k K) bool {
	if k != k {
		// Not equal to itself (a NaN, or a value holding one): never
		// found in a map nor deleted from it, so never stored. It is a
		// new key every time.
		return false
	}
	if i, ok := l.index[k]; ok {
		l.toFront(i)
		return true
	}
	var i int32
	if len(l.keys) < l.max {
		i = int32(len(l.keys))
		l.keys = append(l.keys, k)
		l.prev = append(l.prev, -1)
		l.next = append(l.next, -1)
		l.link(i)
	} else {
		i = l.prev[l.head] // the least recently seen: the ring's last node
		delete(l.index, l.keys[i])
		l.keys[i] = k
		l.toFront(i)
	}
	l.index[k] = i
	return false
}

// link puts the new node i at the front of the ring.
func (l *lru[K]) link(i int32) {
	if l.head < 0 {
		l.prev[i], l.next[i] = i, i
	} else {
		last := l.prev[l.head]
		l.prev[i], l.next[i] = last, l.head
		l.next[last], l.prev[l.head] = i, i
	}
	l.head = i
}

// toFront makes node i the most recently seen.
func (l *lru[K]) toFront(i int32) {
	if i == l.head {
		return
	}
	if i == l.prev[l.head] { // the last node: rotating the ring is enough
		l.head = i
		return
	}
	l.next[l.prev[i]], l.prev[l.next[i]] = l.next[i], l.prev[i]
	l.link(i)
}
