package stream

import (
	"context"
	"time"
)

// This file holds Split and Zip: one stream into two by a predicate, and two
// streams into one of pairs.

// Split sends each element v of in to yes if pred(ctx, v) is true, else to
// no, in input order on each. It runs Workers goroutines (default 1); with
// more, elements leave in completion order. An error from pred fails the
// pipeline as a [*Error]; [Timeout], [Retry] and [OnError] apply to pred as
// they do to Map's function. Both outputs close when in closes. When the
// consumer of one output releases it, elements bound for it are dropped,
// counted in [StageStats].Dropped and passed to [OnDrop], and the other
// output goes on; the stage stops when both are released. Both outputs must
// be read (see "Channels" in the package doc). A nil p, in or pred panics.
func Split[T any](p *Pipeline, in <-chan T, pred func(context.Context, T) (bool, error), opts ...Option) (yes, no <-chan T) {
	checkPipeline(p)
	checkInput(in, "Split")
	if pred == nil {
		panic("stream: Split: nil function")
	}
	s := p.addStage("split", typedConfig[T]("split", opts, usesWorkers|usesPolicy|usesDrop|usesCapacity), []any{in})
	s.callsUser = true
	outs := outputs[T](s, 2)
	onDrop := typedOption[func(T)](s.cfg.onDrop, "OnDrop", s.kind)
	pol := newPolicy[T](s)
	consume(s, []<-chan T{in}, func(w *worker) func(context.Context, T) error {
		step := wrap(pol, w, func(ctx context.Context, v T, _ func(struct{}) error) error {
			ok, err := pred(ctx, v)
			if err != nil {
				return err
			}
			i := 1
			if ok {
				i = 0
			}
			sent, err := sendOrReleased(w, outs[i], v, s.outputs[i])
			if !sent && err == nil {
				droppedIfRunning(w, onDrop, v)
			}
			return err
		})
		return func(ctx context.Context, v T) error { return step(ctx, v, nil) }
	})
	return outs[0], outs[1]
}

// A Pair is an element of [Zip]'s output: the i-th elements of its two
// inputs.
type Pair[A, B any] struct {
	First  A
	Second B
}

// Zip pairs the elements of a and b in order: the i-th output is
// Pair{i-th of a, i-th of b}. It runs one goroutine, which receives from
// both inputs until it holds one element of each, then sends their pair, so
// the faster input waits for the slower. The output closes as soon as
// either input closes (even while Zip waits for the other); then Zip
// releases the other input, so its producers stop (see "Demand" in the
// package doc). An element of one input already received when the other
// closes has no partner: it is dropped and counted in [StageStats].Dropped
// (whether Zip received one before it saw the close depends on timing).
// Zipping two outputs of one stage ([Split], [Partition], [FanOut]) hangs
// the pipeline if one output gets further ahead of the other than its
// capacity: Zip holds an element of the one ahead and waits for the other,
// while the stage waits to send to the full one. Give the outputs
// [Capacity] enough for the largest lead, or pair the elements another way.
// A nil p, a or b, or a == b, panics.
func Zip[A, B any](p *Pipeline, a <-chan A, b <-chan B, opts ...Option) <-chan Pair[A, B] {
	checkPipeline(p)
	checkInput(a, "Zip")
	checkInput(b, "Zip")
	s := p.addStage("zip", stageConfig("zip", opts, usesCapacity), []any{a, b})
	out := output[Pair[A, B]](s)
	s.start(func(w *worker) error {
		for {
			var (
				pair       Pair[A, B]
				hasA, hasB bool
				start      time.Time
				timing     bool
			)
			for !hasA || !hasB {
				// Watch both inputs (the one already served is nil), so
				// that either closing ends the output at once.
				ca, cb := a, b
				if hasA {
					ca = nil
				}
				if hasB {
					cb = nil
				}
				var ok, gotA bool
				select {
				case pair.First, ok = <-ca:
					gotA = true
				case pair.Second, ok = <-cb:
				default:
					w.wait()
					select {
					case pair.First, ok = <-ca:
						gotA = true
					case pair.Second, ok = <-cb:
					case <-w.done:
						w.woke()
						return errDone
					}
					w.woke()
				}
				if !ok {
					if (hasA || hasB) && !isDone(w.s.ctx.Done()) {
						w.drop(1) // the element held has no partner
					}
					return errClosed
				}
				w.received()
				if gotA {
					hasA = true
				} else {
					hasB = true
				}
				// A pair's latency: from the receipt of its first element
				// to its hand-off, the wait for the second included.
				if hasA != hasB { // the pair's first element
					if timing = w.sampling(); timing {
						start = time.Now()
					}
				}
			}
			if err := send(w, out, pair, w.done); err != nil {
				return err
			}
			if timing {
				w.timed(start)
			}
		}
	})
	return out.ch
}
