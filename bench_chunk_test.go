package stream_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pipewright/stream"
)

// The benchmarks of this file measure what chunked hand-off between stages
// changes: the throughput of a chain of trivial stages (where elements may
// move between stages in chunks while a consumer is behind), and the
// round-trip time of a lone element through an idle pipeline (which no
// chunking may delay). Each has a hand-written per-element baseline of the
// same topology in the same run:
//
//	go test -run '^$' -bench 'Chain|LoneElement' -count 5 .

// chainLengths are the numbers of Map stages of BenchmarkChain.
var chainLengths = []int{1, 3, 6}

// chainSum is what a chain of k increments of 0..n-1 sums to.
func chainSum(n, k int) int { return n*(n-1)/2 + k*n }

func add(acc, v int) int { return acc + v }

// BenchmarkChain measures a source of 0..b.N-1, k Map stages adding one (one
// worker each, default capacity) and a Reduce summing the result, against a
// hand-written pipeline of the same shape sending one element at a time
// (source goroutine, k stage goroutines, the consumer summing, channels of
// capacity stream.DefaultCapacity). The per-stage cost is the slope between
// two lengths.
func BenchmarkChain(b *testing.B) {
	for _, k := range chainLengths {
		name := "stages=" + strconv.Itoa(k)
		b.Run(name+"/hand/fastpath", func(b *testing.B) {
			b.ReportAllocs()
			done := make(chan struct{})
			defer close(done)
			c := handSource(b.N, done, sendFast[int])
			for range k {
				c = handStage(c, done, 1, sendFast[int], handInc)
			}
			sum := 0
			for v := range c {
				sum += v
			}
			if want := chainSum(b.N, k); sum != want {
				b.Fatalf("sum = %d, want %d", sum, want)
			}
		})
		b.Run(name+"/stream", func(b *testing.B) {
			b.ReportAllocs()
			p := stream.New(context.Background())
			c := stream.Generate(p, countTo(b.N))
			for range k {
				c = stream.Map(p, c, inc)
			}
			sum, err := stream.Reduce(p, c, 0, add)
			if err != nil {
				b.Fatal(err)
			}
			if want := chainSum(b.N, k); sum != want {
				b.Fatalf("sum = %d, want %d", sum, want)
			}
		})
	}
}

// loneStages is the number of Map stages of BenchmarkLoneElement.
const loneStages = 5

// BenchmarkLoneElement measures the round trip of one element through an
// idle pipeline of five Map stages: the benchmark hands element i to the
// source, waits until the sink hands it back, and only then sends i+1, so
// ns/op is the latency of one element when the stream is slow. The library's
// pipeline (a Generate reading the benchmark's channel, the Maps, a ForEach
// handing the result back) is compared with hand-written goroutines of the
// same shape.
func BenchmarkLoneElement(b *testing.B) {
	b.Run("hand/fastpath", func(b *testing.B) {
		b.ReportAllocs()
		done := make(chan struct{})
		defer close(done)
		in, back := make(chan int), make(chan int)
		defer close(in)
		first := make(chan int, benchCap)
		go func() {
			defer close(first)
			for v := range in {
				if !sendFast(first, v, done) {
					return
				}
			}
		}()
		var c <-chan int = first
		for range loneStages {
			c = handStage(c, done, 1, sendFast[int], handInc)
		}
		go func() {
			for v := range c {
				if !sendFast(back, v, done) {
					return
				}
			}
		}()
		if err := roundTrips(b.N, in, back); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("stream", func(b *testing.B) {
		b.ReportAllocs()
		in, back := make(chan int), make(chan int)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		p := stream.New(ctx)
		c := stream.Generate(p, func(ctx context.Context, emit func(int) error) error {
			for {
				select {
				case v, ok := <-in:
					if !ok {
						return nil
					}
					if err := emit(v); err != nil {
						return err
					}
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		})
		for range loneStages {
			c = stream.Map(p, c, inc)
		}
		stream.ForEach(p, c, func(ctx context.Context, v int) error {
			select {
			case back <- v:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		err := roundTrips(b.N, in, back)
		if err != nil {
			cancel() // the pipeline may hold the element: end it
		}
		close(in)
		if werr := p.Wait(); err == nil {
			err = werr
		}
		if err != nil {
			b.Fatal(err)
		}
	})
}

// stuckAfter is how long roundTrips waits for an element to come back
// before it gives up: an element held back in the pipeline fails the
// benchmark with a message instead of hanging it.
const stuckAfter = 10 * time.Second

// roundTrips sends 0..n-1 into in one at a time, each after the previous
// one came back (incremented by every stage) on back. It returns an error
// rather than failing, so the caller can still end its pipeline. Both sides
// of the comparison pay for the same two-case selects and the atomic store
// that let whenStuck see progress (benchmarks are not under the tests' watchdog).
func roundTrips(n int, in chan<- int, back <-chan int) error {
	var progress atomic.Int64
	stuck, stop := whenStuck(&progress, stuckAfter)
	defer stop()
	for i := range n {
		progress.Store(int64(i) + 1)
		select {
		case in <- i:
		case <-stuck:
			return fmt.Errorf("element %d not taken by the source within %v", i, stuckAfter)
		}
		select {
		case v := <-back:
			if v != i+loneStages {
				return fmt.Errorf("got %d back for %d, want %d", v, i, i+loneStages)
			}
		case <-stuck:
			return fmt.Errorf("element %d not back within %v: held in the pipeline", i, stuckAfter)
		}
	}
	return nil
}

// whenStuck returns a channel it closes once progress has not changed for a
// whole period, and the function that stops it (and waits until it has).
func whenStuck(progress *atomic.Int64, period time.Duration) (stuck <-chan struct{}, stop func()) {
	ch, quit, exited := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(period)
		defer t.Stop()
		last := progress.Load()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				if now := progress.Load(); now != last {
					last = now
					continue
				}
				close(ch)
				return
			}
		}
	}()
	return ch, func() { close(quit); <-exited }
}
