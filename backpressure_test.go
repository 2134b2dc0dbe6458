package stream_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
)

func TestBufferOverflowPolicies(t *testing.T) {
	tests := []struct {
		give        stream.Overflow
		wantOut     []int
		wantDropped []int
		wantErr     error
	}{
		{give: stream.Block, wantOut: []int{1, 2, 3, 4, 5}},
		{give: stream.DropNewest, wantOut: []int{1, 2, 3}, wantDropped: []int{4, 5}},
		{give: stream.DropOldest, wantOut: []int{3, 4, 5}, wantDropped: []int{1, 2}},
		{give: stream.Fail, wantOut: []int{1, 2, 3}, wantErr: stream.ErrOverflow},
	}
	for _, tt := range tests {
		t.Run(tt.give.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := stream.New(t.Context())
				in := make(chan int)
				var dropped []int
				out := stream.Buffer(p, in, 3, tt.give, stream.Name("buf"), stream.OnDrop(func(v int) { dropped = append(dropped, v) }))
				go func() {
					defer close(in)
					for v := 1; v <= 5; v++ {
						select {
						case in <- v:
						case <-p.Context().Done():
							return
						}
					}
				}()
				synctest.Wait() // the buffer is full and the producer is done, blocked, or failed
				var got []int
				for v := range out {
					got = append(got, v)
				}
				err := p.Wait()
				if tt.wantErr != nil {
					require.ErrorIs(t, err, tt.wantErr)
					var se *stream.Error
					require.ErrorAs(t, err, &se)
					assert.Equal(t, "buf", se.Stage)
				} else {
					require.NoError(t, err)
				}
				assert.Equal(t, tt.wantOut, got)
				assert.Equal(t, tt.wantDropped, dropped)
				assert.Equal(t, int64(len(tt.wantDropped)), statsOf(t, p, "buf").Dropped)
			})
		})
	}
}

func TestBufferSizeOneKeepsTheLatest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(t.Context())
		out := stream.Buffer(p, stream.FromSlice(p, seq(100)), 1, stream.DropOldest)
		synctest.Wait()
		got, err := stream.Collect(p, out)
		require.NoError(t, err)
		assert.Equal(t, []int{99}, got)
	})
}

// TestBufferDropOldestMemoryFlatAndDropsExact is the must-show: a
// fast producer and a slow consumer through Buffer(1000, DropOldest) for 10
// million elements (fewer under -short or -race): the heap stays flat and
// drops = produced − consumed exactly.
func TestBufferDropOldestMemoryFlatAndDropsExact(t *testing.T) {
	n := 10_000_000
	if testing.Short() || raceEnabled {
		n = 300_000
	}
	p := stream.New(context.Background())
	src := stream.Generate(p, countTo(n), stream.Name("producer"))
	buf := stream.Buffer(p, src, 1000, stream.DropOldest, stream.Name("buffer"))
	var consumed atomic.Int64
	stream.ForEach(p, buf, func(_ context.Context, v int) error {
		consumed.Add(1)
		_ = spin(200) // slow consumer
		return nil
	})
	heap := sampleHeap(t)
	require.NoError(t, p.Wait())
	peak := heap()
	st := statsOf(t, p, "buffer")
	assert.Equal(t, int64(n), st.In, "produced")
	assert.Positive(t, st.Dropped)
	assert.Equal(t, st.In-consumed.Load(), st.Dropped, "drops = produced − consumed")
	t.Logf("%d produced, %d consumed, %d dropped; heap grew at most %d KiB", n, consumed.Load(), st.Dropped, peak>>10)
	assert.Less(t, peak, uint64(8<<20), "heap growth while streaming")
}

// sampleHeap samples the live heap every millisecond until the returned
// function is called, which returns the peak growth over the baseline.
func sampleHeap(t *testing.T) func() uint64 {
	t.Helper()
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base := read()
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if h := read(); h > base && h-base > peak {
				peak = h - base
			}
			select {
			case <-stop:
				done <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 { close(stop); return <-done }
}

func TestThrottle(t *testing.T) {
	t.Run("paces elements to the rate after the burst", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(t.Context())
			start := time.Now()
			var at []time.Duration
			stream.ForEach(p, stream.Throttle(p, stream.FromSlice(p, seq(6)), 5, 2), func(context.Context, int) error {
				at = append(at, time.Since(start))
				return nil
			})
			require.NoError(t, p.Wait())
			ms := time.Millisecond
			assert.Equal(t, []time.Duration{0, 0, 200 * ms, 400 * ms, 600 * ms, 800 * ms}, at)
		})
	})
	t.Run("a wait ends at once when the pipeline stops", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(t.Context())
			var got atomic.Int64
			stream.ForEach(p, stream.Throttle(p, stream.FromSlice(p, seq(3)), 1.0/3600, 1), func(context.Context, int) error {
				got.Add(1)
				return nil
			})
			require.NoError(t, waitEndsAtOnce(t, p, p.Stop), "without the hour passing")
			assert.Equal(t, int64(1), got.Load())
		})
	})
	t.Run("a wait longer than the deadline ends with the deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			p := stream.New(ctx)
			start := time.Now()
			_, err := stream.Collect(p, stream.Throttle(p, stream.FromSlice(p, seq(3)), 1.0/60, 1))
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Equal(t, time.Second, time.Since(start))
		})
	})
}

func TestTimeout(t *testing.T) {
	t.Run("each call gets its own deadline, cancelled when it returns", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(t.Context())
			var ctxs []context.Context
			var deadlines []time.Duration
			start := time.Now()
			out := stream.Map(p, stream.FromSlice(p, seq(3)), func(ctx context.Context, v int) (int, error) {
				ctxs = append(ctxs, ctx)
				d, ok := ctx.Deadline()
				require.True(t, ok)
				deadlines = append(deadlines, d.Sub(start))
				time.Sleep(time.Second)
				require.NoError(t, ctx.Err(), "the deadline is per call, not per stage")
				return v, nil
			}, stream.Timeout(5*time.Second))
			got, err := stream.Collect(p, out)
			require.NoError(t, err)
			assert.Equal(t, seq(3), got)
			assert.Equal(t, []time.Duration{5 * time.Second, 6 * time.Second, 7 * time.Second}, deadlines)
			for _, ctx := range ctxs {
				assert.ErrorIs(t, ctx.Err(), context.Canceled, "P15: the call's context is released when it returns")
			}
		})
	})
	t.Run("a call past its deadline fails its element", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(t.Context())
			out := stream.Map(p, stream.FromSlice(p, seq(3)), func(ctx context.Context, v int) (int, error) {
				if v == 1 {
					<-ctx.Done()
					return 0, ctx.Err()
				}
				return v, nil
			}, stream.Timeout(time.Second))
			_, err := stream.Collect(p, out)
			require.ErrorIs(t, err, context.DeadlineExceeded)
		})
	})
}

func TestRetry(t *testing.T) {
	errFlaky := errors.New("flaky")
	t.Run("succeeds on the third attempt with two retries counted", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(t.Context())
			calls := map[int]int{}
			var at []time.Duration
			start := time.Now()
			out := stream.Map(p, stream.FromSlice(p, []int{7}), func(_ context.Context, v int) (int, error) {
				calls[v]++
				at = append(at, time.Since(start))
				if calls[v] < 3 {
					return 0, errFlaky
				}
				return v * 2, nil
			}, stream.Retry(stream.RetryPolicy{Attempts: 3, Jitter: -1}), stream.Name("flaky"))
			got, err := stream.Collect(p, out)
			require.NoError(t, err)
			assert.Equal(t, []int{14}, got)
			assert.Equal(t, int64(2), statsOf(t, p, "flaky").Retried)
			assert.Equal(t, []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond}, at, "default backoff 100ms ×2")
		})
	})
	t.Run("gives up after Attempts calls", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(t.Context())
			var calls int
			stream.ForEach(p, stream.FromSlice(p, []int{1}), func(context.Context, int) error {
				calls++
				return errFlaky
			}, stream.Retry(stream.RetryPolicy{Attempts: 4, Initial: time.Second, Max: 2 * time.Second}), stream.Name("doomed"))
			start := time.Now()
			require.ErrorIs(t, p.Wait(), errFlaky)
			assert.Equal(t, 4, calls)
			assert.Equal(t, int64(3), statsOf(t, p, "doomed").Retried)
			elapsed := time.Since(start)
			// delays 1s, 2s, 2s (capped by Max), each within ±20% jitter
			assert.GreaterOrEqual(t, elapsed, 4*time.Second)
			assert.LessOrEqual(t, elapsed, 6*time.Second)
		})
	})
	t.Run("retries only what If accepts", func(t *testing.T) {
		p := stream.New(context.Background())
		var calls atomic.Int64
		stream.ForEach(p, stream.FromSlice(p, []int{1}), func(context.Context, int) error {
			calls.Add(1)
			return errFlaky
		}, stream.Retry(stream.RetryPolicy{If: func(err error) bool { return !errors.Is(err, errFlaky) }}))
		require.ErrorIs(t, p.Wait(), errFlaky)
		assert.Equal(t, int64(1), calls.Load())
	})
	t.Run("a panic is not retried", func(t *testing.T) {
		p := stream.New(context.Background())
		var calls atomic.Int64
		stream.ForEach(p, stream.FromSlice(p, []int{1}), func(context.Context, int) error {
			calls.Add(1)
			panic("bug")
		}, stream.Retry(stream.RetryPolicy{Attempts: 5, Initial: time.Nanosecond}))
		var pe *stream.PanicError
		require.ErrorAs(t, p.Wait(), &pe)
		assert.Equal(t, int64(1), calls.Load())
	})
	t.Run("cancellation ends the backoff at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(t.Context())
			stream.ForEach(p, stream.FromSlice(p, []int{1}), func(context.Context, int) error { return errFlaky },
				stream.Retry(stream.RetryPolicy{Attempts: 10, Initial: time.Hour}))
			require.NoError(t, waitEndsAtOnce(t, p, p.Stop), "without waiting out the backoff")
		})
	})
}

func TestOnError(t *testing.T) {
	errBad := errors.New("bad record")
	parse := func(_ context.Context, v int) (int, error) {
		if v%3 == 0 {
			return 0, fmt.Errorf("record %d: %w", v, errBad)
		}
		return v, nil
	}
	t.Run("nil skips the element, counted", func(t *testing.T) {
		p := stream.New(context.Background())
		var skipped []int
		out := stream.Map(p, stream.FromSlice(p, seq(10)), parse, stream.Name("parse"),
			stream.OnError(func(v int, err error) error {
				require.ErrorIs(t, err, errBad)
				skipped = append(skipped, v)
				return nil
			}))
		got, err := stream.Collect(p, out)
		require.NoError(t, err)
		assert.Equal(t, []int{1, 2, 4, 5, 7, 8}, got)
		assert.Equal(t, []int{0, 3, 6, 9}, skipped)
		st := statsOf(t, p, "parse")
		assert.Equal(t, int64(4), st.Errors)
		assert.Equal(t, int64(4), st.Skipped)
	})
	t.Run("keeps order with Ordered workers", func(t *testing.T) {
		p := stream.New(context.Background())
		out := stream.Map(p, stream.FromSlice(p, seq(300)), parse, stream.Workers(4), stream.Ordered(),
			stream.OnError(func(int, error) error { return nil }))
		got, err := stream.Collect(p, out)
		require.NoError(t, err)
		var want []int
		for v := range 300 {
			if v%3 != 0 {
				want = append(want, v)
			}
		}
		assert.Equal(t, want, got)
	})
	t.Run("an error fails the pipeline with it", func(t *testing.T) {
		errFatal := errors.New("fatal")
		p := stream.New(context.Background())
		out := stream.Map(p, stream.FromSlice(p, seq(10)), parse, stream.OnError(func(int, error) error { return errFatal }))
		_, err := stream.Collect(p, out)
		require.ErrorIs(t, err, errFatal)
	})
	t.Run("after the retries", func(t *testing.T) {
		p := stream.New(context.Background())
		var calls atomic.Int64
		stream.ForEach(p, stream.FromSlice(p, []int{1}), func(context.Context, int) error { calls.Add(1); return errBad },
			stream.Retry(stream.RetryPolicy{Attempts: 3, Initial: time.Nanosecond}),
			stream.OnError(func(int, error) error { return nil }))
		require.NoError(t, p.Wait())
		assert.Equal(t, int64(3), calls.Load())
	})
	t.Run("a handler for another type panics at construction", func(t *testing.T) {
		p := stream.New(context.Background())
		defer p.Wait()
		defer p.Stop()
		src := stream.FromSlice(p, seq(1))
		require.PanicsWithValue(t, "stream: map: OnError takes func(int, error) error, not func(string, error) error", func() {
			stream.Map(p, src, parse, stream.OnError(func(string, error) error { return nil }))
		})
		require.Panics(t, func() { stream.Buffer(p, src, 1, stream.DropNewest, stream.OnDrop(func(string) {})) })
	})
}

// TestAdaptiveWorkersConverge runs a simulated service whose latency grows
// with its load (10ms per call in flight) against a 35ms target: AIMD must
// settle around 3 concurrent calls, never above max, never below min.
func TestAdaptiveWorkersConverge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(t.Context())
		var inFlight atomic.Int64
		var limits []int
		service := func(context.Context, int) error {
			n := inFlight.Add(1)
			time.Sleep(time.Duration(n) * 10 * time.Millisecond)
			inFlight.Add(-1)
			return nil
		}
		stream.ForEach(p, stream.FromSlice(p, seq(3000)), service, stream.AdaptiveWorkers(1, 16, 35*time.Millisecond), stream.Name("svc"))
		done := make(chan struct{})
		go func() {
			defer close(done)
			for !statsOf(t, p, "svc").Done {
				limits = append(limits, statsOf(t, p, "svc").Limit)
				time.Sleep(50 * time.Millisecond)
			}
		}()
		require.NoError(t, p.Wait())
		<-done
		require.Greater(t, len(limits), 100)
		assert.Equal(t, 1, limits[0], "starts at min")
		steady := limits[len(limits)/2:]
		sum := 0
		for _, l := range steady {
			assert.GreaterOrEqual(t, l, 2)
			assert.LessOrEqual(t, l, 4)
			sum += l
		}
		mean := float64(sum) / float64(len(steady))
		t.Logf("steady-state limit: mean %.2f over %d samples: %v", mean, len(steady), steady)
		assert.InDelta(t, 3, mean, 0.75)
	})
}

func TestResilienceProgrammerErrors(t *testing.T) {
	p := stream.New(context.Background())
	defer p.Wait()
	defer p.Stop()
	src := func() <-chan int { return stream.FromSlice(p, seq(1)) }
	tests := []struct {
		name string
		call func()
	}{
		{"Buffer size 0", func() { stream.Buffer(p, src(), 0, stream.Block) }},
		{"Buffer unknown policy", func() { stream.Buffer(p, src(), 1, stream.Overflow(9)) }},
		{"Buffer with Capacity", func() { stream.Buffer(p, src(), 1, stream.Block, stream.Capacity(4)) }},
		{"Throttle zero rate", func() { stream.Throttle(p, src(), 0, 1) }},
		{"Throttle zero burst", func() { stream.Throttle(p, src(), 1, 0) }},
		{"Timeout zero", func() { stream.Timeout(0) }},
		{"Retry negative attempts", func() { stream.Retry(stream.RetryPolicy{Attempts: -1}) }},
		{"Retry multiplier below one", func() { stream.Retry(stream.RetryPolicy{Multiplier: 0.5}) }},
		{"Retry jitter above one", func() { stream.Retry(stream.RetryPolicy{Jitter: 2}) }},
		{"OnError nil", func() { stream.OnError[int](nil) }},
		{"OnDrop nil", func() { stream.OnDrop[int](nil) }},
		{"AdaptiveWorkers min 0", func() { stream.AdaptiveWorkers(0, 4, time.Second) }},
		{"AdaptiveWorkers max below min", func() { stream.AdaptiveWorkers(4, 2, time.Second) }},
		{"AdaptiveWorkers zero target", func() { stream.AdaptiveWorkers(1, 2, 0) }},
		{"AdaptiveWorkers with Ordered", func() {
			stream.Map(p, src(), double, stream.AdaptiveWorkers(1, 2, time.Second), stream.Ordered())
		}},
		{"Timeout on a source", func() { stream.FromSlice(p, seq(1), stream.Timeout(time.Second)) }},
		{"Retry on Take", func() { stream.Take(p, src(), 1, stream.Retry(stream.RetryPolicy{})) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				require.NotNil(t, r)
				assert.Regexp(t, `^stream: `, r)
			}()
			tt.call()
		})
	}
}

// TestQueueLengthShowsTheBottleneck (pitfall P17): a slow stage shows as a
// full queue upstream of it and an empty one downstream.
func TestQueueLengthShowsTheBottleneck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(t.Context())
		release := make(chan struct{})
		fast := stream.Map(p, stream.Generate(p, infinite(nil)), double, stream.Name("fast"), stream.Capacity(10))
		slow := stream.Map(p, fast, func(ctx context.Context, v int) (int, error) {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return v, nil
		}, stream.Name("slow"), stream.Capacity(10))
		stream.ForEach(p, slow, func(context.Context, int) error { return nil })
		synctest.Wait()
		assert.Equal(t, 10, statsOf(t, p, "fast").QueueLen, "full in front of the slow stage")
		assert.Equal(t, 0, statsOf(t, p, "slow").QueueLen)
		p.Stop()
		require.NoError(t, p.Wait())
	})
}
