package benchmarks

import (
	"context"

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
			return roundTrips(n, in, back), nil
		}})
	}
	w.impls = append(w.impls, impl{"stream", func(n int) (int, error) {
		in, back := make(chan int), make(chan int)
		p := stream.New(context.Background())
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
		s := roundTrips(n, in, back)
		close(in)
		return s, p.Wait()
	}})
	return []workload{w}
}

// roundTrips sends 0..n-1 into in, each once the previous one came back on
// back, and returns the sum of what came back.
func roundTrips(n int, in chan<- int, back <-chan int) int {
	s := 0
	for i := range n {
		in <- i
		s += <-back
	}
	return s
}
