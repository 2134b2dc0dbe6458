package benchmarks

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pipewright/stream"
)

// The hand-off workloads measure what moving elements between the library's
// stages costs: the throughput of a chain of trivial stages (Chain3,
// Chain6), where a stage spends its time handing elements on, and the round
// trip of one element at a time through an idle pipeline (LoneElement5),
// where nothing may wait for more elements to come. The hand-written
// implementations hand over one element at a time, with each way of sending.

// chain builds the workload of k trivial stages: map v+1, keep all (v ≥ 0,
// always true here), map v+1, ... alternately, one worker each.
func chain(k int) []workload {
	maps := (k + 1) / 2
	w := workload{want: sumOf(func(v int) int { return v + maps })}
	for _, s := range senders {
		w.impls = append(w.impls, impl{s.lib, func(n int) (int, error) {
			done := make(chan struct{})
			defer close(done)
			c := handSource(n, done, s.int)
			for i := range k {
				if i%2 == 0 {
					c = handStage(c, done, 1, s.int, handInc)
				} else {
					c = handStage(c, done, 1, s.int, handKeep)
				}
			}
			return sum(c), nil
		}})
	}
	w.impls = append(w.impls, impl{"stream", func(n int) (int, error) {
		p := stream.New(context.Background())
		c := stream.Generate(p, countTo(n))
		for i := range k {
			if i%2 == 0 {
				c = stream.Map(p, c, streamInc)
			} else {
				c = stream.Filter(p, c, streamKeep)
			}
		}
		return stream.Reduce(p, c, 0, add)
	}})
	return []workload{w}
}

func chain3() []workload { return chain(3) }
func chain6() []workload { return chain(6) }

func handKeep(v int) (int, bool)                        { return v, v >= 0 }
func streamKeep(_ context.Context, v int) (bool, error) { return v >= 0, nil }

// loneStages is the number of stages of LoneElement5.
const loneStages = 5

// loneElement5 sends 0..n-1 through five map v+1 stages one at a time: the
// caller hands element i to the source and sends i+1 only when i came out of
// the consumer, so the time per element is the round trip through an idle
// pipeline. The topology: the caller, a source goroutine reading the
// caller's channel, the five stages, a consumer goroutine handing each
// element back to the caller; the caller's two channels are unbuffered.
func loneElement5() []workload {
	w := workload{want: sumOf(func(v int) int { return v + loneStages })}
	for _, s := range senders {
		w.impls = append(w.impls, impl{s.lib, func(n int) (int, error) {
			done := make(chan struct{})
			defer close(done)
			in, back := make(chan int), make(chan int)
			defer close(in)
			first := make(chan int, capacity)
			go func() {
				defer close(first)
				for v := range in {
					if !s.int(first, v, done) {
						return
					}
				}
			}()
			var c <-chan int = first
			for range loneStages {
				c = handStage(c, done, 1, s.int, handInc)
			}
			go func() {
				for v := range c {
					if !s.int(back, v, done) {
						return
					}
				}
			}()
			return roundTrips(n, in, back)
		}})
	}
	w.impls = append(w.impls, impl{"stream", func(n int) (int, error) {
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
			c = stream.Map(p, c, streamInc)
		}
		stream.ForEach(p, c, func(ctx context.Context, v int) error {
			select {
			case back <- v:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		s, err := roundTrips(n, in, back)
		if err != nil {
			cancel() // the pipeline may hold the element: end it
		}
		close(in)
		if werr := p.Wait(); err == nil {
			err = werr
		}
		return s, err
	}})
	return []workload{w}
}

// stuckAfter is how long roundTrips waits for an element to come back
// before it gives up, so an element held back in a pipeline fails the run
// with a message instead of hanging it.
const stuckAfter = 10 * time.Second

// roundTrips sends 0..n-1 into in, each once the previous one came back on
// back, and returns the sum of what came back. Every implementation pays
// the same for the two-case selects and the atomic store that let
// whenStuck see progress.
func roundTrips(n int, in chan<- int, back <-chan int) (int, error) {
	var progress atomic.Int64
	stuck, stop := whenStuck(&progress, stuckAfter)
	defer stop()
	s := 0
	for i := range n {
		progress.Store(int64(i) + 1)
		select {
		case in <- i:
		case <-stuck:
			return s, fmt.Errorf("element %d not taken by the source within %v", i, stuckAfter)
		}
		select {
		case v := <-back:
			s += v
		case <-stuck:
			return s, fmt.Errorf("element %d not back within %v: held in the pipeline", i, stuckAfter)
		}
	}
	return s, nil
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
