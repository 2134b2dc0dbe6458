package stream_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pipewright/stream"
)

// The benchmarks push b.N elements through each pipeline, so ns/op is the
// cost per element and allocs/op the allocations per element. Every library
// benchmark has a hand-written channel baseline in the same run, with the
// same channel capacity (stream.DefaultCapacity) and the same work.

const benchCap = stream.DefaultCapacity

func inc(_ context.Context, v int) (int, error) { return v + 1, nil }

func even(_ context.Context, v int) (bool, error) { return v&1 == 0, nil }

// countTo is an allocation-free source of 0..n-1.
func countTo(n int) func(ctx context.Context, emit func(int) error) error {
	return func(_ context.Context, emit func(int) error) error {
		for i := range n {
			if err := emit(i); err != nil {
				return err
			}
		}
		return nil
	}
}

// sendFast is the hand-written fast-path send: non-blocking first, then a
// select that also watches done.
func sendFast[T any](out chan<- T, v T, done <-chan struct{}) bool {
	select {
	case out <- v:
		return true
	default:
	}
	select {
	case out <- v:
		return true
	case <-done:
		return false
	}
}

func sendSelect[T any](out chan<- T, v T, done <-chan struct{}) bool {
	select {
	case out <- v:
		return true
	case <-done:
		return false
	}
}

// handSource and handStage are the hand-written equivalents of a source and a
// Map stage with one worker.
func handSource(n int, done <-chan struct{}, send func(chan<- int, int, <-chan struct{}) bool) <-chan int {
	out := make(chan int, benchCap)
	go func() {
		defer close(out)
		for i := range n {
			if !send(out, i, done) {
				return
			}
		}
	}()
	return out
}

func handStage(in <-chan int, done <-chan struct{}, workers int, send func(chan<- int, int, <-chan struct{}) bool, fn func(int) (int, bool)) <-chan int {
	out := make(chan int, benchCap)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := range in {
				if u, ok := fn(v); ok && !send(out, u, done) {
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(out) }()
	return out
}

func plainSend(out chan<- int, v int, _ <-chan struct{}) bool { out <- v; return true }

func handInc(v int) (int, bool)  { return v + 1, true }
func handEven(v int) (int, bool) { return v, v&1 == 0 }

func drainHand(b *testing.B, in <-chan int) {
	for range in {
	}
}

var sends = []struct {
	name string
	fn   func(chan<- int, int, <-chan struct{}) bool
}{
	{"plain", plainSend},
	{"select", sendSelect[int]},
	{"fastpath", sendFast[int]},
}

// BenchmarkStage measures one stage between a source and a sink: the
// library's Map and Filter against the same hand-written stage with each way
// of sending.
func BenchmarkStage(b *testing.B) {
	for _, s := range sends {
		b.Run("hand/"+s.name, func(b *testing.B) {
			b.ReportAllocs()
			done := make(chan struct{})
			defer close(done)
			drainHand(b, handStage(handSource(b.N, done, s.fn), done, 1, s.fn, handInc))
		})
	}
	b.Run("stream/map", func(b *testing.B) {
		b.ReportAllocs()
		p := stream.New(context.Background())
		src := stream.Generate(p, countTo(b.N))
		if err := stream.Drain(p, stream.Map(p, src, inc)); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("stream/filter", func(b *testing.B) {
		b.ReportAllocs()
		p := stream.New(context.Background())
		src := stream.Generate(p, countTo(b.N))
		if err := stream.Drain(p, stream.Filter(p, src, even)); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("hand/fastpath/filter", func(b *testing.B) {
		b.ReportAllocs()
		done := make(chan struct{})
		defer close(done)
		drainHand(b, handStage(handSource(b.N, done, sendFast[int]), done, 1, sendFast[int], handEven))
	})
}

// BenchmarkWorkers measures Map and Filter with several workers against the
// hand-written worker pool.
func BenchmarkWorkers(b *testing.B) {
	for _, w := range []int{1, 2, 4} {
		name := "workers=" + strconv.Itoa(w)
		b.Run(name+"/hand/fastpath", func(b *testing.B) {
			b.ReportAllocs()
			done := make(chan struct{})
			defer close(done)
			drainHand(b, handStage(handSource(b.N, done, sendFast[int]), done, w, sendFast[int], handInc))
		})
		b.Run(name+"/stream/map", func(b *testing.B) {
			b.ReportAllocs()
			p := stream.New(context.Background())
			src := stream.Generate(p, countTo(b.N))
			if err := stream.Drain(p, stream.Map(p, src, inc, stream.Workers(w))); err != nil {
				b.Fatal(err)
			}
		})
		b.Run(name+"/stream/filter", func(b *testing.B) {
			b.ReportAllocs()
			p := stream.New(context.Background())
			src := stream.Generate(p, countTo(b.N))
			if err := stream.Drain(p, stream.Filter(p, src, even, stream.Workers(w))); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkPipeline3 measures a 3-stage pipeline (map, filter, map).
func BenchmarkPipeline3(b *testing.B) {
	b.Run("hand/fastpath", func(b *testing.B) {
		b.ReportAllocs()
		done := make(chan struct{})
		defer close(done)
		c := handSource(b.N, done, sendFast[int])
		c = handStage(c, done, 1, sendFast[int], handInc)
		c = handStage(c, done, 1, sendFast[int], handEven)
		c = handStage(c, done, 1, sendFast[int], handInc)
		drainHand(b, c)
	})
	b.Run("stream", func(b *testing.B) {
		b.ReportAllocs()
		p := stream.New(context.Background())
		c := stream.Generate(p, countTo(b.N))
		c = stream.Map(p, c, inc)
		c = stream.Filter(p, c, even)
		c = stream.Map(p, c, inc)
		if err := stream.Drain(p, c); err != nil {
			b.Fatal(err)
		}
	})
}

// spin does about n units of CPU work (a unit is a few nanoseconds) and
// returns a value the compiler cannot discard.
func spin(n int) int {
	x := uint64(n) | 1
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return int(x & 1)
}

// latencies: uniform gives every element the same work; skewed makes one
// element in 100 ten times slower.
var latencies = []struct {
	name string
	work func(v int) int
}{
	{"uniform", func(int) int { return 300 }},
	{"skewed", func(v int) int {
		if v%100 == 0 {
			return 3000
		}
		return 300
	}},
}

// BenchmarkOrdered compares Map with 4 workers unordered and Ordered, and the
// hand-written worker pool, on work of uniform and skewed cost.
func BenchmarkOrdered(b *testing.B) {
	const workers = 4
	for _, lat := range latencies {
		fn := func(_ context.Context, v int) (int, error) { return v + spin(lat.work(v)), nil }
		b.Run(lat.name+"/hand", func(b *testing.B) {
			b.ReportAllocs()
			done := make(chan struct{})
			defer close(done)
			work := func(v int) (int, bool) { return v + spin(lat.work(v)), true }
			drainHand(b, handStage(handSource(b.N, done, sendFast[int]), done, workers, sendFast[int], work))
		})
		for _, ordered := range []bool{false, true} {
			name := lat.name + "/unordered"
			opts := []stream.Option{stream.Workers(workers)}
			if ordered {
				name = lat.name + "/ordered"
				opts = append(opts, stream.Ordered())
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				p := stream.New(context.Background())
				src := stream.Generate(p, countTo(b.N))
				if err := stream.Drain(p, stream.Map(p, src, fn, opts...)); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
	b.Run("trivial/unordered", func(b *testing.B) {
		b.ReportAllocs()
		p := stream.New(context.Background())
		if err := stream.Drain(p, stream.Map(p, stream.Generate(p, countTo(b.N)), inc, stream.Workers(workers))); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("trivial/ordered", func(b *testing.B) {
		b.ReportAllocs()
		p := stream.New(context.Background())
		if err := stream.Drain(p, stream.Map(p, stream.Generate(p, countTo(b.N)), inc, stream.Workers(workers), stream.Ordered())); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkTopology measures Merge, FanOut and Partition of 4 against their
// hand-written equivalents; b.N elements in total.
func BenchmarkTopology(b *testing.B) {
	const n = 4
	b.Run("merge/hand", func(b *testing.B) {
		b.ReportAllocs()
		done := make(chan struct{})
		defer close(done)
		out := make(chan int, benchCap)
		var wg sync.WaitGroup
		for i := range n {
			in := handSource(b.N/n+boolInt(i < b.N%n), done, sendFast[int])
			wg.Go(func() {
				for v := range in {
					if !sendFast(out, v, done) {
						return
					}
				}
			})
		}
		go func() { wg.Wait(); close(out) }()
		drainHand(b, out)
	})
	b.Run("merge/stream", func(b *testing.B) {
		b.ReportAllocs()
		p := stream.New(context.Background())
		ins := make([]<-chan int, n)
		for i := range ins {
			ins[i] = stream.Generate(p, countTo(b.N/n+boolInt(i < b.N%n)))
		}
		if err := stream.Drain(p, stream.Merge(p, ins)); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("fanout/hand", func(b *testing.B) {
		b.ReportAllocs()
		done := make(chan struct{})
		defer close(done)
		in := handSource(b.N, done, sendFast[int])
		var wg sync.WaitGroup
		for range n {
			out := make(chan int, benchCap)
			go func() {
				defer close(out)
				for v := range in {
					if !sendFast(out, v, done) {
						return
					}
				}
			}()
			wg.Go(func() {
				for range out {
				}
			})
		}
		wg.Wait()
	})
	b.Run("fanout/stream", func(b *testing.B) {
		b.ReportAllocs()
		p := stream.New(context.Background())
		for _, out := range stream.FanOut(p, stream.Generate(p, countTo(b.N)), n) {
			stream.ForEach(p, out, func(context.Context, int) error { return nil })
		}
		if err := p.Wait(); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("partition/stream", func(b *testing.B) {
		b.ReportAllocs()
		p := stream.New(context.Background())
		for _, out := range stream.Partition(p, stream.Generate(p, countTo(b.N)), n, func(v int) int { return v }) {
			stream.ForEach(p, out, func(context.Context, int) error { return nil })
		}
		if err := p.Wait(); err != nil {
			b.Fatal(err)
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// BenchmarkBatch measures Batch(100) against a hand-written batcher; the
// only allocations are the batches themselves (one per 100 elements).
func BenchmarkBatch(b *testing.B) {
	const size = 100
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		done := make(chan struct{})
		defer close(done)
		in := handSource(b.N, done, sendFast[int])
		out := make(chan []int, benchCap)
		go func() {
			defer close(out)
			batch := make([]int, 0, size)
			for v := range in {
				if batch = append(batch, v); len(batch) == size {
					if !sendFast(out, batch, done) {
						return
					}
					batch = make([]int, 0, size)
				}
			}
			if len(batch) > 0 {
				sendFast(out, batch, done)
			}
		}()
		for range out {
		}
	})
	b.Run("stream", func(b *testing.B) {
		b.ReportAllocs()
		p := stream.New(context.Background())
		if err := stream.Drain(p, stream.Batch(p, stream.Generate(p, countTo(b.N)), size, time.Second)); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkBuffer measures Buffer with each overflow policy between a source
// and a sink (a fast consumer, so Fail never fails).
func BenchmarkBuffer(b *testing.B) {
	for _, policy := range []stream.Overflow{stream.Block, stream.DropNewest, stream.DropOldest} {
		b.Run(policy.String(), func(b *testing.B) {
			b.ReportAllocs()
			p := stream.New(context.Background())
			buf := stream.Buffer(p, stream.Generate(p, countTo(b.N)), 1024, policy)
			if err := stream.Drain(p, buf); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkCounting is the Map stage of BenchmarkStage under another name,
// to compare with counting compiled out:
//
//	go test -run '^$' -bench Counting -count 10 . > on.txt
//	go test -run '^$' -bench Counting -count 10 -tags stream_nocount . > off.txt
//	benchstat off.txt on.txt
func BenchmarkCounting(b *testing.B) {
	for _, obs := range []bool{false, true} {
		name := "observer=none"
		if obs {
			name = "observer=nop"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			p := stream.New(context.Background())
			if obs {
				p.SetObserver(stream.ObserverFunc(func(stream.Event) {}))
			}
			src := stream.Generate(p, countTo(b.N))
			if err := stream.Drain(p, stream.Map(p, src, inc)); err != nil {
				b.Fatal(err)
			}
		})
	}
}
