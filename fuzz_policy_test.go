package stream_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
)

// Fuzz targets for the numeric parameters of Tick, Timeout, Retry and
// AdaptiveWorkers (issue 17), in the manner of fuzz_test.go: an invalid
// value panics at once with a "stream: " message; any valid value, however
// extreme, builds a stage that ends when the pipeline is stopped; and a
// valid value reduced to a range that runs quickly in fake time gives the
// promised behaviour, with no hang (a bound of fake time without the
// result) and no goroutine left (the synctest bubble fails).

// startAndStop builds a pipeline with build, lets it run until every
// goroutine blocks, stops it and requires that it ends, with no error or
// one that errors.Is allowed: any valid parameter gives a stage that ends.
func startAndStop(t *testing.T, allowed error, build func(p *stream.Pipeline)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(context.Background())
		build(p)
		synctest.Wait()
		p.Stop()
		done := waitAsync(p)
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		select {
		case err := <-done:
			if err != nil && (allowed == nil || !errors.Is(err, allowed)) {
				t.Fatalf("Wait: %v", err)
			}
		case <-timer.C:
			t.Fatal("hang: the stopped pipeline did not end")
		}
	})
}

// collectBefore is collectWithin with a bound of fake time of the caller's
// choosing.
func collectBefore[T any](t *testing.T, p *stream.Pipeline, out <-chan T, bound time.Duration) ([]T, error) {
	t.Helper()
	type result struct {
		got []T
		err error
	}
	done := make(chan result, 1)
	go func() {
		got, err := stream.Collect(p, out)
		done <- result{got, err}
	}()
	timer := time.NewTimer(bound)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.got, r.err
	case <-timer.C:
		p.Stop()
		<-done
		t.Fatalf("hang: Collect did not return within %v of fake time", bound)
		return nil, nil
	}
}

// reduce maps any duration to one in [1ns, limit].
func reduce(d time.Duration, limit time.Duration) time.Duration {
	return 1 + time.Duration(uint64(d)%uint64(limit))
}

func FuzzTick(f *testing.F) {
	f.Add(int64(time.Second), uint8(5), uint8(0))
	f.Add(int64(1), uint8(20), uint8(3))
	f.Add(int64(time.Millisecond), uint8(10), uint8(7))
	f.Add(int64(math.MaxInt64), uint8(1), uint8(1))
	f.Add(int64(3*time.Hour), uint8(3), uint8(2))
	f.Add(int64(0), uint8(1), uint8(0))  // every 0
	f.Add(int64(-1), uint8(1), uint8(0)) // every < 0
	f.Add(int64(math.MinInt64), uint8(1), uint8(0))
	f.Fuzz(func(t *testing.T, everyNs int64, n, slow uint8) {
		every := time.Duration(everyNs)
		if every <= 0 {
			fuzzPanicsAt(t, func(p *stream.Pipeline) { stream.Tick(p, every) })
			return
		}
		startAndStop(t, nil, func(p *stream.Pipeline) { stream.Tick(p, every) })

		// n ticks of an interval up to an hour, read by a consumer that
		// takes slow intervals per tick: ticks are on the interval's
		// grid, in order, and every tick missed between two delivered ones
		// is counted as dropped.
		every, n = reduce(every, time.Hour), 1+n%20
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			start := time.Now()
			ticks := stream.Tick(p, every, stream.Name("tick"), stream.Capacity(0))
			slowed := stream.Map(p, stream.Take(p, ticks, int(n), stream.Capacity(0)), func(ctx context.Context, tick time.Time) (time.Time, error) {
				napCtx(ctx, time.Duration(slow%4)*every)
				return tick, nil
			}, stream.Capacity(0))
			got, err := collectBefore(t, p, slowed, time.Duration(n+2)*5*every+time.Hour)
			require.NoError(t, err)
			require.Len(t, got, int(n))
			var gaps int64
			for i, tick := range got {
				since := tick.Sub(start)
				require.Zero(t, since%every, "tick %d at %v is not on the grid of %v", i, since, every)
				if i == 0 {
					require.Equal(t, every, since, "the first tick comes after one interval")
					continue
				}
				require.Greater(t, tick, got[i-1], "tick %d", i)
				gaps += int64(tick.Sub(got[i-1])/every) - 1
			}
			require.GreaterOrEqual(t, statsOf(t, p, "tick").Dropped, gaps, "every missed tick is counted")
		})
	})
}

func FuzzTimeout(f *testing.F) {
	f.Add(int64(time.Second), uint8(10), uint8(1), false)
	f.Add(int64(1), uint8(5), uint8(2), true)
	f.Add(int64(math.MaxInt64), uint8(3), uint8(3), false)
	f.Add(int64(7*time.Millisecond), uint8(30), uint8(4), true)
	f.Add(int64(0), uint8(1), uint8(1), false)  // d = 0
	f.Add(int64(-5), uint8(1), uint8(1), false) // d < 0
	f.Fuzz(func(t *testing.T, dNs int64, n, workers uint8, skip bool) {
		d := time.Duration(dNs)
		if d <= 0 {
			wantStreamPanic(t, func() { stream.Timeout(d) })
			return
		}
		startAndStop(t, nil, func(p *stream.Pipeline) {
			stream.ForEach(p, stream.Map(p, stream.FromSlice(p, seq(3)), double, stream.Timeout(d)), pitfallIgnore)
		})

		// Element v's call takes (v%3)·d/2: 0 and d/2 are within the
		// deadline, d would tie with it, so the third call waits 2d, and
		// must see its context end at d. Each call's deadline is d after
		// its start (the pipeline has none).
		d, n, workers = reduce(d, time.Hour), n%30, 1+workers%4
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			var mu sync.Mutex
			var late []int
			opts := []stream.Option{stream.Timeout(d), stream.Workers(int(workers)), stream.Name("timed")}
			if skip {
				opts = append(opts, stream.OnError(func(v int, err error) error {
					if !errors.Is(err, context.DeadlineExceeded) {
						return err
					}
					mu.Lock()
					late = append(late, v)
					mu.Unlock()
					return nil
				}))
			}
			out := stream.Map(p, stream.FromSlice(p, seq(int(n))), func(ctx context.Context, v int) (int, error) {
				start := time.Now()
				deadline, ok := ctx.Deadline()
				if !ok || deadline.Sub(start) != d {
					return 0, errors.New("the call's deadline is not d after its start")
				}
				wait := time.Duration(v%3) * d / 2
				if v%3 == 2 {
					wait = 2 * d
				}
				napCtx(ctx, wait)
				if err := ctx.Err(); err != nil {
					if v%3 != 2 || time.Since(start) != d {
						return 0, errors.New("the call's context ended at the wrong time")
					}
					return 0, err
				}
				return v, nil
			}, opts...)
			got, err := collectBefore(t, p, out, time.Duration(n+1)*2*d+time.Hour)
			var want, wantLate []int
			for v := range int(n) {
				if v%3 == 2 {
					wantLate = append(wantLate, v)
				} else {
					want = append(want, v)
				}
			}
			slices.Sort(got)
			switch {
			case len(wantLate) == 0:
				require.NoError(t, err)
				requireInts(t, want, got)
			case skip:
				require.NoError(t, err)
				requireInts(t, want, got)
				slices.Sort(late)
				requireInts(t, wantLate, late)
				assert.EqualValues(t, len(wantLate), statsOf(t, p, "timed").Skipped)
			default:
				require.ErrorIs(t, err, context.DeadlineExceeded)
				var se *stream.Error
				require.ErrorAs(t, err, &se)
				require.Equal(t, "timed", se.Stage)
			}
		})
	})
}

func FuzzRetry(f *testing.F) {
	f.Add(0, int64(0), int64(0), 0.0, 0.0, uint8(2), uint8(3), true)
	f.Add(3, int64(time.Millisecond), int64(time.Second), 2.0, -1.0, uint8(2), uint8(2), true)
	f.Add(5, int64(time.Second), int64(time.Millisecond), 1.0, 1.0, uint8(9), uint8(1), true)
	f.Add(1, int64(1), int64(1), 1.5, 0.5, uint8(1), uint8(4), false)
	f.Add(4, int64(time.Millisecond), int64(0), 3.0, 0.0, uint8(2), uint8(3), false)
	f.Add(math.MaxInt, int64(math.MaxInt64), int64(math.MaxInt64), math.MaxFloat64, 1.0, uint8(4), uint8(2), true)
	f.Add(10, int64(time.Hour), int64(0), 1e300, 0.2, uint8(6), uint8(1), true)
	f.Add(2, int64(0), int64(0), math.Inf(1), 0.0, uint8(1), uint8(1), true)  // Multiplier +Inf
	f.Add(-1, int64(0), int64(0), 0.0, 0.0, uint8(1), uint8(1), true)         // Attempts < 0
	f.Add(2, int64(-1), int64(0), 0.0, 0.0, uint8(1), uint8(1), true)         // Initial < 0
	f.Add(2, int64(0), int64(-1), 0.0, 0.0, uint8(1), uint8(1), true)         // Max < 0
	f.Add(2, int64(0), int64(0), 0.5, 0.0, uint8(1), uint8(1), true)          // Multiplier < 1
	f.Add(2, int64(0), int64(0), -3.0, 0.0, uint8(1), uint8(1), true)         // Multiplier < 0
	f.Add(2, int64(0), int64(0), 0.0, 1.5, uint8(1), uint8(1), true)          // Jitter > 1
	f.Add(2, int64(0), int64(0), math.NaN(), 0.0, uint8(1), uint8(1), true)   // Multiplier NaN
	f.Add(2, int64(0), int64(0), 0.0, math.NaN(), uint8(1), uint8(1), true)   // Jitter NaN
	f.Add(2, int64(0), int64(0), 0.0, math.Inf(1), uint8(1), uint8(1), true)  // Jitter +Inf
	f.Add(2, int64(0), int64(0), 0.0, math.Inf(-1), uint8(1), uint8(1), true) // Jitter -Inf: none
	f.Fuzz(func(t *testing.T, attempts int, initialNs, maxNs int64, multiplier, jitter float64, failures, n uint8, retryable bool) {
		r := stream.RetryPolicy{
			Attempts: attempts, Initial: time.Duration(initialNs), Max: time.Duration(maxNs),
			Multiplier: multiplier, Jitter: jitter,
		}
		if attempts < 0 || initialNs < 0 || maxNs < 0 || math.IsInf(multiplier, 0) ||
			multiplier != 0 && !(multiplier >= 1) || !(jitter <= 1) {
			wantStreamPanic(t, func() { stream.Retry(r) })
			return
		}
		startAndStop(t, errFuzz, func(p *stream.Pipeline) {
			always := func(context.Context, int) (int, error) { return 0, errFuzz }
			stream.ForEach(p, stream.Map(p, stream.FromSlice(p, seq(3)), always, stream.Retry(r)), pitfallIgnore)
		})

		// The function fails the first `failures` calls of each element
		// (with an error If says is worth retrying, or not), then succeeds.
		// Attempts is capped so that a run is short; the delays are at
		// most an hour.
		r.Attempts = min(r.Attempts, 12)
		if r.Initial != 0 {
			r.Initial = reduce(r.Initial, time.Hour)
		}
		if r.Max != 0 {
			r.Max = reduce(r.Max, time.Hour)
		}
		r.If = func(err error) bool { return retryable }
		effAttempts, effMax := r.Attempts, r.Max
		if effAttempts == 0 {
			effAttempts = 3
		}
		if effMax == 0 {
			effMax = 10 * time.Second
		}
		failures, n = failures%12, 1+n%5
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			var mu sync.Mutex
			calls := make(map[int][]time.Time)
			out := stream.Map(p, stream.FromSlice(p, seq(int(n))), func(_ context.Context, v int) (int, error) {
				mu.Lock()
				defer mu.Unlock()
				calls[v] = append(calls[v], time.Now())
				if len(calls[v]) <= int(failures) {
					return 0, errFuzz
				}
				return v, nil
			}, stream.Retry(r), stream.Workers(2), stream.Name("retried"))
			got, err := collectBefore(t, p, out, time.Duration(int(n)*effAttempts+1)*2*effMax+time.Hour)
			st := statsOf(t, p, "retried")
			tries := int(failures) + 1 // calls an element needs
			if !retryable {
				tries = min(tries, 1)
			}
			if tries > effAttempts || !retryable && failures > 0 {
				require.ErrorIs(t, err, errFuzz, "an element fails after its attempts")
			} else {
				require.NoError(t, err)
				slices.Sort(got)
				requireInts(t, seq(int(n)), got)
				assert.EqualValues(t, int(n)*int(failures), st.Retried)
			}
			for v, times := range calls {
				require.LessOrEqual(t, len(times), effAttempts, "element %d: at most Attempts calls", v)
				if !retryable {
					require.Len(t, times, 1, "element %d: an error If rejects is not retried", v)
				}
				for i := 1; i < len(times); i++ {
					gap := times[i].Sub(times[i-1])
					require.GreaterOrEqual(t, gap, time.Duration(0))
					require.LessOrEqual(t, gap, effMax, "element %d: delay %d above Max", v, i)
				}
			}
		})
	})
}

func FuzzAdaptiveWorkers(f *testing.F) {
	f.Add(1, 4, int64(10*time.Millisecond), uint8(100), uint8(1))
	f.Add(1, 1, int64(1), uint8(10), uint8(0))
	f.Add(3, 16, int64(time.Millisecond), uint8(200), uint8(5))
	f.Add(2, 8, int64(math.MaxInt64), uint8(50), uint8(9))
	f.Add(4, 8, int64(4500*time.Microsecond), uint8(200), uint8(1)) // grows to 5, then shrinks
	f.Add(1, 1<<16, int64(time.Second), uint8(20), uint8(2))
	f.Add(1, 1<<16+1, int64(time.Second), uint8(20), uint8(2)) // max too large
	f.Add(1, math.MaxInt, int64(time.Second), uint8(20), uint8(2))
	f.Add(0, 4, int64(time.Second), uint8(1), uint8(1)) // min 0
	f.Add(5, 4, int64(time.Second), uint8(1), uint8(1)) // max < min
	f.Add(1, 4, int64(0), uint8(1), uint8(1))           // target 0
	f.Add(1, 4, int64(-1), uint8(1), uint8(1))          // target < 0
	f.Add(-3, -1, int64(-1), uint8(1), uint8(1))        // all of them
	f.Add(math.MinInt, 4, int64(time.Second), uint8(1), uint8(1))
	f.Fuzz(func(t *testing.T, lo, hi int, targetNs int64, n, cost uint8) {
		target := time.Duration(targetNs)
		const maxWorkers = 1 << 16 // what a stage may start (see the package doc)
		if lo < 1 || hi < lo || target <= 0 || hi > maxWorkers {
			wantStreamPanic(t, func() { stream.AdaptiveWorkers(lo, hi, target) })
			return
		}
		startAndStop(t, nil, func(p *stream.Pipeline) {
			stream.ForEach(p, stream.FromSlice(p, seq(3)), pitfallIgnore, stream.AdaptiveWorkers(lo, hi, target))
		})

		// A service whose latency grows with the calls in flight (cost ms
		// each): the limit stays within [min, max], so do the calls in
		// flight, and every element is handled once. max is capped (the
		// stage runs max goroutines), the target reduced to a second.
		if hi > 16 {
			lo, hi = min(1+(lo-1)%16, 16), 16
		}
		opt := stream.AdaptiveWorkers(lo, hi, reduce(target, time.Second))
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			var calls peakCounter
			var mu sync.Mutex
			var limits []int
			out := stream.Map(p, stream.FromSlice(p, seq(int(n))), func(ctx context.Context, v int) (int, error) {
				calls.enter()
				defer calls.leave()
				l := statsOf(t, p, "svc").Limit
				mu.Lock()
				limits = append(limits, l)
				mu.Unlock()
				napCtx(ctx, time.Duration(calls.cur.Load())*time.Duration(cost%10)*time.Millisecond)
				return v, nil
			}, opt, stream.Name("svc"))
			got, err := collectBefore(t, p, out, time.Duration(n)*time.Duration(hi)*10*time.Millisecond+time.Hour)
			require.NoError(t, err)
			slices.Sort(got)
			requireInts(t, seq(int(n)), got)
			st := statsOf(t, p, "svc")
			require.Equal(t, hi, st.Workers)
			require.LessOrEqual(t, calls.peak.Load(), int64(hi), "calls in flight")
			for _, l := range append(limits, st.Limit) {
				require.GreaterOrEqual(t, l, lo, "limit below min")
				require.LessOrEqual(t, l, hi, "limit above max")
			}
		})
	})
}

// fuzzPanicsAt checks that build panics with a "stream: " message on a
// pipeline, which still ends.
func fuzzPanicsAt(t *testing.T, build func(p *stream.Pipeline)) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(context.Background())
		defer p.Wait()
		defer p.Stop()
		wantStreamPanic(t, func() { build(p) })
	})
}

// napCtx waits for d of (fake) time or until ctx is done.
func napCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}

var errFuzz = errors.New("fuzz: failing call")

func FuzzIdle(f *testing.F) {
	f.Add(int64(time.Second))
	f.Add(int64(1))
	f.Add(int64(time.Minute))
	f.Add(int64(3 * time.Minute))
	f.Add(int64(math.MaxInt64))
	f.Add(int64(0))  // d = 0
	f.Add(int64(-1)) // d < 0
	f.Fuzz(func(t *testing.T, dNs int64) {
		d := time.Duration(dNs)
		if d <= 0 {
			wantStreamPanic(t, func() { stream.Idle(d) })
			return
		}
		at := func(v int) time.Time { return time.Unix(int64(v), 0) }
		sum := func(a, v int) int { return a + v }
		key := func(int) int { return 0 }
		startAndStop(t, nil, func(p *stream.Pipeline) {
			in := make(chan int)
			go func() { in <- 0 }() // one element, then the input stays open
			panes := stream.WindowReduce(p, in, stream.Tumbling(time.Minute), key, 0, sum, stream.EventTime(at, 0), stream.Idle(d))
			stream.ForEach(p, panes, pitfallIgnore)
		})

		// One element at event time 0 and a quiet input: once quiet for d,
		// event time follows the clock, so the window [0, 1m) closes at
		// max(d, 1m) after the element, to the nanosecond of fake time.
		d = reduce(d, time.Hour)
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			in := make(chan int)
			panes := stream.WindowReduce(p, in, stream.Tumbling(time.Minute), key, 0, sum, stream.EventTime(at, 0), stream.Idle(d))
			start := time.Now()
			in <- 0
			timer := time.NewTimer(2 * time.Hour)
			defer timer.Stop()
			select {
			case pane := <-panes:
				require.Equal(t, max(d, time.Minute), time.Since(start), "the pane closes once event time, following the clock, passes its end")
				require.Equal(t, 1, pane.Count)
				require.False(t, pane.Early)
			case <-timer.C:
				t.Fatalf("Idle(%v): the quiet window never closed", d)
			}
			close(in)
			waitWithin(t, p)
		})
	})
}
