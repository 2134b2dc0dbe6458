package stream_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
)

// TestOrderedFlatMapSendsTheHeadsValuesAtOnce (issue 17, bug 1): the values
// of the element at the head of the window go out as they are emitted, not
// when its function returns. Here the function emits, then waits for its
// context, which ends only when First has let go.
func TestOrderedFlatMapSendsTheHeadsValuesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(t.Context())
		out := stream.FlatMap(p, stream.FromSlice(p, []int{1, 2}), func(ctx context.Context, v int, emit func(int) error) error {
			if err := emit(v); err != nil {
				return err
			}
			<-ctx.Done() // a feed waiting for its next event
			return ctx.Err()
		}, stream.Workers(2), stream.Ordered())
		start := time.Now()
		v, err := stream.First(p, out)
		require.NoError(t, err)
		assert.Equal(t, 1, v)
		assert.Zero(t, time.Since(start), "First returned at once")
	})
	synctest.Test(t, func(t *testing.T) {
		// Emit 100, sleep a second, emit 200: the 100 arrives at once,
		// the next element's values after the 200.
		p := stream.New(t.Context())
		out := stream.FlatMap(p, stream.FromSlice(p, []int{1, 2}), func(_ context.Context, v int, emit func(int) error) error {
			if err := emit(100 * v); err != nil {
				return err
			}
			time.Sleep(time.Second)
			return emit(100*v + 1)
		}, stream.Workers(2), stream.Ordered())
		start := time.Now()
		var got []string
		stream.ForEach(p, out, func(_ context.Context, v int) error {
			got = append(got, fmt.Sprintf("%d@%v", v, time.Since(start)))
			return nil
		})
		require.NoError(t, p.Wait())
		assert.Equal(t, []string{"100@0s", "101@1s", "200@1s", "201@1s"}, got)
	})
}

// TestOrderedFlatMapHoldsEightValuesPerElement: an element that is not at
// the head keeps at most 8 values; its emit then blocks until it is.
func TestOrderedFlatMapHoldsEightValuesPerElement(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(t.Context())
		unblock := make(chan struct{})
		var emitted atomic.Int64
		out := stream.FlatMap(p, stream.FromSlice(p, []int{0, 1}), func(_ context.Context, v int, emit func(int) error) error {
			if v == 0 {
				<-unblock
			}
			for i := range 20 {
				if err := emit(100*v + i); err != nil {
					return err
				}
				if v == 1 {
					emitted.Add(1)
				}
			}
			return nil
		}, stream.Workers(2), stream.Ordered())
		got := make(chan []int, 1)
		go func() {
			vs, err := stream.Collect(p, out)
			assert.NoError(t, err)
			got <- vs
		}()
		synctest.Wait()
		assert.Equal(t, int64(8), emitted.Load(), "emits of the second element that returned while the first is stuck")
		close(unblock)
		want := make([]int, 0, 40)
		for v := range 2 {
			for i := range 20 {
				want = append(want, 100*v+i)
			}
		}
		assert.Equal(t, want, <-got)
	})
}

// TestOrderedWindowIsExact (issue 17, bug 6): while the head element is
// stuck the stage receives exactly 16 elements per worker, the bound the
// doc of Ordered states, and no more.
func TestOrderedWindowIsExact(t *testing.T) {
	for _, workers := range []int{2, 3, 8} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := stream.New(t.Context())
				unblock := make(chan struct{})
				var calls atomic.Int64
				m := stream.Map(p, stream.Generate(p, infinite(nil)), func(_ context.Context, v int) (int, error) {
					calls.Add(1)
					if v == 0 {
						<-unblock
					}
					return v, nil
				}, stream.Name("ordered"), stream.Workers(workers), stream.Ordered())
				got := make(chan []int, 1)
				go func() {
					var vs []int
					for v := range m {
						if vs = append(vs, v); len(vs) == 1000 {
							break
						}
					}
					got <- vs
				}()
				synctest.Wait()
				st := statsOf(t, p, "ordered")
				assert.Equal(t, int64(16*workers), st.In, "elements in the window while the head is stuck")
				assert.Zero(t, st.Out)
				assert.LessOrEqual(t, calls.Load(), int64(16*workers))
				assert.Greater(t, calls.Load(), int64(2*workers), "the other workers went on")
				close(unblock)
				assert.Equal(t, seq(1000), <-got)
				p.Stop()
				require.NoError(t, p.Wait())
			})
		})
	}
}

// TestOrderedBusyAndInFlight (issue 17 bug 3, issue 18): an Ordered stage
// with n workers makes n calls at once, and reports no more than n busy.
func TestOrderedBusyAndInFlight(t *testing.T) {
	for _, workers := range []int{2, 4, 8} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := stream.New(t.Context())
				gate := make(chan struct{})
				var inFlight, peak atomic.Int64
				m := stream.Map(p, stream.FromSlice(p, seq(300)), func(_ context.Context, v int) (int, error) {
					n := inFlight.Add(1)
					defer inFlight.Add(-1)
					for {
						old := peak.Load()
						if n <= old || peak.CompareAndSwap(old, n) {
							break
						}
					}
					<-gate
					return v, nil
				}, stream.Name("ordered"), stream.Workers(workers), stream.Ordered())
				got := make(chan []int, 1)
				go func() {
					vs, err := stream.Collect(p, m)
					assert.NoError(t, err)
					got <- vs
				}()
				synctest.Wait()
				assert.Equal(t, int64(workers), inFlight.Load(), "calls in flight")
				st := statsOf(t, p, "ordered")
				assert.Equal(t, workers, st.Busy)
				assert.Equal(t, workers, st.Workers)
				close(gate)
				assert.Equal(t, seq(300), <-got)
				assert.Equal(t, int64(workers), peak.Load())
				assert.LessOrEqual(t, statsOf(t, p, "ordered").Busy, workers)
			})
		})
	}
}

// TestOrderedReportsLatency (issue 14, issue 17 bug 2): Ordered stages time
// their elements as unordered ones do.
func TestOrderedReportsLatency(t *testing.T) {
	p := stream.New(t.Context())
	m := stream.Map(p, stream.FromSlice(p, seq(9900)), func(_ context.Context, v int) (int, error) { return v, nil },
		stream.Name("map"), stream.Workers(8), stream.Ordered())
	f := stream.Filter(p, m, func(_ context.Context, v int) (bool, error) { return v%2 == 0, nil },
		stream.Name("filter"), stream.Workers(2), stream.Ordered())
	got, err := stream.Collect(p, f)
	require.NoError(t, err)
	assert.Len(t, got, 4950)
	for _, name := range []string{"map", "filter"} {
		st := statsOf(t, p, name)
		// Each worker's first element, then one in 64 per worker.
		assert.GreaterOrEqual(t, st.Latency.Samples, int64(9900/64-st.Workers), name)
		assert.Equal(t, int64(9900), st.In, name)
	}
}

// TestOrderedFaultsEndThePipeline: a panic, an error or runtime.Goexit in
// an Ordered FlatMap, whether its element is at the head (its worker owns
// the output) or behind it (its values wait in the window, or its emit
// waits for the head), ends the pipeline with the stage's error; values
// before the fault come out in order, and nothing hangs.
func TestOrderedFaultsEndThePipeline(t *testing.T) {
	faults := map[string]func() error{
		"panic":  func() error { panic("boom") },
		"error":  func() error { return errors.New("boom") },
		"goexit": func() error { runtime.Goexit(); return nil },
	}
	for name, fault := range faults {
		for _, at := range []int{0, 1, 5, 37} {
			for _, values := range []int{1, 3, 20} {
				t.Run(fmt.Sprintf("%s/at=%d/values=%d", name, at, values), func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) {
						p := stream.New(t.Context())
						out := stream.FlatMap(p, stream.FromSlice(p, seq(100)), func(_ context.Context, v int, emit func(int) error) error {
							time.Sleep(time.Duration(v%3) * time.Millisecond)
							for i := range values {
								if v == at && i == values/2 {
									return fault()
								}
								if err := emit(v*100 + i); err != nil {
									return err
								}
							}
							return nil
						}, stream.Workers(3), stream.Ordered())
						got, err := stream.Collect(p, out)
						require.Error(t, err)
						for i, v := range got {
							require.Equal(t, (i/values)*100+i%values, v, "value %d", i)
						}
						assert.LessOrEqual(t, len(got), at*values+values/2)
					})
				})
			}
		}
	}
}

// TestOrderedStopDropsNothing: elements an Ordered stage received in a run
// and never started when the pipeline is stopped are discarded, not drops
// (see "Drops" in the package doc).
func TestOrderedStopDropsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(t.Context())
		var drops atomic.Int64
		p.SetObserver(stream.ObserverFunc(func(e stream.Event) {
			if e.Kind == stream.ElementDropped {
				drops.Add(e.Count)
			}
		}))
		started := make(chan struct{})
		in := make(chan int, 100) // full: the workers take runs of 16
		for v := range 100 {
			in <- v
		}
		close(in)
		m := stream.Map(p, in, func(ctx context.Context, v int) (int, error) {
			if v == 5 { // in the middle of the first run
				close(started)
				<-ctx.Done()
			}
			return v, nil
		}, stream.Name("ordered"), stream.Workers(2), stream.Ordered())
		stream.ForEach(p, m, func(context.Context, int) error { return nil })
		<-started
		synctest.Wait() // the other worker has filled the window
		assert.Greater(t, statsOf(t, p, "ordered").In, int64(16), "runs received")
		p.Stop()
		require.NoError(t, p.Wait())
		assert.Zero(t, statsOf(t, p, "ordered").Dropped)
		assert.Zero(t, drops.Load())
	})
}
