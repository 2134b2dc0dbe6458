package stream_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
)

// Fuzz targets for the operators with numeric parameters (issue 8). Each
// checks, for any parameters, the invariants of TestRandomPipelines: invalid
// values panic at once with a "stream: " message; valid ones give every
// element exactly once, in the order the operator promises, with no hang
// (detected in a synctest bubble: an hour of fake time without the result)
// and no goroutine left (the bubble fails). Without -fuzz they run their seed
// corpus as ordinary tests; search for counterexamples with, e.g.,
//
//	go test -run '^$' -fuzz '^FuzzBuffer$' -fuzztime 30s .
//
// Sizes are reduced modulo small bounds so that every input runs quickly.

// FuzzRandomPipeline runs the random pipeline of TestRandomPipelines for a
// fuzzed seed.
func FuzzRandomPipeline(f *testing.F) {
	for _, seed := range []uint64{0, 1, 3, 7, 42, 49, 1 << 40, math.MaxUint64} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		var tally randomTally
		if msg := runRandomSeed(seed, t, &tally); msg != "" {
			t.Fatal(msg)
		}
	})
}

func FuzzMap(f *testing.F) {
	f.Add(4, 2, true, 100, uint8(3))
	f.Add(1, 0, false, 0, uint8(0))
	f.Add(6, 0, false, 257, uint8(1))
	f.Add(64, 64, true, 300, uint8(7))
	f.Add(0, 1, false, 10, uint8(1))          // Workers(0)
	f.Add(3, -1, true, 10, uint8(1))          // Capacity(-1)
	f.Add(-5, 3, false, -9, uint8(2))         // Workers(-5)
	f.Add(1<<16+1, 1, false, 1, uint8(0))     // Workers too large
	f.Add(math.MaxInt, 1, true, 1, uint8(0))  // Workers(math.MaxInt)
	f.Add(2, 1<<30+1, false, 1, uint8(0))     // Capacity too large
	f.Add(2, math.MaxInt, false, 1, uint8(0)) // Capacity(math.MaxInt)
	f.Fuzz(func(t *testing.T, workers, capacity int, ordered bool, n int, slow uint8) {
		if workers < 1 {
			wantStreamPanic(t, func() { stream.Workers(workers) })
			return
		}
		if capacity < 0 {
			wantStreamPanic(t, func() { stream.Capacity(capacity) })
			return
		}
		// Sizes beyond what a stage may allocate panic, at the option.
		if workers > fuzzMaxWorkers {
			wantStreamPanic(t, func() { stream.Workers(workers) })
			return
		}
		if capacity > fuzzMaxCapacity {
			wantStreamPanic(t, func() { stream.Capacity(capacity) })
			return
		}
		workers, capacity, n = min(workers, 64), min(capacity, 1024), fuzzLen(n)
		opts := []stream.Option{stream.Workers(workers), stream.Capacity(capacity)}
		if ordered {
			opts = append(opts, stream.Ordered())
		}
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			out := stream.Map(p, stream.FromSlice(p, seq(n)), func(ctx context.Context, v int) (int, error) {
				fuzzNap(ctx, v, slow)
				return 2 * v, nil
			}, opts...)
			got, err := collectWithin(t, p, out)
			require.NoError(t, err)
			want := make([]int, n)
			for i := range want {
				want[i] = 2 * i
			}
			if !ordered && workers > 1 {
				slices.Sort(got)
			}
			requireInts(t, want, got)
		})
	})
}

func FuzzBatch(f *testing.F) {
	f.Add(3, 0, 10, 1, false)
	f.Add(1, 2, 50, 4, true)
	f.Add(7, -3, 100, 3, false)
	f.Add(1000, 5, 300, 2, true)
	f.Add(4, 1, 0, 1, false)
	f.Add(0, 1, 10, 1, false)  // size 0
	f.Add(-2, 1, 10, 1, false) // size -2
	f.Add(math.MaxInt, 1, 10, 1, false)
	f.Fuzz(func(t *testing.T, size, waitMs, n, workers int, ordered bool) {
		if size < 1 {
			synctest.Test(t, func(t *testing.T) {
				p := stream.New(context.Background())
				defer p.Wait()
				defer p.Stop()
				wantStreamPanic(t, func() { stream.Batch(p, stream.FromSlice(p, seq(1)), size, 0) })
			})
			return
		}
		// Any size, however large, builds a stage that batches and ends
		// (it does not allocate size up front).
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			got, err := collectWithin(t, p, stream.Batch(p, stream.FromSlice(p, seq(3)), size, 0))
			require.NoError(t, err)
			require.Equal(t, seq(3), slices.Concat(got...))
		})
		size, n = min(size, 1024), fuzzLen(n)
		maxWait := time.Duration(waitMs%1000) * time.Millisecond
		workers = 1 + int(uint(workers)%8)
		flatOpts := []stream.Option{stream.Workers(workers)}
		if ordered {
			flatOpts = append(flatOpts, stream.Ordered())
		}
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			// Elements arrive with gaps, so that maxWait sometimes expires.
			src := stream.Generate(p, func(ctx context.Context, emit func(int) error) error {
				for v := range n {
					fuzzNap(ctx, v, 3)
					if err := emit(v); err != nil {
						return err
					}
				}
				return nil
			})
			var mu sync.Mutex
			var batches [][]int
			probed := stream.Map(p, stream.Batch(p, src, size, maxWait), func(_ context.Context, b []int) ([]int, error) {
				mu.Lock()
				batches = append(batches, slices.Clone(b))
				mu.Unlock()
				return b, nil
			})
			got, err := collectWithin(t, p, stream.Flatten(p, probed, flatOpts...))
			require.NoError(t, err)
			// Batch keeps order and loses nothing; without maxWait only the
			// last batch may be partial.
			requireInts(t, seq(n), slices.Concat(batches...))
			for i, b := range batches {
				require.NotEmpty(t, b, "batch %d", i)
				require.LessOrEqual(t, len(b), size, "batch %d", i)
				if maxWait <= 0 && i < len(batches)-1 {
					require.Len(t, b, size, "batch %d of %d without maxWait", i, len(batches))
				}
			}
			if !ordered && workers > 1 {
				slices.Sort(got)
			}
			requireInts(t, seq(n), got)
		})
	})
}

func FuzzTake(f *testing.F) {
	f.Add(10, 3, 1, false)
	f.Add(10, 30, 4, false)
	f.Add(0, 0, 1, true)
	f.Add(100, 100, 6, false)
	f.Add(5, 7, 2, true)
	f.Add(5, -1, 1, false) // Take(-1)
	f.Fuzz(func(t *testing.T, n, k, workers int, endless bool) {
		if k < 0 {
			synctest.Test(t, func(t *testing.T) {
				p := stream.New(context.Background())
				defer p.Wait()
				defer p.Stop()
				wantStreamPanic(t, func() { stream.Take(p, stream.FromSlice(p, seq(1)), k) })
			})
			return
		}
		n, k, workers = fuzzLen(n), fuzzLen(k), 1+int(uint(workers)%8)
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			var src <-chan int
			if endless {
				src = stream.Generate(p, infinite(nil))
			} else {
				src = stream.FromSlice(p, seq(n))
			}
			mapped := stream.Map(p, src, func(ctx context.Context, v int) (int, error) {
				fuzzNap(ctx, v, 5)
				return v, nil
			}, stream.Workers(workers))
			got, err := collectWithin(t, p, stream.Take(p, mapped, k))
			require.NoError(t, err, "the infinite source, if any, was released and stopped")
			want := k
			if !endless {
				want = min(k, n)
			}
			require.Len(t, got, want)
			if workers == 1 {
				requireInts(t, seq(want), got, "one worker keeps the order: the first k")
				return
			}
			slices.Sort(got)
			require.Equal(t, len(got), len(slices.Compact(slices.Clone(got))), "no element twice: %v", got)
		})
	})
}

func FuzzFanOut(f *testing.F) {
	f.Add(100, 3, 1, uint8(0))
	f.Add(0, 1, 0, uint8(1))
	f.Add(300, 32, 8, uint8(5))
	f.Add(50, 2, 0, uint8(1))
	f.Add(10, 0, 1, uint8(0))  // n = 0
	f.Add(10, -1, 1, uint8(0)) // n = -1
	f.Add(10, math.MaxInt, 1, uint8(0))
	f.Fuzz(func(t *testing.T, n, outs, capacity int, slow uint8) {
		if outs < 1 || outs > fuzzMaxWorkers {
			fuzzPanicsOnSplit(t, func(p *stream.Pipeline, in <-chan int) { stream.FanOut(p, in, outs) })
			return
		}
		n, outs, capacity = fuzzLen(n), min(outs, 32), int(uint(capacity)%64)
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			got := fuzzConsumeAll(p, stream.FanOut(p, stream.FromSlice(p, seq(n)), outs, stream.Capacity(capacity)), slow)
			waitWithin(t, p)
			var all []int
			for i, g := range got {
				require.True(t, increasing(g), "output %d keeps the input order, each element once: %v", i, g)
				all = append(all, g...)
			}
			slices.Sort(all)
			requireInts(t, seq(n), all, "every element reaches exactly one output")
		})
	})
}

func FuzzBroadcast(f *testing.F) {
	f.Add(100, 3, 1, uint8(0))
	f.Add(0, 1, 0, uint8(1))
	f.Add(200, 16, 8, uint8(5))
	f.Add(10, 0, 1, uint8(0)) // n = 0
	f.Add(10, 1<<16+1, 1, uint8(0))
	f.Fuzz(func(t *testing.T, n, outs, capacity int, slow uint8) {
		if outs < 1 || outs > fuzzMaxWorkers {
			fuzzPanicsOnSplit(t, func(p *stream.Pipeline, in <-chan int) { stream.Broadcast(p, in, outs) })
			return
		}
		n, outs, capacity = fuzzLen(n), min(outs, 16), int(uint(capacity)%64)
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			got := fuzzConsumeAll(p, stream.Broadcast(p, stream.FromSlice(p, seq(n)), outs, stream.Capacity(capacity)), slow)
			waitWithin(t, p)
			for i, g := range got {
				requireInts(t, seq(n), g, "output %d gets every element in order", i)
			}
		})
	})
}

func FuzzPartition(f *testing.F) {
	f.Add(100, 3, 5, 1, uint8(0))
	f.Add(0, 1, 1, 0, uint8(1))
	f.Add(300, 32, 64, 8, uint8(5))
	f.Add(50, 4, 1, 0, uint8(2))
	f.Add(10, 0, 3, 1, uint8(0)) // n = 0
	f.Add(10, math.MaxInt, 3, 1, uint8(0))
	f.Fuzz(func(t *testing.T, n, outs, keys, capacity int, slow uint8) {
		if outs < 1 || outs > fuzzMaxWorkers {
			fuzzPanicsOnSplit(t, func(p *stream.Pipeline, in <-chan int) {
				stream.Partition(p, in, outs, func(v int) int { return v })
			})
			return
		}
		n, outs, capacity = fuzzLen(n), min(outs, 32), int(uint(capacity)%64)
		keys = 1 + int(uint(keys)%64)
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			parts := stream.Partition(p, stream.FromSlice(p, seq(n)), outs, func(v int) int { return v % keys }, stream.Capacity(capacity))
			got := fuzzConsumeAll(p, parts, slow)
			waitWithin(t, p)
			owner := map[int]int{}
			var all []int
			for i, g := range got {
				require.True(t, increasing(g), "output %d keeps the input order, each element once: %v", i, g)
				for _, v := range g {
					if o, ok := owner[v%keys]; ok {
						require.Equal(t, o, i, "key %d reached outputs %d and %d", v%keys, o, i)
					}
					owner[v%keys] = i
				}
				all = append(all, g...)
			}
			slices.Sort(all)
			requireInts(t, seq(n), all)
		})
	})
}

func FuzzMerge(f *testing.F) {
	f.Add(3, 10, 1)
	f.Add(0, 10, 0)
	f.Add(1, 0, 4)
	f.Add(16, 300, 8)
	f.Fuzz(func(t *testing.T, k, n, capacity int) {
		k, n, capacity = int(uint(k)%17), fuzzLen(n), int(uint(capacity)%64)
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			ins := make([]<-chan int, k)
			var want []int
			for i := range ins {
				vs := make([]int, (n+7*i)%(n+1))
				for j := range vs {
					vs[j] = i*1000 + j
				}
				want = append(want, vs...)
				ins[i] = stream.FromSlice(p, vs)
			}
			got, err := collectWithin(t, p, stream.Merge(p, ins, stream.Capacity(capacity)))
			require.NoError(t, err)
			for i := range ins {
				var mine []int
				for _, v := range got {
					if v/1000 == i {
						mine = append(mine, v)
					}
				}
				require.True(t, increasing(mine), "input %d keeps its order", i)
			}
			slices.Sort(got)
			slices.Sort(want)
			requireInts(t, want, got)
		})
	})
}

func FuzzBuffer(f *testing.F) {
	f.Add(4, int(stream.Block), 100, uint8(3))
	f.Add(1, int(stream.DropNewest), 50, uint8(1))
	f.Add(3, int(stream.DropOldest), 200, uint8(2))
	f.Add(2, int(stream.Fail), 100, uint8(1))
	f.Add(1000, int(stream.Fail), 300, uint8(0))
	f.Add(0, int(stream.Block), 10, uint8(0))  // size 0
	f.Add(-1, int(stream.Block), 10, uint8(0)) // size -1
	f.Add(2, -1, 10, uint8(0))                 // unknown policy
	f.Add(2, 4, 10, uint8(0))                  // unknown policy
	f.Add(math.MaxInt, int(stream.Block), 10, uint8(0))
	f.Fuzz(func(t *testing.T, size, policy, n int, slow uint8) {
		overflow := stream.Overflow(policy)
		if size < 1 || size > fuzzMaxCapacity || overflow < stream.Block || overflow > stream.Fail {
			synctest.Test(t, func(t *testing.T) {
				p := stream.New(context.Background())
				defer p.Wait()
				defer p.Stop()
				wantStreamPanic(t, func() { stream.Buffer(p, stream.FromSlice(p, seq(1)), size, overflow) })
			})
			return
		}
		size, n = min(size, 1024), fuzzLen(n)
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			var mu sync.Mutex
			var dropped []int
			buf := stream.Buffer(p, stream.FromSlice(p, seq(n)), size, overflow, stream.Name("buffer"), stream.OnDrop(func(v int) {
				mu.Lock()
				dropped = append(dropped, v)
				mu.Unlock()
			}))
			slowed := stream.Map(p, buf, func(ctx context.Context, v int) (int, error) {
				fuzzNap(ctx, v, slow)
				return v, nil
			}, stream.Capacity(0))
			got, err := collectWithin(t, p, slowed)
			require.True(t, increasing(got), "a Buffer keeps the order and delivers each element once: %v", got)
			switch overflow {
			case stream.Fail:
				if err != nil {
					require.ErrorIs(t, err, stream.ErrOverflow)
					require.Empty(t, dropped)
					require.Subset(t, seq(n), got)
					return
				}
				fallthrough
			case stream.Block:
				require.NoError(t, err)
				requireInts(t, seq(n), got)
				require.Empty(t, dropped)
			default:
				require.NoError(t, err)
				all := slices.Concat(got, dropped)
				slices.Sort(all)
				requireInts(t, seq(n), all, "every element is either delivered or dropped, once")
				require.EqualValues(t, len(dropped), statsOf(t, p, "buffer").Dropped, "every drop is counted")
			}
		})
	})
}

func FuzzThrottle(f *testing.F) {
	f.Add(100.0, 1, 20)
	f.Add(1e6, 10, 300)
	f.Add(0.5, 3, 5)
	f.Add(7.25, 2, 40)
	f.Add(0.00625, 3, 74)    // once took longer than the hang detector allows
	f.Add(0.0, 1, 10)        // rate 0
	f.Add(-1.0, 1, 10)       // negative rate
	f.Add(math.Inf(1), 1, 1) // infinite rate
	f.Add(math.NaN(), 1, 1)  // NaN
	f.Add(10.0, 0, 10)       // burst 0
	f.Fuzz(func(t *testing.T, perSecond float64, burst, n int) {
		if !(perSecond > 0) || math.IsInf(perSecond, 0) || burst < 1 {
			synctest.Test(t, func(t *testing.T) {
				p := stream.New(context.Background())
				defer p.Wait()
				defer p.Stop()
				wantStreamPanic(t, func() { stream.Throttle(p, stream.FromSlice(p, seq(1)), perSecond, burst) })
			})
			return
		}
		// At most 1000 s of fake time for 100 elements: well within the
		// hour after which collectWithin reports a hang.
		perSecond = max(perSecond, 0.1)
		burst, n = min(burst, 1000), int(uint(n)%101)
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			start := time.Now()
			var last time.Time
			out := stream.Map(p, stream.Throttle(p, stream.FromSlice(p, seq(n)), perSecond, burst), func(_ context.Context, v int) (int, error) {
				last = time.Now() // one worker: no race
				return v, nil
			})
			got, err := collectWithin(t, p, out)
			require.NoError(t, err)
			requireInts(t, seq(n), got)
			// A token bucket lets through burst elements at once, then
			// perSecond per second: the last one cannot pass sooner.
			if extra := n - burst; extra > 0 {
				least := time.Duration(float64(extra) / perSecond * float64(time.Second))
				require.GreaterOrEqual(t, last.Sub(start), least-time.Millisecond, "%d elements at %g/s with burst %d", n, perSecond, burst)
			}
		})
	})
}

// The largest Workers (and outputs of FanOut, Broadcast, Partition) and
// Capacity (and Buffer size) a stage accepts: beyond, they panic (see the
// package doc's "Programmer errors").
const (
	fuzzMaxWorkers  = 1 << 16
	fuzzMaxCapacity = 1 << 30
)

// fuzzLen maps any int to a stream length in [0, 300].
func fuzzLen(n int) int { return int(uint(n) % 301) }

// fuzzNap sleeps a few milliseconds of fake time on some elements, so that
// workers finish out of order and buffers fill.
func fuzzNap(ctx context.Context, v int, slow uint8) {
	if slow == 0 || v%int(slow) != 0 {
		return
	}
	timer := time.NewTimer(time.Duration(v%5+1) * time.Millisecond)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}

// fuzzConsumeAll reads each output with a ForEach of its own, the one at
// index slow (mod len) being slow, and returns what each received.
func fuzzConsumeAll(p *stream.Pipeline, outs []<-chan int, slow uint8) [][]int {
	got := make([][]int, len(outs))
	for i, out := range outs {
		stream.ForEach(p, out, func(ctx context.Context, v int) error {
			if i == int(slow)%len(outs) {
				fuzzNap(ctx, v, 1)
			}
			got[i] = append(got[i], v) // one worker: no race
			return nil
		})
	}
	return got
}

// fuzzPanicsOnSplit checks that split panics with a "stream: " message and
// leaves a pipeline that still ends.
func fuzzPanicsOnSplit(t *testing.T, split func(p *stream.Pipeline, in <-chan int)) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(context.Background())
		defer p.Wait()
		defer p.Stop()
		wantStreamPanic(t, func() { split(p, stream.FromSlice(p, seq(1))) })
	})
}

func wantStreamPanic(t *testing.T, f func()) {
	t.Helper()
	r := catchPanic(f)
	require.NotNil(t, r, "want a panic")
	require.True(t, strings.HasPrefix(fmt.Sprint(r), "stream: "), "panic %q does not start with \"stream: \"", r)
}

// collectWithin collects out, failing the test if the pipeline blocks for
// good: an hour of fake time passes without the result.
func collectWithin[T any](t *testing.T, p *stream.Pipeline, out <-chan T) ([]T, error) {
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
	select {
	case r := <-done:
		return r.got, r.err
	case <-time.After(time.Hour):
		p.Stop()
		t.Fatal("hang: Collect did not return")
		return nil, nil
	}
}

// waitWithin waits for p like collectWithin, and requires a nil error.
func waitWithin(t *testing.T, p *stream.Pipeline) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(time.Hour):
		p.Stop()
		t.Fatal("hang: Wait did not return")
	}
}

// increasing reports whether vs is strictly increasing: in order, and no
// element twice.
func increasing(vs []int) bool {
	for i := 1; i < len(vs); i++ {
		if vs[i] <= vs[i-1] {
			return false
		}
	}
	return true
}

// requireInts requires equal int slices, nil and empty being equal.
func requireInts(t *testing.T, want, got []int, msgAndArgs ...any) {
	t.Helper()
	if len(want) == 0 && len(got) == 0 {
		return
	}
	require.Equal(t, want, got, msgAndArgs...)
}
