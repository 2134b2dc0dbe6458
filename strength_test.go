package stream_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
)

// The tests of this file each say plainly one promise that a mutation of
// the library once broke without any test noticing (issue 18): each was
// seen failing on its mutant, which its comment names.

// peakCounter tracks how many calls are in flight and the most there ever
// were.
type peakCounter struct{ cur, peak atomic.Int64 }

func (c *peakCounter) enter() {
	cur := c.cur.Add(1)
	for {
		old := c.peak.Load()
		if cur <= old || c.peak.CompareAndSwap(old, cur) {
			return
		}
	}
}

func (c *peakCounter) leave() { c.cur.Add(-1) }

// TestOrderedWorkersRunConcurrently: Ordered keeps the order without giving
// up the concurrency it was asked for: with Workers(n), Ordered() there are
// n calls in flight at once. Every call takes 1ms of fake time, so every
// worker that has an element is in its call at the same instant.
//
// Mutant: the dispatcher gives every element to the same worker (handOut
// tries only jobs[0]); the order stays right, the peak is 1.
func TestOrderedWorkersRunConcurrently(t *testing.T) {
	type stage = func(p *stream.Pipeline, in <-chan int, body func(), opts ...stream.Option) <-chan int
	stages := []struct {
		name string
		add  stage
	}{
		{"Map", func(p *stream.Pipeline, in <-chan int, body func(), opts ...stream.Option) <-chan int {
			return stream.Map(p, in, func(_ context.Context, v int) (int, error) { body(); return v, nil }, opts...)
		}},
		{"Filter", func(p *stream.Pipeline, in <-chan int, body func(), opts ...stream.Option) <-chan int {
			return stream.Filter(p, in, func(_ context.Context, v int) (bool, error) { body(); return true, nil }, opts...)
		}},
		{"FlatMap", func(p *stream.Pipeline, in <-chan int, body func(), opts ...stream.Option) <-chan int {
			return stream.FlatMap(p, in, func(_ context.Context, v int, emit func(int) error) error { body(); return emit(v) }, opts...)
		}},
	}
	for _, st := range stages {
		for _, n := range []int{2, 4, 8} {
			t.Run(fmt.Sprintf("%s/workers=%d", st.name, n), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p := stream.New(t.Context())
					var calls peakCounter
					out := st.add(p, stream.FromSlice(p, seq(20*n)), func() {
						calls.enter()
						defer calls.leave()
						time.Sleep(time.Millisecond)
					}, stream.Workers(n), stream.Ordered())
					got, err := stream.Collect(p, out)
					require.NoError(t, err)
					require.Equal(t, seq(20*n), got, "in input order")
					assert.EqualValues(t, n, calls.peak.Load(), "calls in flight at once")
				})
			})
		}
	}
}

// TestAdaptiveWorkersReachesMaxAndNeverExceedsIt: a function well within
// the target under any load makes AdaptiveWorkers(1, 4, …) grow its limit
// to max, and never past it: neither the reported limit nor the calls in
// flight exceed 4.
//
// Mutant: `limit < a.max` → `limit <= a.max` in adaptive.record; the limit
// grows to 5, 6, … (the calls in flight stay at 4: there are only max
// workers).
func TestAdaptiveWorkersReachesMaxAndNeverExceedsIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(t.Context())
		var (
			calls    peakCounter
			maxLimit atomic.Int64
		)
		stream.ForEach(p, stream.FromSlice(p, seq(400)), func(context.Context, int) error {
			calls.enter()
			defer calls.leave()
			if l := int64(statsOf(t, p, "svc").Limit); l > maxLimit.Load() {
				maxLimit.Store(l) // only the stage's goroutines write it, one at a time below max
			}
			time.Sleep(time.Millisecond)
			return nil
		}, stream.AdaptiveWorkers(1, 4, 10*time.Millisecond), stream.Name("svc"))
		require.NoError(t, p.Wait())
		st := statsOf(t, p, "svc")
		assert.Equal(t, 4, st.Limit, "a fast function takes the limit to max")
		assert.LessOrEqual(t, maxLimit.Load(), int64(4), "the limit never exceeds max")
		assert.EqualValues(t, 4, calls.peak.Load(), "max calls in flight at once, never more")
		assert.EqualValues(t, 400, st.In)
	})
}

// TestLatencyQuantilesBoundASingleSample: a stage that handled one element
// in 3ms reports quantiles that are upper bounds of 3ms, whatever the
// histogram's buckets (and not absurdly loose: within 2× of it).
//
// Mutant: an off-by-one in the quantile's rank (`seen > rank` → `seen >=
// rank` in summarise) reports 1µs.
func TestLatencyQuantilesBoundASingleSample(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(t.Context())
		out := stream.Map(p, stream.FromSlice(p, []int{1}), func(_ context.Context, v int) (int, error) {
			time.Sleep(3 * time.Millisecond)
			return v, nil
		}, stream.Name("slow"))
		_, err := stream.Collect(p, out)
		require.NoError(t, err)
		lat := statsOf(t, p, "slow").Latency
		require.EqualValues(t, 1, lat.Samples, "the first element is timed")
		for name, q := range map[string]time.Duration{"P50": lat.P50, "P90": lat.P90, "P99": lat.P99} {
			assert.GreaterOrEqual(t, q, 3*time.Millisecond, "%s bounds the one sample", name)
			assert.LessOrEqual(t, q, 6*time.Millisecond, "%s is within 2× of the one sample", name)
		}
	})
}

// TestStatsExactForAStageIdleOnItsInput: counts are published before a
// worker blocks waiting for input, so Stats is exact for a stage that is
// idle: 3 elements in, nothing more coming, In = Out = 3 and nobody busy.
//
// Mutant: no w.flush() before take blocks on its input; In and Out read 0.
func TestStatsExactForAStageIdleOnItsInput(t *testing.T) {
	type add = func(p *stream.Pipeline, in <-chan int, opts ...stream.Option) <-chan int // nil: a sink
	keep := func(context.Context, int) (bool, error) { return true, nil }
	stages := []struct {
		name string
		opts []stream.Option
		add  add
	}{
		{"Map", nil, func(p *stream.Pipeline, in <-chan int, opts ...stream.Option) <-chan int {
			return stream.Map(p, in, double, opts...)
		}},
		{"Map W3", []stream.Option{stream.Workers(3)}, func(p *stream.Pipeline, in <-chan int, opts ...stream.Option) <-chan int {
			return stream.Map(p, in, double, opts...)
		}},
		{"Map W3 Ordered", []stream.Option{stream.Workers(3), stream.Ordered()}, func(p *stream.Pipeline, in <-chan int, opts ...stream.Option) <-chan int {
			return stream.Map(p, in, double, opts...)
		}},
		{"Filter", nil, func(p *stream.Pipeline, in <-chan int, opts ...stream.Option) <-chan int {
			return stream.Filter(p, in, keep, opts...)
		}},
		{"FlatMap W2 Ordered", []stream.Option{stream.Workers(2), stream.Ordered()}, func(p *stream.Pipeline, in <-chan int, opts ...stream.Option) <-chan int {
			return stream.FlatMap(p, in, func(_ context.Context, v int, emit func(int) error) error { return emit(v) }, opts...)
		}},
		{"Map Timeout Retry", []stream.Option{stream.Timeout(time.Second), stream.Retry(stream.RetryPolicy{})}, func(p *stream.Pipeline, in <-chan int, opts ...stream.Option) <-chan int {
			return stream.Map(p, in, double, opts...)
		}},
		{"Buffer", nil, func(p *stream.Pipeline, in <-chan int, opts ...stream.Option) <-chan int {
			return stream.Buffer(p, in, 8, stream.DropOldest, opts...)
		}},
		{"Take", nil, func(p *stream.Pipeline, in <-chan int, opts ...stream.Option) <-chan int {
			return stream.Take(p, in, 10, opts...)
		}},
		{"ForEach", nil, func(p *stream.Pipeline, in <-chan int, opts ...stream.Option) <-chan int {
			stream.ForEach(p, in, func(context.Context, int) error { return nil }, opts...)
			return nil
		}},
		{"ForEach W2", []stream.Option{stream.Workers(2)}, func(p *stream.Pipeline, in <-chan int, opts ...stream.Option) <-chan int {
			stream.ForEach(p, in, func(context.Context, int) error { return nil }, opts...)
			return nil
		}},
	}
	for _, st := range stages {
		t.Run(st.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := stream.New(t.Context())
				in := make(chan int)
				out := st.add(p, in, append(st.opts, stream.Name("stage"))...)
				for v := range 3 {
					in <- v
				}
				synctest.Wait() // the stage has handled all three and waits for more
				s := statsOf(t, p, "stage")
				assert.EqualValues(t, 3, s.In, "In")
				if out != nil {
					assert.EqualValues(t, 3, s.Out, "Out")
					assert.Equal(t, 3, s.QueueLen, "all three wait in the output")
				}
				assert.Zero(t, s.Busy, "every goroutine waits for input")
				assert.False(t, s.Done)
				close(in)
				if out != nil {
					got, err := stream.Collect(p, out)
					require.NoError(t, err)
					assert.Len(t, got, 3)
				} else {
					require.NoError(t, p.Wait())
				}
			})
		})
	}
}

// TestOrderedCountsInOnce: an Ordered stage hands every element from its
// dispatcher to a worker and from the worker to its collector, but counts
// it once: In and Out equal the elements that went in and came out, for
// each kind of Ordered stage.
//
// Mutant: the Ordered workers receive with recv (which counts) instead of
// take; In reads 2n.
func TestOrderedCountsInOnce(t *testing.T) {
	const n = 1000
	for _, workers := range []int{2, 5} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			p := stream.New(t.Context())
			opts := []stream.Option{stream.Workers(workers), stream.Ordered()}
			c := stream.Map(p, stream.FromSlice(p, seq(n)), double, append(opts, stream.Name("map"))...)
			c = stream.Filter(p, c, func(_ context.Context, v int) (bool, error) { return v%4 == 0, nil }, append(opts, stream.Name("filter"))...)
			c = stream.FlatMap(p, c, func(_ context.Context, v int, emit func(int) error) error {
				if err := emit(v); err != nil {
					return err
				}
				return emit(v + 1)
			}, append(opts, stream.Name("flatmap"))...)
			batches := stream.Batch(p, c, 10, 0)
			c = stream.Flatten(p, batches, append(opts, stream.Name("flatten"))...)
			got, err := stream.Collect(p, c)
			require.NoError(t, err)
			require.Len(t, got, n)
			for _, want := range []struct {
				name    string
				in, out int64
			}{
				{"map", n, n},
				{"filter", n, n / 2},
				{"flatmap", n / 2, n},
				{"flatten", n / 10, n},
			} {
				s := statsOf(t, p, want.name)
				assert.Equal(t, want.in, s.In, "%s: In", want.name)
				assert.Equal(t, want.out, s.Out, "%s: Out", want.name)
			}
		})
	}
}

// TestPartitionKeepsItsModulusAsOutputsAreReleased: each key goes to one
// output for the whole run. Releasing an output does not re-route the keys
// of the others: the elements of a released output's keys are dropped (and
// counted), never sent elsewhere.
//
// Mutant: the modulus shrinks as outputs are released (`% uint64(n)` →
// `% uint64(n-released)`); keys move to other outputs after the release.
func TestPartitionKeepsItsModulusAsOutputsAreReleased(t *testing.T) {
	const n, outs, keys = 2000, 4, 64 // 64 keys: output 0 gets none with probability (3/4)^64
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(t.Context())
		parts := stream.Partition(p, stream.FromSlice(p, seq(n)), outs, func(v int) int { return v % keys },
			stream.Name("part"), stream.Capacity(1))
		// Output 0 lets go after its first element (Take releases it);
		// outputs 1 to 3 read on, slowly, so that most of the stream is
		// routed after the release.
		var got0 []int
		stream.ForEach(p, stream.Take(p, parts[0], 1), func(_ context.Context, v int) error {
			got0 = append(got0, v)
			return nil
		})
		got := make([][]int, outs)
		for i := 1; i < outs; i++ {
			stream.ForEach(p, parts[i], func(_ context.Context, v int) error {
				time.Sleep(time.Millisecond)
				got[i] = append(got[i], v)
				return nil
			})
		}
		require.NoError(t, p.Wait())
		got[0] = got0
		require.Len(t, got0, 1)
		owner := map[int]int{}
		delivered := 0
		for i, g := range got {
			require.True(t, increasing(g), "output %d keeps the input order", i)
			for _, v := range g {
				if o, ok := owner[v%keys]; ok && o != i {
					t.Fatalf("key %d went to output %d, then %d (element %d)", v%keys, o, i, v)
				}
				owner[v%keys] = i
			}
			delivered += len(g)
		}
		dropped := statsOf(t, p, "part").Dropped
		assert.EqualValues(t, n, int64(delivered)+dropped, "every element is delivered once or dropped")
		// The key of output 0's one element has n/keys elements: the rest of
		// them were dropped, not re-routed.
		assert.GreaterOrEqual(t, dropped, int64(n/keys-1), "the released output's keys are dropped")
	})
}

// TestNoCallOnceStopHasBegun: Stop cancels the stages one after another.
// A stage cancelled early may still hand on an element (Batch flushes its
// partial batch when its input closes), and a stage further down, not yet
// cancelled, must not start its function on it: once the pipeline's own
// context is done, no user function starts (P21), whatever the order in
// which the stages hear of it. Two hundred idle stages make the
// cancellation take long enough for the race to show: before the fix, a
// few runs in a hundred called the function after Stop (it was found by
// TestRandomPipelines, seed 6123).
func TestNoCallOnceStopHasBegun(t *testing.T) {
	runs := 200
	if testing.Short() {
		runs = 80
	}
	consumers := []struct {
		name string
		add  func(p *stream.Pipeline, in <-chan []int, call func())
	}{
		{"Map", func(p *stream.Pipeline, in <-chan []int, call func()) {
			stream.ForEach(p, stream.Map(p, in, func(_ context.Context, b []int) ([]int, error) { call(); return b, nil }), pitfallIgnore)
		}},
		{"Map Workers(3) Ordered", func(p *stream.Pipeline, in <-chan []int, call func()) {
			stream.ForEach(p, stream.Map(p, in, func(_ context.Context, b []int) ([]int, error) { call(); return b, nil },
				stream.Workers(3), stream.Ordered()), pitfallIgnore)
		}},
		{"ForEach", func(p *stream.Pipeline, in <-chan []int, call func()) {
			stream.ForEach(p, in, func(context.Context, []int) error { call(); return nil })
		}},
	}
	for _, c := range consumers {
		t.Run(c.name, func(t *testing.T) {
			var late atomic.Int64
			for range runs {
				synctest.Test(t, func(t *testing.T) {
					p := stream.New(context.Background())
					var stopped atomic.Bool
					src := stream.Generate(p, func(ctx context.Context, emit func(int) error) error {
						if err := emit(1); err != nil {
							return err
						}
						<-ctx.Done()
						return ctx.Err()
					})
					c.add(p, stream.Batch(p, src, 3, 0), func() {
						if stopped.Load() {
							late.Add(1)
						}
					})
					for range 200 {
						p.Go("", func(ctx context.Context) error { <-ctx.Done(); return nil })
					}
					synctest.Wait() // everything blocked: one element waits in Batch
					stopped.Store(true)
					p.Stop()
					require.NoError(t, p.Wait())
				})
			}
			assert.Zero(t, late.Load(), "calls started after Stop, in %d runs", runs)
		})
	}
}

// TestOrderedStartsNoMoreOfItsRunAfterStop: an Ordered worker takes a run
// of several elements from its input at once. Stopped while it is in the
// call of one of them, it must start none of the rest of its run (P21):
// they are discarded. Every call waits until the pipeline ends, so Stop
// comes while each worker is in the first call of its run.
//
// Mutant: no done check before each element of a run (ordered.go's loop);
// the rest of each run is called after Stop.
func TestOrderedStartsNoMoreOfItsRunAfterStop(t *testing.T) {
	type stage = func(p *stream.Pipeline, in <-chan int, body func(ctx context.Context), opts ...stream.Option) <-chan int
	stages := []struct {
		name string
		add  stage
	}{
		{"Map", func(p *stream.Pipeline, in <-chan int, body func(context.Context), opts ...stream.Option) <-chan int {
			return stream.Map(p, in, func(ctx context.Context, v int) (int, error) { body(ctx); return v, nil }, opts...)
		}},
		{"Filter", func(p *stream.Pipeline, in <-chan int, body func(context.Context), opts ...stream.Option) <-chan int {
			return stream.Filter(p, in, func(ctx context.Context, v int) (bool, error) { body(ctx); return true, nil }, opts...)
		}},
		{"FlatMap", func(p *stream.Pipeline, in <-chan int, body func(context.Context), opts ...stream.Option) <-chan int {
			return stream.FlatMap(p, in, func(ctx context.Context, v int, emit func(int) error) error { body(ctx); return emit(v) }, opts...)
		}},
	}
	for _, st := range stages {
		for _, workers := range []int{2, 4} {
			t.Run(fmt.Sprintf("%s/workers=%d", st.name, workers), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p := stream.New(context.Background())
					var calls, late atomic.Int64
					var stopped atomic.Bool
					out := st.add(p, stream.FromSlice(p, seq(200), stream.Capacity(200)), func(ctx context.Context) {
						calls.Add(1)
						if stopped.Load() {
							late.Add(1)
						}
						<-ctx.Done()
					}, stream.Workers(workers), stream.Ordered())
					stream.ForEach(p, out, pitfallIgnore)
					synctest.Wait() // every worker is in a call, with the rest of its run in hand
					require.EqualValues(t, workers, calls.Load(), "one call per worker")
					stopped.Store(true)
					p.Stop()
					require.NoError(t, p.Wait())
					assert.Zero(t, late.Load(), "calls started after Stop")
				})
			})
		}
	}
}
