package benchmarks

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/pipewright/stream"
)

// The workloads. Each returns its cases with every implementation that fits:
// the three hand-written variants, the library, and the peers whose
// idiomatic API does the same job (see peers_test.go). Every implementation
// has the same topology: a source goroutine, the stages, and a consumer, with
// channels of the same capacity between them.

// oneHop is one channel hop: a source sends 0..n-1 to a consumer.
func oneHop() []workload {
	w := workload{want: sumOf(func(v int) int { return v })}
	for _, s := range senders {
		w.impls = append(w.impls, impl{s.lib, func(n int) (int, error) {
			done := make(chan struct{})
			defer close(done)
			return sum(handSource(n, done, s.int)), nil
		}})
	}
	w.impls = append(w.impls,
		impl{"stream", func(n int) (int, error) {
			p := stream.New(context.Background())
			return stream.Reduce(p, stream.Generate(p, countTo(n)), 0, add)
		}},
		impl{"lo", loOneHop},
		impl{"ro", roOneHop},
		impl{"rill", rillOneHop},
	)
	return []workload{w}
}

// pipeline3 is a source, three stages (map v+1, keep the even, map v+1),
// and a consumer: four hops.
func pipeline3() []workload {
	w := workload{want: func(n int) int {
		s := 0
		for i := range n {
			if v := i + 1; v&1 == 0 {
				s += v + 1
			}
		}
		return s
	}}
	for _, s := range senders {
		w.impls = append(w.impls, impl{s.lib, func(n int) (int, error) {
			done := make(chan struct{})
			defer close(done)
			c := handSource(n, done, s.int)
			c = handStage(c, done, 1, s.int, handInc)
			c = handStage(c, done, 1, s.int, handEven)
			c = handStage(c, done, 1, s.int, handInc)
			return sum(c), nil
		}})
	}
	w.impls = append(w.impls,
		impl{"stream", func(n int) (int, error) {
			p := stream.New(context.Background())
			c := stream.Generate(p, countTo(n))
			c = stream.Map(p, c, streamInc)
			c = stream.Filter(p, c, streamEven)
			c = stream.Map(p, c, streamInc)
			return stream.Reduce(p, c, 0, add)
		}},
		impl{"ro", roPipeline3},
		impl{"rill", rillPipeline3},
	)
	return []workload{w}
}

// work is an element function of a parallel map, by name.
type work struct {
	name string
	fn   func(int) int
}

var (
	trivial = work{"trivial", inc}
	oneUS   = work{"1us", work1us}
	skewed  = work{"skewed", workSkewed}
)

// parallelMap maps with 2 and 4 workers, trivial work and ~1µs of CPU work
// per element; results leave in completion order.
func parallelMap() []workload {
	var ws []workload
	for _, wk := range []work{trivial, oneUS} {
		for _, workers := range []int{2, 4} {
			w := workload{
				name: "work=" + wk.name + "/workers=" + strconv.Itoa(workers),
				want: sumOf(wk.fn),
			}
			for _, s := range senders {
				w.impls = append(w.impls, impl{s.lib, handMap(workers, s.int, wk.fn)})
			}
			w.impls = append(w.impls,
				impl{"stream", streamMap(workers, wk.fn)},
				impl{"conc", concPool(workers, wk.fn)},
				impl{"pond", pondPool(workers, wk.fn)},
				impl{"ants", antsPool(workers, wk.fn)},
				impl{"errgroup", errgroupMap(workers, wk.fn)},
				impl{"rill", rillMap(workers, wk.fn)},
			)
			ws = append(ws, w)
		}
	}
	return ws
}

// orderedWorkers is the worker count of the ordered map.
const orderedWorkers = 4

// orderedMap maps with 4 workers and emits in input order; the hand-written
// pool and the library's unordered Map are there for reference (the target
// is ordered ≤ 1.2× unordered). Latencies: trivial, uniform ~1µs, and
// skewed (one element in 100 ten times slower); trivial also with 2
// workers.
func orderedMap() []workload {
	var ws []workload
	add := func(name string, workers int, wk work) {
		ws = append(ws, workload{
			name: name,
			want: sumOf(wk.fn),
			impls: []impl{
				{"hand-fastpath", handMap(workers, sendFast[int], wk.fn)},
				{"stream", streamMap(workers, wk.fn)},
				{"stream-ordered", streamOrderedMap(workers, wk.fn)},
				{"conc", concStream(workers, wk.fn)},
				{"rill", rillOrderedMap(workers, wk.fn)},
			},
		})
	}
	for _, wk := range []work{trivial, {"uniform", work1us}, skewed} {
		add("latency="+wk.name, orderedWorkers, wk)
	}
	add("latency=trivial/workers=2", 2, trivial)
	return ws
}

func handMap(workers int, send func(chan<- int, int, <-chan struct{}) bool, fn func(int) int) func(int) (int, error) {
	return func(n int) (int, error) {
		done := make(chan struct{})
		defer close(done)
		return sum(handStage(handSource(n, done, send), done, workers, send, func(v int) (int, bool) { return fn(v), true })), nil
	}
}

func streamMap(workers int, fn func(int) int) func(int) (int, error) {
	return func(n int) (int, error) {
		p := stream.New(context.Background())
		c := stream.Map(p, stream.Generate(p, countTo(n)), streamFn(fn), stream.Workers(workers))
		return stream.Reduce(p, c, 0, add)
	}
}

func streamOrderedMap(workers int, fn func(int) int) func(int) (int, error) {
	return func(n int) (int, error) {
		p := stream.New(context.Background())
		c := stream.Map(p, stream.Generate(p, countTo(n)), streamFn(fn), stream.Workers(workers), stream.Ordered())
		// The same sink as streamMap's, so that the two differ only by
		// Ordered.
		o, err := stream.Reduce(p, c, inOrder{}, func(o inOrder, v int) inOrder {
			o.add(v)
			return o
		})
		if err == nil {
			err = o.err
		}
		return o.sum, err
	}
}

// batchSize is the size of the batches of the batch workload.
const batchSize = 100

// batch groups the elements into slices of 100 between a source and a
// consumer. The library runs without a time limit (as the hand-written
// batcher and the peers) and, as stream-maxwait, with one.
func batch() []workload {
	w := workload{want: sumOf(func(v int) int { return v })}
	for _, s := range senders {
		w.impls = append(w.impls, impl{s.lib, handBatch(s)})
	}
	w.impls = append(w.impls,
		impl{"stream", streamBatch(0)},
		impl{"stream-maxwait", streamBatch(time.Second)},
		impl{"lo", loBatch},
		impl{"ro", roBatch},
		impl{"rill", rillBatch},
	)
	return []workload{w}
}

func sumBatch(a int, b []int) int {
	for _, v := range b {
		a += v
	}
	return a
}

func handBatch(s sender) func(int) (int, error) {
	return func(n int) (int, error) {
		done := make(chan struct{})
		defer close(done)
		in := handSource(n, done, s.int)
		out := make(chan []int, capacity)
		go func() {
			defer close(out)
			b := make([]int, 0, batchSize)
			for v := range in {
				if b = append(b, v); len(b) == batchSize {
					if !s.slice(out, b, done) {
						return
					}
					b = make([]int, 0, batchSize)
				}
			}
			if len(b) > 0 {
				s.slice(out, b, done)
			}
		}()
		total := 0
		for b := range out {
			total = sumBatch(total, b)
		}
		return total, nil
	}
}

func streamBatch(maxWait time.Duration) func(int) (int, error) {
	return func(n int) (int, error) {
		p := stream.New(context.Background())
		c := stream.Batch(p, stream.Generate(p, countTo(n)), batchSize, maxWait)
		return stream.Reduce(p, c, 0, sumBatch)
	}
}

// bufferSize is the size of the buffer of the buffer workload.
const bufferSize = 1024

// buffer passes the elements through a stage that holds up to 1024 of them
// (Buffer with the Block policy; a hand-written relay with a channel of that
// capacity), between a source and a consumer.
func buffer() []workload {
	w := workload{
		name: "size=" + strconv.Itoa(bufferSize),
		want: sumOf(func(v int) int { return v }),
	}
	for _, s := range senders {
		w.impls = append(w.impls, impl{s.lib, func(n int) (int, error) {
			done := make(chan struct{})
			defer close(done)
			return sum(handRelay(handSource(n, done, s.int), done, bufferSize, s.int)), nil
		}})
	}
	w.impls = append(w.impls, impl{"stream", func(n int) (int, error) {
		p := stream.New(context.Background())
		c := stream.Buffer(p, stream.Generate(p, countTo(n)), bufferSize, stream.Block)
		return stream.Reduce(p, c, 0, add)
	}})
	return []workload{w}
}

// handRelay passes the elements of in on through a channel of the given
// capacity.
func handRelay(in <-chan int, done <-chan struct{}, size int, send func(chan<- int, int, <-chan struct{}) bool) <-chan int {
	out := make(chan int, size)
	go func() {
		defer close(out)
		for v := range in {
			if !send(out, v, done) {
				return
			}
		}
	}()
	return out
}

// fanWidth is the number of branches of the fan-out/merge workload.
const fanWidth = 4

// fanOutMerge distributes the elements over 4 branches, each element to
// exactly one, and merges them again into one consumer.
func fanOutMerge() []workload {
	w := workload{
		name: "n=" + strconv.Itoa(fanWidth),
		want: sumOf(func(v int) int { return v }),
	}
	for _, s := range senders {
		w.impls = append(w.impls, impl{s.lib, handFanOutMerge(s.int)})
	}
	w.impls = append(w.impls,
		impl{"stream", func(n int) (int, error) {
			p := stream.New(context.Background())
			outs := stream.FanOut(p, stream.Generate(p, countTo(n)), fanWidth)
			return stream.Reduce(p, stream.Merge(p, outs), 0, add)
		}},
		impl{"lo", loFanOutMerge},
	)
	return []workload{w}
}

func handFanOutMerge(send func(chan<- int, int, <-chan struct{}) bool) func(int) (int, error) {
	return func(n int) (int, error) {
		done := make(chan struct{})
		defer close(done)
		in := handSource(n, done, send)
		merged := make(chan int, capacity)
		var wg sync.WaitGroup
		for range fanWidth {
			branch := make(chan int, capacity)
			go func() { // fan-out: whichever branch is ready takes the element
				defer close(branch)
				for v := range in {
					if !send(branch, v, done) {
						return
					}
				}
			}()
			wg.Go(func() { // merge
				for v := range branch {
					if !send(merged, v, done) {
						return
					}
				}
			})
		}
		go func() { wg.Wait(); close(merged) }()
		return sum(merged), nil
	}
}
