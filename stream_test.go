package stream_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
)

func TestPipelineComputesAcrossStages(t *testing.T) {
	p := stream.New(context.Background())
	src := stream.FromSlice(p, seq(1000))
	doubled := stream.Map(p, src, double)
	big := stream.Filter(p, doubled, func(_ context.Context, v int) (bool, error) { return v >= 1000, nil })
	strs := stream.Map(p, big, func(_ context.Context, v int) (string, error) { return fmt.Sprint(v), nil })
	got, err := stream.Collect(p, strs)
	require.NoError(t, err)
	require.Len(t, got, 500)
	assert.Equal(t, "1000", got[0])
	assert.Equal(t, "1998", got[499])
}

func TestWaitResult(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name      string
		build     func(p *stream.Pipeline, cancel context.CancelFunc)
		wantNil   bool
		wantIs    error  // errors.Is target
		wantStage string // when the result is a *stream.Error
		wantPanic bool
	}{
		{
			name: "every stage finished returns nil",
			build: func(p *stream.Pipeline, _ context.CancelFunc) {
				stream.ForEach(p, stream.FromSlice(p, seq(10)), func(context.Context, int) error { return nil })
			},
			wantNil: true,
		},
		{
			name: "a failing function returns its error as *Error",
			build: func(p *stream.Pipeline, _ context.CancelFunc) {
				m := stream.Map(p, stream.Generate(p, infinite(nil)), func(_ context.Context, v int) (int, error) {
					if v == 5 {
						return 0, errBoom
					}
					return v, nil
				}, stream.Name("parse"))
				stream.ForEach(p, m, func(context.Context, int) error { return nil })
			},
			wantIs:    errBoom,
			wantStage: "parse",
		},
		{
			name: "a panicking function returns a *PanicError",
			build: func(p *stream.Pipeline, _ context.CancelFunc) {
				stream.ForEach(p, stream.Generate(p, infinite(nil)), func(_ context.Context, v int) error {
					if v == 3 {
						panic("bad element")
					}
					return nil
				})
			},
			wantStage: "foreach#2",
			wantPanic: true,
		},
		{
			name: "Stop returns nil",
			build: func(p *stream.Pipeline, _ context.CancelFunc) {
				stream.ForEach(p, stream.Generate(p, infinite(nil)), func(_ context.Context, v int) error {
					if v == 100 {
						p.Stop()
					}
					return nil
				})
			},
			wantNil: true,
		},
		{
			name: "the parent's end returns its error",
			build: func(p *stream.Pipeline, cancel context.CancelFunc) {
				stream.ForEach(p, stream.Generate(p, infinite(nil)), func(_ context.Context, v int) error {
					if v == 100 {
						cancel()
					}
					return nil
				})
			},
			wantIs: context.Canceled,
		},
		{
			name: "errors after the first are not reported instead of it",
			build: func(p *stream.Pipeline, _ context.CancelFunc) {
				in := stream.Generate(p, infinite(nil))
				stream.ForEach(p, in, func(ctx context.Context, v int) error {
					if v == 0 {
						return errBoom
					}
					<-ctx.Done()
					return errors.New("late error")
				}, stream.Workers(4))
				p.Go("late", func(ctx context.Context) error {
					<-ctx.Done()
					return fmt.Errorf("late: %w", ctx.Err())
				})
			},
			wantIs:    errBoom,
			wantStage: "foreach#2",
		},
		{
			name: "a custom stage's error is named after it",
			build: func(p *stream.Pipeline, _ context.CancelFunc) {
				p.Go("loader", func(context.Context) error { return errBoom })
			},
			wantIs:    errBoom,
			wantStage: "loader",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p := stream.New(ctx)
			tt.build(p, cancel)
			err := p.Wait()
			if tt.wantNil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			if tt.wantIs != nil {
				require.ErrorIs(t, err, tt.wantIs)
			}
			if tt.wantStage != "" {
				var se *stream.Error
				require.ErrorAs(t, err, &se)
				assert.Equal(t, tt.wantStage, se.Stage)
				assert.Equal(t, err, context.Cause(p.Context()), "the first error is the pipeline context's cause")
			}
			if tt.wantPanic {
				var pe *stream.PanicError
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, "bad element", pe.Value)
				assert.Contains(t, string(pe.Stack), "stream_test.TestWaitResult", "the stack shows where the panic happened")
			}
			again := p.Wait()
			assert.Equal(t, err, again, "a second Wait returns the same result")
		})
	}
}

func TestWaitReturnsNilWhenStagesFinishedBeforeTheParentEnded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		p := stream.New(ctx)
		var n atomic.Int64
		stream.ForEach(p, stream.FromSlice(p, seq(100)), func(context.Context, int) error { n.Add(1); return nil })
		synctest.Wait() // the stages finish on their own
		require.True(t, allDone(p))
		require.Equal(t, int64(100), n.Load())
		cancel() // only afterwards
		require.NoError(t, p.Wait())
	})
}

func allDone(p *stream.Pipeline) bool {
	for _, s := range p.Stats() {
		if !s.Done {
			return false
		}
	}
	return true
}

func TestWaitFromSeveralGoroutinesReturnsTheSameResult(t *testing.T) {
	errBoom := errors.New("boom")
	p := stream.New(context.Background())
	p.Go("fail", func(context.Context) error { return errBoom })
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = p.Wait() })
	}
	wg.Wait()
	for _, err := range errs {
		require.ErrorIs(t, err, errBoom)
		assert.Same(t, errs[0], err)
	}
}

func TestStopTwiceAndStopAfterWaitAreHarmless(t *testing.T) {
	p := stream.New(context.Background())
	stream.ForEach(p, stream.Generate(p, infinite(nil)), func(context.Context, int) error { return nil })
	p.Stop()
	p.Stop()
	require.NoError(t, p.Wait())
	p.Stop()
	require.ErrorIs(t, context.Cause(p.Context()), stream.ErrStopped)
}

func TestAlreadyCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := stream.New(ctx)
	var calls atomic.Int64
	got, err := stream.Collect(p, stream.Map(p, stream.Generate(p, infinite(nil)), func(_ context.Context, v int) (int, error) {
		calls.Add(1)
		return v, nil
	}))
	require.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, got)
	assert.Zero(t, calls.Load(), "no element is processed under a cancelled context")
}

func TestEmptyPipelineWaitReturnsNil(t *testing.T) {
	require.NoError(t, stream.New(context.Background()).Wait())
}

func TestRun(t *testing.T) {
	errBuild := errors.New("bad config")
	t.Run("returns the pipeline's result", func(t *testing.T) {
		var sum int
		err := stream.Run(context.Background(), func(p *stream.Pipeline) error {
			stream.ForEach(p, stream.FromSlice(p, seq(10)), func(_ context.Context, v int) error { sum += v; return nil })
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, 45, sum)
	})
	t.Run("returns a build error as is after every stage exited", func(t *testing.T) {
		stopped := make(chan struct{})
		err := stream.Run(context.Background(), func(p *stream.Pipeline) error {
			stream.ForEach(p, stream.Generate(p, infinite(stopped)), func(context.Context, int) error { return nil })
			return errBuild
		})
		require.Same(t, errBuild, err)
		select {
		case <-stopped:
		default:
			t.Fatal("Run returned before its source stopped")
		}
	})
	t.Run("a build error is the context's cause", func(t *testing.T) {
		var p *stream.Pipeline
		_ = stream.Run(context.Background(), func(pp *stream.Pipeline) error { p = pp; return errBuild })
		require.ErrorIs(t, context.Cause(p.Context()), errBuild)
	})
	t.Run("a build panic stops the pipeline then panics again", func(t *testing.T) {
		stopped := make(chan struct{})
		require.PanicsWithValue(t, "wiring bug", func() {
			_ = stream.Run(context.Background(), func(p *stream.Pipeline) error {
				stream.ForEach(p, stream.Generate(p, infinite(stopped)), func(context.Context, int) error { return nil })
				panic("wiring bug")
			})
		})
		select {
		case <-stopped:
		default:
			t.Fatal("the panic escaped before the source stopped")
		}
	})
}

// TestEndsPromptly shows that each way of ending a pipeline stops an
// infinite source and every stage without any time passing: synctest.Wait
// returns once every goroutine in the bubble is blocked or gone, and by then
// Wait has returned.
func TestEndsPromptly(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name   string
		end    func(p *stream.Pipeline, cancel context.CancelFunc, fail chan<- error)
		wantIs error
	}{
		{"parent cancelled", func(_ *stream.Pipeline, cancel context.CancelFunc, _ chan<- error) { cancel() }, context.Canceled},
		{"Stop", func(p *stream.Pipeline, _ context.CancelFunc, _ chan<- error) { p.Stop() }, nil},
		{"a function fails", func(_ *stream.Pipeline, _ context.CancelFunc, fail chan<- error) { fail <- errBoom }, errBoom},
		{"a function panics", func(_ *stream.Pipeline, _ context.CancelFunc, fail chan<- error) { fail <- nil }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				p := stream.New(ctx)
				fail := make(chan error)
				stopped := make(chan struct{})
				c := stream.Generate(p, infinite(stopped))
				for range 3 {
					c = stream.Map(p, c, double, stream.Workers(2))
				}
				// The sink blocks on its first element until it is told to
				// fail or its context ends, so the buffers fill and every
				// goroutine blocks: the pipeline is quiet but alive.
				stream.ForEach(p, c, func(ctx context.Context, _ int) error {
					select {
					case err := <-fail:
						if err == nil {
							panic("boom")
						}
						return err
					case <-ctx.Done():
						return ctx.Err()
					}
				})
				err := waitEndsAtOnce(t, p, func() { go tt.end(p, cancel, fail) })
				<-stopped
				switch {
				case tt.wantIs != nil:
					require.ErrorIs(t, err, tt.wantIs)
				case tt.name == "a function panics":
					var pe *stream.PanicError
					require.ErrorAs(t, err, &pe)
				default:
					require.NoError(t, err)
				}
			})
		})
	}
}

func TestProgrammerErrorsPanic(t *testing.T) {
	ctx := context.Background()
	live := stream.New(ctx)
	defer live.Stop()
	used := stream.FromSlice(live, seq(3))
	stream.ForEach(live, used, func(context.Context, int) error { return nil })
	waited := stream.New(ctx)
	require.NoError(t, waited.Wait())
	var nilCh <-chan int
	inc := func(_ context.Context, v int) (int, error) { return v, nil }

	tests := []struct {
		name string
		call func()
	}{
		{"New with a nil context", func() { var nilCtx context.Context; stream.New(nilCtx) }},
		{"a nil pipeline", func() { stream.FromSlice[int](nil, nil) }},
		{"Map with a nil function", func() { stream.Map[int, int](live, stream.FromSlice(live, seq(1)), nil) }},
		{"Map with a nil input", func() { stream.Map(live, nilCh, inc) }},
		{"Filter with a nil function", func() { stream.Filter(live, stream.FromSlice(live, seq(1)), nil) }},
		{"FlatMap with a nil function", func() { stream.FlatMap[int, int](live, stream.FromSlice(live, seq(1)), nil) }},
		{"ForEach with a nil function", func() { stream.ForEach(live, stream.FromSlice(live, seq(1)), nil) }},
		{"Reduce with a nil function", func() { stream.Reduce[int, int](live, stream.FromSlice(live, seq(1)), 0, nil) }},
		{"Collect with a nil input", func() { _, _ = stream.Collect(live, nilCh) }},
		{"Generate with a nil function", func() { stream.Generate[int](live, nil) }},
		{"FromSeq with a nil sequence", func() { stream.FromSeq[int](live, nil) }},
		{"FromSeq2 with a nil sequence", func() { stream.FromSeq2[int](live, nil) }},
		{"Tick with a zero interval", func() { stream.Tick(live, 0) }},
		{"Go with a nil function", func() { live.Go("x", nil) }},
		{"Run with a nil build", func() { _ = stream.Run(ctx, nil) }},
		{"Workers(0)", func() { stream.Workers(0) }},
		{"Capacity(-1)", func() { stream.Capacity(-1) }},
		{"an empty Name", func() { stream.Name("") }},
		{"a nil Option", func() { stream.FromSlice(live, seq(1), nil) }},
		{"Workers on a source", func() { stream.FromSlice(live, seq(1), stream.Workers(2)) }},
		{"a channel consumed by two stages", func() { stream.Map(live, used, inc) }},
		{"a stage added after Wait returned", func() { stream.FromSlice(waited, seq(1)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				require.NotNil(t, r, "no panic")
				msg, ok := r.(string)
				require.True(t, ok, "panic value %T is a string", r)
				assert.Regexp(t, `^stream: `, msg)
			}()
			tt.call()
		})
	}
}

func TestConsumedTwicePanicNamesTheStages(t *testing.T) {
	p := stream.New(context.Background())
	defer p.Wait()
	defer p.Stop()
	src := stream.FromSlice(p, seq(1), stream.Name("numbers"))
	stream.ForEach(p, src, func(context.Context, int) error { return nil }, stream.Name("printer"))
	require.PanicsWithValue(t,
		"stream: map: channel made by numbers is already consumed by printer; use FanOut or Broadcast to feed several stages",
		func() { stream.Map(p, src, double) })
}

func TestSources(t *testing.T) {
	tests := []struct {
		name  string
		build func(p *stream.Pipeline) <-chan int
		want  []int
	}{
		{"FromSlice", func(p *stream.Pipeline) <-chan int { return stream.FromSlice(p, seq(5)) }, seq(5)},
		{"FromSlice of nil", func(p *stream.Pipeline) <-chan int { return stream.FromSlice[int](p, nil) }, nil},
		{"FromSeq", func(p *stream.Pipeline) <-chan int { return stream.FromSeq(p, slices.Values(seq(5))) }, seq(5)},
		{"FromSeq2 without error", func(p *stream.Pipeline) <-chan int {
			return stream.FromSeq2(p, func(yield func(int, error) bool) {
				for i := range 3 {
					if !yield(i, nil) {
						return
					}
				}
			})
		}, seq(3)},
		{"Generate", func(p *stream.Pipeline) <-chan int {
			return stream.Generate(p, func(_ context.Context, emit func(int) error) error {
				for i := range 4 {
					if err := emit(i); err != nil {
						return err
					}
				}
				return nil
			})
		}, seq(4)},
		{"Generate emitting nothing", func(p *stream.Pipeline) <-chan int {
			return stream.Generate(p, func(context.Context, func(int) error) error { return nil })
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := stream.New(context.Background())
			got, err := stream.Collect(p, tt.build(p))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSourceErrors(t *testing.T) {
	errRead := errors.New("read failed")
	t.Run("FromSeq2 stops at the first error", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			got, err := stream.Collect(p, stream.FromSeq2(p, func(yield func(int, error) bool) {
				if !yield(1, nil) {
					return
				}
				synctest.Wait() // until Collect has read 1
				_ = yield(0, errRead) && yield(2, nil)
			}))
			require.ErrorIs(t, err, errRead)
			assert.Equal(t, []int{1}, got)
		})
	})
	t.Run("Generate's error", func(t *testing.T) {
		p := stream.New(context.Background())
		_, err := stream.Collect(p, stream.Generate(p, func(context.Context, func(int) error) error { return errRead }))
		require.ErrorIs(t, err, errRead)
	})
	t.Run("a panicking sequence", func(t *testing.T) {
		p := stream.New(context.Background())
		_, err := stream.Collect(p, stream.FromSeq(p, func(func(int) bool) { panic("iterator bug") }))
		var pe *stream.PanicError
		require.ErrorAs(t, err, &pe)
	})
}

// TestFromSeqStopsIteratingWhenReleased checks that yield returns false, so
// the iterator's own cleanup (its defer) runs.
func TestFromSeqStopsIteratingWhenReleased(t *testing.T) {
	var cleaned atomic.Bool
	var naturals iter.Seq[int] = func(yield func(int) bool) {
		defer cleaned.Store(true)
		for i := 0; ; i++ {
			if !yield(i) {
				return
			}
		}
	}
	p := stream.New(context.Background())
	v, err := stream.First(p, stream.FromSeq(p, naturals))
	require.NoError(t, err)
	assert.Equal(t, 0, v)
	assert.True(t, cleaned.Load())
}

func TestTick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(t.Context())
		start := time.Now()
		ticks := stream.Tick(p, time.Second, stream.Name("clock"), stream.Capacity(0))
		var got []time.Duration
		next := func() { got = append(got, (<-ticks).Sub(start)) }
		next()
		next()
		next()
		// A slow consumer: the stage holds tick 4 and the ticker tick 5,
		// ticks 6 to 8 are dropped and counted.
		time.Sleep(5500 * time.Millisecond)
		next()
		next()
		next()
		p.Stop()
		require.NoError(t, p.Wait())
		want := []time.Duration{1, 2, 3, 4, 5, 9}
		for i := range want {
			want[i] *= time.Second
		}
		assert.Equal(t, want, got)
		assert.Equal(t, int64(3), statsOf(t, p, "clock").Dropped)
	})
}

func TestSinks(t *testing.T) {
	t.Run("Reduce folds in order", func(t *testing.T) {
		p := stream.New(context.Background())
		got, err := stream.Reduce(p, stream.FromSlice(p, []string{"a", "b", "c"}), ">", func(acc, s string) string { return acc + s })
		require.NoError(t, err)
		assert.Equal(t, ">abc", got)
	})
	t.Run("Reduce of nothing returns init", func(t *testing.T) {
		p := stream.New(context.Background())
		got, err := stream.Reduce(p, stream.FromSlice[int](p, nil), 7, func(a, v int) int { return a + v })
		require.NoError(t, err)
		assert.Equal(t, 7, got)
	})
	t.Run("First of nothing is ErrEmpty", func(t *testing.T) {
		p := stream.New(context.Background())
		_, err := stream.First(p, stream.FromSlice[int](p, nil))
		require.ErrorIs(t, err, stream.ErrEmpty)
	})
	t.Run("Drain counts what it read", func(t *testing.T) {
		p := stream.New(context.Background())
		require.NoError(t, stream.Drain(p, stream.FromSlice(p, seq(42))))
		assert.Equal(t, int64(42), statsOf(t, p, "drain#2").In)
	})
	t.Run("Collect returns what it read with the error", func(t *testing.T) {
		errBoom := errors.New("boom")
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			got, err := stream.Collect(p, stream.Generate(p, func(_ context.Context, emit func(int) error) error {
				for i := range 3 {
					if err := emit(i); err != nil {
						return err
					}
				}
				synctest.Wait() // until Collect has read all three
				return errBoom
			}))
			require.ErrorIs(t, err, errBoom)
			assert.Equal(t, seq(3), got)
		})
	})
	t.Run("ForEach with workers sees every element once", func(t *testing.T) {
		p := stream.New(context.Background())
		var mu sync.Mutex
		seen := map[int]int{}
		stream.ForEach(p, stream.FromSlice(p, seq(1000)), func(_ context.Context, v int) error {
			mu.Lock()
			seen[v]++
			mu.Unlock()
			return nil
		}, stream.Workers(4))
		require.NoError(t, p.Wait())
		require.Len(t, seen, 1000)
		for v, n := range seen {
			require.Equal(t, 1, n, "element %d", v)
		}
	})
}

func TestFlatMap(t *testing.T) {
	p := stream.New(context.Background())
	words := stream.FromSlice(p, []string{"a b", "", "c d e"})
	split := stream.FlatMap(p, words, func(_ context.Context, s string, emit func(string) error) error {
		for _, r := range s {
			if r != ' ' {
				if err := emit(string(r)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	got, err := stream.Collect(p, split)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "c", "d", "e"}, got)
}

// TestWorkersRunConcurrently shows that Workers(n) really has n calls in
// flight: every call waits until all n have started.
func TestWorkersRunConcurrently(t *testing.T) {
	for _, n := range []int{1, 2, 4, 8} {
		t.Run(fmt.Sprintf("workers=%d", n), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := stream.New(t.Context())
				var inFlight, peak atomic.Int64
				out := stream.Map(p, stream.FromSlice(p, seq(10*n)), func(ctx context.Context, v int) (int, error) {
					cur := inFlight.Add(1)
					for {
						old := peak.Load()
						if cur <= old || peak.CompareAndSwap(old, cur) {
							break
						}
					}
					time.Sleep(time.Millisecond) // fake time: every worker gets here before any returns
					inFlight.Add(-1)
					return v, nil
				}, stream.Workers(n))
				got, err := stream.Collect(p, out)
				require.NoError(t, err)
				slices.Sort(got)
				assert.Equal(t, seq(10*n), got)
				assert.Equal(t, int64(n), peak.Load())
			})
		})
	}
}

// TestFirstReleasesOnlyItsBranch: First on an infinite branch stops that
// branch's source, while an independent branch runs to its end.
func TestFirstReleasesOnlyItsBranch(t *testing.T) {
	p := stream.New(context.Background())
	var other atomic.Int64
	stream.ForEach(p, stream.FromSlice(p, seq(10_000)), func(context.Context, int) error {
		other.Add(1)
		return nil
	})
	stopped := make(chan struct{})
	c := stream.Generate(p, infinite(stopped))
	c = stream.Map(p, c, double)
	c = stream.Filter(p, c, func(_ context.Context, v int) (bool, error) { return v > 10, nil })
	v, err := stream.First(p, c)
	require.NoError(t, err)
	assert.Equal(t, 12, v)
	<-stopped
	assert.Equal(t, int64(10_000), other.Load(), "the other branch ran to its end")
}

func TestStatsAndDefaultNames(t *testing.T) {
	p := stream.New(context.Background())
	src := stream.FromSlice(p, seq(100))
	m := stream.Map(p, src, double, stream.Workers(3))
	f := stream.Filter(p, m, func(_ context.Context, v int) (bool, error) { return v%4 == 0, nil }, stream.Name("quarter"))
	require.NoError(t, stream.Drain(p, f))
	stats := p.Stats()
	require.Len(t, stats, 4)
	want := []struct {
		name, kind string
		workers    int
		in, out    int64
	}{
		{"slice#1", "slice", 1, 0, 100},
		{"map#2", "map", 3, 100, 100},
		{"quarter", "filter", 1, 100, 50},
		{"drain#4", "drain", 1, 50, 0},
	}
	for i, w := range want {
		s := stats[i]
		assert.Equal(t, w.name, s.Name)
		assert.Equal(t, w.kind, s.Kind)
		assert.Equal(t, w.workers, s.Workers)
		assert.Equal(t, w.in, s.In, s.Name)
		assert.Equal(t, w.out, s.Out, s.Name)
		assert.True(t, s.Done, s.Name)
		assert.Zero(t, s.QueueLen, s.Name)
	}
	assert.Equal(t, stream.DefaultCapacity, stats[0].QueueCap)
	assert.Zero(t, stats[3].QueueCap, "a sink has no output")
}

func TestGraph(t *testing.T) {
	p := stream.New(context.Background())
	src := stream.FromSlice(p, seq(3), stream.Name("numbers"), stream.Capacity(8))
	m := stream.Map(p, src, double, stream.Workers(2))
	_ = stream.Filter(p, m, func(context.Context, int) (bool, error) { return true, nil }, stream.Name(`say "hi"`))
	defer p.Wait()
	defer p.Stop()
	want := `flowchart LR
    s1["numbers<br/><small>slice</small>"]
    s2["map#2<br/><small>map ×2</small>"]
    s3["say #34;hi#34;<br/><small>filter</small>"]
    s1 -->|8| s2
    s2 -->|64| s3
    s3 -->|64| caller
    caller([caller])
`
	assert.Equal(t, want, p.Graph())
}

func TestCapacityZeroIsUnbuffered(t *testing.T) {
	p := stream.New(context.Background())
	got, err := stream.Collect(p, stream.Map(p, stream.FromSlice(p, seq(100), stream.Capacity(0)), double, stream.Capacity(0)))
	require.NoError(t, err)
	assert.Len(t, got, 100)
	assert.Zero(t, p.Stats()[0].QueueCap)
}

// TestTenStagesMillionElements is the foundation's load test: ten stages, a
// million elements, every one accounted for, under -race and goleak.
func TestTenStagesMillionElements(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	p := stream.New(context.Background())
	c := stream.Generate(p, func(_ context.Context, emit func(int) error) error {
		for i := range n {
			if err := emit(i); err != nil {
				return err
			}
		}
		return nil
	})
	for i := range 8 {
		c = stream.Map(p, c, func(_ context.Context, v int) (int, error) { return v + 1, nil }, stream.Workers(1+i%3))
	}
	sum, err := stream.Reduce(p, c, 0, func(acc, v int) int { return acc + v })
	require.NoError(t, err)
	assert.Equal(t, n*(n-1)/2+8*n, sum)
	require.Len(t, p.Stats(), 10)
	for _, s := range p.Stats()[1:] {
		assert.Equal(t, int64(n), s.In, s.Name)
	}
}

// TestStatsAndGraphWhileStagesAreAdded: Stats and Graph may be called from a
// monitoring goroutine at any time, even while the pipeline is being built.
func TestStatsAndGraphWhileStagesAreAdded(t *testing.T) {
	p := stream.New(context.Background())
	stop := make(chan struct{})
	polled := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				polled <- n
				return
			default:
				_ = p.Stats()
				_ = p.Graph()
				n++
			}
		}
	}()
	for range 200 {
		stream.ForEach(p, stream.Map(p, stream.FromSlice(p, seq(3)), double), func(context.Context, int) error { return nil })
	}
	require.NoError(t, p.Wait())
	close(stop)
	assert.Positive(t, <-polled)
	assert.Len(t, p.Stats(), 600)
}

// TestAddingStagesWhileWaitRunsNeverCrashes: a stage added concurrently with
// Wait either runs (and Wait waits for it) or panics with the documented
// message in the goroutine that added it; the process never dies of a
// WaitGroup misuse inside Wait.
func TestAddingStagesWhileWaitRunsNeverCrashes(t *testing.T) {
	for range 300 {
		p := stream.New(context.Background())
		var ran atomic.Int64
		waited := waitAsync(p)
		added := 0
		for range 20 {
			func() {
				defer func() {
					if r := recover(); r != nil {
						require.Regexp(t, `^stream: .* after Wait was called$`, r)
					}
				}()
				stream.ForEach(p, stream.FromSlice(p, seq(1)), func(context.Context, int) error { ran.Add(1); return nil })
				added++
			}()
		}
		require.NoError(t, <-waited)
		require.NoError(t, p.Wait())
		assert.LessOrEqual(t, ran.Load(), int64(added), "no stage ran unowned")
	}
}

func TestStageNamesAreUnique(t *testing.T) {
	p := stream.New(context.Background())
	defer p.Wait()
	defer p.Stop()
	src := stream.FromSlice(p, seq(3), stream.Name("parse"))
	require.PanicsWithValue(t, `stream: map: a stage is already named "parse"`, func() {
		stream.Map(p, src, double, stream.Name("parse"))
	})
	other := stream.FromSlice(p, seq(3)) // named slice#2 by default
	require.Panics(t, func() { stream.Map(p, src, double, stream.Name("slice#2")) }, "default names are taken too")
	stream.ForEach(p, stream.Merge(p, []<-chan int{src, other}), func(context.Context, int) error { return nil })
}
