package stream_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
)

// Under synctest time moves only when every goroutine waits, so a function
// that sleeps d is timed at exactly d, and the tests below know every
// sample. A stage with one worker times its first element, then one in 64:
// the elements at indexes 0, 64, 128, …

// bounds requires that q is an upper bound of d less than 12.5% above it.
func bounds(t *testing.T, what string, q, d time.Duration) {
	t.Helper()
	assert.GreaterOrEqual(t, q, d, "%s = %v must bound %v", what, q, d)
	assert.Less(t, q, d+d/8, "%s = %v must be within 12.5%% of %v", what, q, d)
}

// sleepOnTimed returns a Map function that sleeps durs[i/64] on the
// elements that are timed (i a multiple of 64) and nothing on the others.
func sleepOnTimed(durs []time.Duration) func(context.Context, int) (int, error) {
	return func(_ context.Context, v int) (int, error) {
		if v%64 == 0 {
			time.Sleep(durs[v/64])
		}
		return v, nil
	}
}

// TestLatencyOneElement is issue 18's survivor 4: a stage with one 3ms
// element reports quantiles that bound 3ms.
func TestLatencyOneElement(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(t.Context())
		out := stream.Map(p, stream.FromSlice(p, []int{0}), sleepOnTimed([]time.Duration{3 * time.Millisecond}), stream.Name("m"))
		_, err := stream.Collect(p, out)
		require.NoError(t, err)
		l := statsOf(t, p, "m").Latency
		require.EqualValues(t, 1, l.Samples)
		bounds(t, "P50", l.P50, 3*time.Millisecond)
		bounds(t, "P90", l.P90, 3*time.Millisecond)
		bounds(t, "P99", l.P99, 3*time.Millisecond)
		assert.Equal(t, 3*time.Millisecond, l.Sum)
		require.Len(t, l.Buckets, 1)
		assert.Equal(t, stream.LatencyBucket{UpperBound: l.P50, Count: 1}, l.Buckets[0])
	})
}

// TestLatencyNoCap is issue 17's bug 4: a call of 20s is reported as such,
// not as the 8.39s the histogram used to stop at.
func TestLatencyNoCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(t.Context())
		durs := []time.Duration{20 * time.Second, 20 * time.Second, time.Hour}
		out := stream.Map(p, stream.FromSlice(p, seq(129)), sleepOnTimed(durs), stream.Name("m"))
		_, err := stream.Collect(p, out)
		require.NoError(t, err)
		l := statsOf(t, p, "m").Latency
		require.EqualValues(t, 3, l.Samples)
		bounds(t, "P50", l.P50, 20*time.Second)
		bounds(t, "P90", l.P90, time.Hour)
		bounds(t, "P99", l.P99, time.Hour)
		assert.Equal(t, 2*20*time.Second+time.Hour, l.Sum)
	})
}

// TestLatencyRanks: quantiles are nearest-rank (P90 of ten samples is the
// ninth), checked where a rank falls on the last sample of a bucket.
func TestLatencyRanks(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		name          string
		durs          []time.Duration
		p50, p90, p99 time.Duration
	}{
		{"two", []time.Duration{ms, 9 * ms}, ms, 9 * ms, 9 * ms},
		{"nine and one", []time.Duration{ms, ms, ms, ms, ms, ms, ms, ms, ms, time.Second}, ms, ms, time.Second},
		{"half and half", []time.Duration{2 * ms, 2 * ms, 5 * ms, 5 * ms}, 2 * ms, 5 * ms, 5 * ms},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := stream.New(t.Context())
				n := 64*(len(c.durs)-1) + 1
				out := stream.Map(p, stream.FromSlice(p, seq(n)), sleepOnTimed(c.durs), stream.Name("m"))
				_, err := stream.Collect(p, out)
				require.NoError(t, err)
				l := statsOf(t, p, "m").Latency
				require.EqualValues(t, len(c.durs), l.Samples)
				bounds(t, "P50", l.P50, c.p50)
				bounds(t, "P90", l.P90, c.p90)
				bounds(t, "P99", l.P99, c.p99)
			})
		})
	}
}

// TestLatencyBucketsExported: Buckets are cumulative, increasing, end at
// Samples, and CountAtMost reads them exactly at powers of two.
func TestLatencyBucketsExported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(t.Context())
		ms := time.Millisecond
		durs := []time.Duration{ms, ms, 3 * ms, 40 * ms, 3 * ms}
		out := stream.Map(p, stream.FromSlice(p, seq(64*4+1)), sleepOnTimed(durs), stream.Name("m"))
		_, err := stream.Collect(p, out)
		require.NoError(t, err)
		l := statsOf(t, p, "m").Latency
		require.EqualValues(t, 5, l.Samples)
		require.Len(t, l.Buckets, 3)
		assert.Equal(t, []int64{2, 4, 5}, []int64{l.Buckets[0].Count, l.Buckets[1].Count, l.Buckets[2].Count})
		bounds(t, "bucket 0", l.Buckets[0].UpperBound, ms)
		bounds(t, "bucket 1", l.Buckets[1].UpperBound, 3*ms)
		bounds(t, "bucket 2", l.Buckets[2].UpperBound, 40*ms)
		assert.Equal(t, 48*ms, l.Sum)
		pow := func(k int) time.Duration { return time.Duration(1) << k }
		assert.EqualValues(t, 0, l.CountAtMost(pow(19)), "2^19ns = 0.52ms")
		assert.EqualValues(t, 2, l.CountAtMost(pow(20)), "2^20ns = 1.05ms")
		assert.EqualValues(t, 2, l.CountAtMost(pow(21)), "2^21ns = 2.1ms")
		assert.EqualValues(t, 4, l.CountAtMost(pow(22)), "2^22ns = 4.2ms")
		assert.EqualValues(t, 4, l.CountAtMost(pow(25)), "2^25ns = 33.6ms")
		assert.EqualValues(t, 5, l.CountAtMost(pow(26)), "2^26ns = 67.1ms")
		assert.EqualValues(t, 5, l.CountAtMost(time.Duration(1<<62)))
		assert.EqualValues(t, 0, l.CountAtMost(0))
	})
}

// TestLatencySources is issue 17's bug 2 for sources: a source's latency is
// the time to produce an element and hand it off.
func TestLatencySources(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(t.Context())
		gen := stream.Generate(p, func(ctx context.Context, emit func(int) error) error {
			for i := range 129 {
				time.Sleep(2 * time.Millisecond)
				if err := emit(i); err != nil {
					return err
				}
			}
			return nil
		}, stream.Name("gen"))
		ticks := stream.Take(p, stream.Tick(p, 10*time.Millisecond, stream.Name("tick")), 65)
		// a slice source whose consumer takes 5ms per element: with a
		// capacity of 1, each hand-off after the first two waits 5ms.
		slow := stream.Map(p, stream.FromSlice(p, seq(65), stream.Name("slice"), stream.Capacity(1)),
			func(_ context.Context, v int) (int, error) { time.Sleep(5 * time.Millisecond); return v, nil })
		require.NoError(t, stream.Drain(p, stream.Merge(p, []<-chan int{gen, slow, stream.Map(p, ticks, func(context.Context, time.Time) (int, error) { return 0, nil })})))

		g := statsOf(t, p, "gen").Latency
		require.EqualValues(t, 3, g.Samples, "elements 0, 64 and 128")
		bounds(t, "gen P50", g.P50, 2*time.Millisecond)
		bounds(t, "gen P99", g.P99, 2*time.Millisecond)
		assert.Equal(t, 6*time.Millisecond, g.Sum)

		tk := statsOf(t, p, "tick").Latency
		require.GreaterOrEqual(t, tk.Samples, int64(2))
		bounds(t, "tick P50", tk.P50, 10*time.Millisecond)

		s := statsOf(t, p, "slice").Latency
		require.EqualValues(t, 2, s.Samples, "elements 0 and 64")
		assert.Equal(t, 5*time.Millisecond, s.Sum, "the first hand-off does not wait, the 65th waits 5ms")
		bounds(t, "slice P99", s.P99, 5*time.Millisecond)
	})
}

// TestLatencyBatch is issue 17's bug 2 for Batch: a batch's latency runs
// from its first element's arrival to its hand-off.
func TestLatencyBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(t.Context())
		in := stream.Generate(p, func(ctx context.Context, emit func(int) error) error {
			for i := range 3 * 65 {
				if err := emit(i); err != nil {
					return err
				}
				time.Sleep(time.Millisecond) // three elements take 2ms from first to last
			}
			return nil
		})
		b := stream.Batch(p, in, 3, 0, stream.Name("batch"))
		require.NoError(t, stream.Drain(p, b))
		l := statsOf(t, p, "batch").Latency
		require.EqualValues(t, 2, l.Samples, "batches 0 and 64")
		bounds(t, "P50", l.P50, 2*time.Millisecond)
		assert.Equal(t, 4*time.Millisecond, l.Sum)

		// and with maxWait, a partial batch waits maxWait
		p = stream.New(t.Context())
		in = stream.Generate(p, func(ctx context.Context, emit func(int) error) error {
			if err := emit(1); err != nil {
				return err
			}
			<-ctx.Done()
			return nil
		})
		b = stream.Batch(p, in, 3, 7*time.Millisecond, stream.Name("batch"))
		_, err := stream.First(p, b)
		require.NoError(t, err)
		require.NoError(t, p.Wait())
		l = statsOf(t, p, "batch").Latency
		require.EqualValues(t, 1, l.Samples)
		assert.Equal(t, 7*time.Millisecond, l.Sum)
	})
}

// TestStatsExactForWaitingTick: a Tick source waiting for its next tick
// has published every tick it emitted (it used to publish in batches of 64,
// so a slow ticker showed 0 for a minute).
func TestStatsExactForWaitingTick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(t.Context())
		ticks := stream.Tick(p, time.Second, stream.Name("tick"))
		done := make(chan error, 1)
		go func() { done <- stream.Drain(p, ticks) }()
		time.Sleep(3*time.Second + time.Millisecond)
		synctest.Wait()
		assert.EqualValues(t, 3, statsOf(t, p, "tick").Out)
		p.Stop()
		require.NoError(t, <-done)
	})
}

// TestLatencyZipWindowValues: Zip, WindowReduce and Values report latency
// (issue 17 bug 2's rule, for the operators added since): a pair from the
// receipt of its first element to its hand-off, a pane from its opening to
// its hand-off, Values the loop body's time.
func TestLatencyZipWindowValues(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(t.Context())
		// b's elements come 4ms after a's
		slowB := stream.Generate(p, func(ctx context.Context, emit func(int) error) error {
			for i := range 3 {
				time.Sleep(4 * time.Millisecond)
				if err := emit(i); err != nil {
					return err
				}
			}
			return nil
		})
		pairs := stream.Zip(p, stream.FromSlice(p, seq(3)), slowB, stream.Name("zip"))
		require.NoError(t, stream.Drain(p, pairs))
		z := statsOf(t, p, "zip").Latency
		require.EqualValues(t, 1, z.Samples, "the first pair")
		assert.Equal(t, 4*time.Millisecond, z.Sum)

		// one element, 12ms into the bubble (whose clock starts on a round
		// second), in a tumbling window of 10ms: its pane [10ms, 20ms)
		// closes 8ms after the element opened it
		p = stream.New(t.Context())
		in := stream.Generate(p, func(ctx context.Context, emit func(int) error) error {
			if err := emit(1); err != nil {
				return err
			}
			time.Sleep(time.Hour)
			return nil
		})
		panes := stream.WindowReduce(p, in, stream.Tumbling(10*time.Millisecond),
			func(int) int { return 0 }, 0, func(a, v int) int { return a + v }, stream.Name("w"))
		_, err := stream.First(p, panes)
		require.NoError(t, err)
		require.NoError(t, p.Wait())
		w := statsOf(t, p, "w").Latency
		require.EqualValues(t, 1, w.Samples)
		assert.Equal(t, 8*time.Millisecond, w.Sum)

		p = stream.New(t.Context())
		for range stream.Values(p, stream.FromSlice(p, seq(65))) {
			time.Sleep(3 * time.Millisecond)
		}
		v := statsOf(t, p, "values#2").Latency
		require.EqualValues(t, 2, v.Samples, "elements 0 and 64")
		assert.Equal(t, 6*time.Millisecond, v.Sum)
		bounds(t, "Values P50", v.P50, 3*time.Millisecond)
	})
}
