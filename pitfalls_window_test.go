package stream_test

import (
	"context"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
)

// Pitfall tests (docs/pitfalls.md) for the stream-processing operators: each
// fails if the operator loses the guarantee the entry names.

// TestPitfall_P01_StreamOperatorsConsumerStopsReading: nobody reads the
// operator's output(s), so it blocks on a full output (or, for a window,
// holds its panes and a timer); Stop must end it at once.
func TestPitfall_P01_StreamOperatorsConsumerStopsReading(t *testing.T) {
	sum := func(acc, v int) int { return acc + v }
	mod := func(v int) int { return v % 7 }
	ops := []struct {
		name string
		add  func(p *stream.Pipeline, in <-chan int)
	}{
		{"Scan", func(p *stream.Pipeline, in <-chan int) { stream.Scan(p, in, 0, sum) }},
		{"Distinct", func(p *stream.Pipeline, in <-chan int) { stream.Distinct(p, in, func(v int) int { return v }, 5) }},
		{"Split", func(p *stream.Pipeline, in <-chan int) {
			stream.Split(p, in, func(_ context.Context, v int) (bool, error) { return v%2 == 0, nil })
		}},
		{"Zip", func(p *stream.Pipeline, in <-chan int) {
			stream.Zip(p, in, stream.Generate(p, infinite(nil)))
		}},
		{"WindowReduce processing time", func(p *stream.Pipeline, in <-chan int) {
			stream.WindowReduce(p, in, stream.Tumbling(time.Millisecond), mod, 0, sum, stream.Capacity(0))
		}},
		{"WindowReduce event time, Idle", func(p *stream.Pipeline, in <-chan int) {
			stream.WindowReduce(p, in, stream.Sliding(time.Second, time.Millisecond), mod, 0, sum,
				stream.EventTime(func(v int) time.Time { return epoch.Add(time.Duration(v) * time.Millisecond) }, 0),
				stream.Idle(time.Millisecond))
		}},
		{"Debounce", func(p *stream.Pipeline, in <-chan int) {
			stream.Debounce(p, in, time.Millisecond/2, stream.Capacity(0))
		}},
		{"WindowReduce session", func(p *stream.Pipeline, in <-chan int) {
			stream.WindowReduce(p, in, stream.Session(time.Millisecond), mod, 0, sum)
		}},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				stopped := make(chan struct{})
				p := stream.New(context.Background())
				// A source that emits every millisecond, forever.
				src := stream.Generate(p, func(ctx context.Context, emit func(int) error) error {
					defer close(stopped)
					for i := 0; ; i++ {
						if err := emit(i); err != nil {
							return err
						}
						if !sleepCtx(ctx, time.Millisecond) {
							return ctx.Err()
						}
					}
				})
				op.add(p, src)
				time.Sleep(time.Second) // every buffer fills
				require.NoError(t, waitEndsAtOnce(t, p, p.Stop))
				<-stopped
			})
		})
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// TestPitfall_P07_KeyedStateBounded: a stream of ever new keys must not
// grow a window's open panes or Distinct's memory without bound. With
// MaxPanes(100) over 200,000 distinct keys every pane beyond the bound goes
// early, counted; and the peak heap of 200,000 keys is within 2 MB of the
// peak of 2,000 keys, for WindowReduce and for Distinct.
func TestPitfall_P07_KeyedStateBounded(t *testing.T) {
	const bound = 100
	window := func(p *stream.Pipeline, in <-chan int) <-chan int {
		panes := stream.WindowReduce(p, in, stream.Tumbling(time.Hour), func(v int) int { return v }, 0,
			func(acc, v int) int { return acc + 1 }, stream.MaxPanes(bound), stream.Name("bounded"))
		return stream.Map(p, panes, func(_ context.Context, pn stream.Pane[int, int]) (int, error) { return pn.Count, nil })
	}
	distinct := func(p *stream.Pipeline, in <-chan int) <-chan int {
		return stream.Distinct(p, in, func(v int) int { return v }, bound, stream.Name("bounded"))
	}
	for name, op := range map[string]func(*stream.Pipeline, <-chan int) <-chan int{"WindowReduce": window, "Distinct": distinct} {
		t.Run(name, func(t *testing.T) {
			n := 200_000
			if raceEnabled || testing.Short() {
				n = 20_000
			}
			peak := func(n int) (uint64, stream.StageStats) {
				runtime.GC()
				sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
				var peak uint64
				p := stream.New(context.Background())
				src := stream.Generate(p, func(_ context.Context, emit func(int) error) error {
					for i := range n {
						if i%1000 == 0 {
							metrics.Read(sample)
							peak = max(peak, sample[0].Value.Uint64())
						}
						if err := emit(i); err != nil {
							return err
						}
					}
					return nil
				})
				count, err := stream.Count(p, op(p, src))
				require.NoError(t, err)
				require.Equal(t, n, count, "every key once")
				return peak, statsOf(t, p, "bounded")
			}
			small, _ := peak(n / 100)
			big, st := peak(n)
			if name == "WindowReduce" {
				assert.Equal(t, int64(n-bound), st.Early, "every pane beyond the bound went early")
			}
			t.Logf("%s: peak heap %.2f MB with %d keys, %.2f MB with %d", name, float64(small)/(1<<20), n/100, float64(big)/(1<<20), n)
			if !raceEnabled {
				assert.Less(t, big, small+2<<20, "keyed state grows with the number of keys")
			}
		})
	}
}

// TestStreamOperatorsInStatsAndGraph: every new stage shows in Stats with
// its kind and counts, and in Graph with its edges.
func TestStreamOperatorsInStatsAndGraph(t *testing.T) {
	p := stream.New(context.Background())
	src := stream.FromSlice(p, seq(10), stream.Name("src"))
	sums := stream.Scan(p, src, 0, func(a, v int) int { return a + v }, stream.Name("scan"))
	uniq := stream.Distinct(p, sums, func(v int) int { return v % 5 }, 10, stream.Name("distinct"))
	yes, no := stream.Split(p, uniq, func(_ context.Context, v int) (bool, error) { return v%2 == 0, nil }, stream.Name("split"))
	pairs := stream.Zip(p, yes, no, stream.Name("zip"))
	firsts := stream.Map(p, pairs, func(_ context.Context, pr stream.Pair[int, int]) (int, error) { return pr.First, nil }, stream.Name("first"))
	panes := stream.WindowReduce(p, firsts, stream.Tumbling(time.Hour), func(int) int { return 0 }, 0,
		func(a, v int) int { return a + v }, stream.Name("window"))
	n := 0
	for range stream.Values(p, panes) {
		n++
	}
	require.NoError(t, p.Wait())
	kinds := map[string]string{}
	for _, st := range p.Stats() {
		kinds[st.Name] = st.Kind
		assert.True(t, st.Done, st.Name)
	}
	assert.Equal(t, "scan", kinds["scan"])
	assert.Equal(t, "distinct", kinds["distinct"])
	assert.Equal(t, "split", kinds["split"])
	assert.Equal(t, "zip", kinds["zip"])
	assert.Equal(t, "window", kinds["window"])
	assert.Contains(t, kinds, "values#8")
	assert.Equal(t, int64(n), statsOf(t, p, "window").Out)
	g := p.Graph()
	for _, name := range []string{"scan", "distinct", "split", "zip", "window", "values#8"} {
		assert.Contains(t, g, name)
	}
	// split's two outputs are both zip's inputs: two edges.
	assert.Equal(t, 2, strings.Count(g, "s4 -->|64| s5"), g)
	assert.Contains(t, g, "s7 -->|64| s8", "the window feeds the Values loop")
}

// TestStreamOperatorsCallbackPanicAndGoexit: a panic or runtime.Goexit in
// any callback of the new operators fails the pipeline with a *PanicError
// or ErrGoexit, stops an infinite source, and leaves nothing running.
func TestStreamOperatorsCallbackPanicAndGoexit(t *testing.T) {
	const at = 100          // the callback fails on this element
	type hook = func(v int) // called by every callback on its element
	ops := []struct {
		name string
		add  func(p *stream.Pipeline, in <-chan int, h hook)
	}{
		{"Scan fn", func(p *stream.Pipeline, in <-chan int, h hook) {
			stream.ForEach(p, stream.Scan(p, in, 0, func(a, v int) int { h(v); return a + v }), pitfallIgnore)
		}},
		{"Distinct key", func(p *stream.Pipeline, in <-chan int, h hook) {
			stream.ForEach(p, stream.Distinct(p, in, func(v int) int { h(v); return v }, 3), pitfallIgnore)
		}},
		{"Split pred", func(p *stream.Pipeline, in <-chan int, h hook) {
			yes, no := stream.Split(p, in, func(_ context.Context, v int) (bool, error) { h(v); return v%2 == 0, nil })
			stream.ForEach(p, yes, pitfallIgnore)
			stream.ForEach(p, no, pitfallIgnore)
		}},
		{"WindowReduce key", func(p *stream.Pipeline, in <-chan int, h hook) {
			drainPanes(p, stream.WindowReduce(p, in, stream.Tumbling(time.Millisecond), func(v int) int { h(v); return v % 3 }, 0, addInts))
		}},
		{"WindowReduce fn", func(p *stream.Pipeline, in <-chan int, h hook) {
			drainPanes(p, stream.WindowReduce(p, in, stream.Sliding(2*time.Millisecond, time.Millisecond), func(v int) int { return v % 3 }, 0,
				func(a, v int) int { h(v); return a + v }))
		}},
		{"WindowReduce timestamp", func(p *stream.Pipeline, in <-chan int, h hook) {
			drainPanes(p, stream.WindowReduce(p, in, stream.Session(time.Millisecond), func(v int) int { return v % 3 }, 0, addInts,
				stream.EventTime(func(v int) time.Time { h(v); return epoch.Add(time.Duration(v) * time.Microsecond) }, 0), stream.Idle(time.Millisecond)))
		}},
		{"Any pred", func(p *stream.Pipeline, in <-chan int, h hook) {
			_, _ = stream.Any(p, in, func(v int) bool { h(v); return false })
		}},
		{"All pred", func(p *stream.Pipeline, in <-chan int, h hook) {
			_, _ = stream.All(p, in, func(v int) bool { h(v); return true })
		}},
	}
	for _, op := range ops {
		for _, goexit := range []bool{false, true} {
			name := op.name + map[bool]string{false: " panics", true: " calls Goexit"}[goexit]
			t.Run(name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					stopped := make(chan struct{})
					p := stream.New(context.Background())
					op.add(p, stream.Generate(p, infinite(stopped)), func(v int) {
						if v != at {
							return
						}
						if goexit {
							runtime.Goexit()
						}
						panic("callback")
					})
					err := p.Wait()
					if goexit {
						require.ErrorIs(t, err, stream.ErrGoexit)
					} else {
						var pe *stream.PanicError
						require.ErrorAs(t, err, &pe)
						assert.Equal(t, "callback", pe.Value)
					}
					<-stopped
				})
			})
		}
	}
}

func addInts(a, v int) int { return a + v }

func drainPanes(p *stream.Pipeline, panes <-chan stream.Pane[int, int]) {
	stream.ForEach(p, panes, func(context.Context, stream.Pane[int, int]) error { return nil })
}
