package benchmarks

import (
	"context"
	"time"

	"github.com/pipewright/stream"
)

// timeoutMap is a map (v+1) in which every call gets a deadline of its own,
// as Timeout gives it: hand-written, a context.WithTimeout per element;
// stream-timeout, Map with Timeout(1s); stream, the same Map without it,
// for reference. The per-call context is the cost being measured: it
// allocates (a context and a timer) for every element, in hand-written code
// as in the library.
func timeoutMap() []workload {
	w := workload{want: sumOf(inc)}
	for _, s := range senders {
		w.impls = append(w.impls, impl{s.lib, func(n int) (int, error) {
			done := make(chan struct{})
			defer close(done)
			parent := context.Background()
			c := handSource(n, done, s.int)
			c = handStage(c, done, 1, s.int, func(v int) (int, bool) {
				ctx, cancel := context.WithTimeout(parent, time.Second)
				defer cancel()
				u, _ := streamInc(ctx, v)
				return u, true
			})
			return sum(c), nil
		}})
	}
	w.impls = append(w.impls,
		impl{"stream", func(n int) (int, error) {
			p := stream.New(context.Background())
			return stream.Reduce(p, stream.Map(p, stream.Generate(p, countTo(n)), streamInc), 0, add)
		}},
		impl{"stream-timeout", func(n int) (int, error) {
			p := stream.New(context.Background())
			return stream.Reduce(p, stream.Map(p, stream.Generate(p, countTo(n)), streamInc, stream.Timeout(time.Second)), 0, add)
		}},
	)
	return []workload{w}
}
