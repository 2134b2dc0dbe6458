package stream_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/stretchr/testify/require"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pipewright/stream"
)

// TestChunkEmitFromOtherGoroutines: a FlatMap whose fn emits from
// goroutines of its own, and waits for them, breaks emit's contract (a data
// race, which the race detector reports; so the test runs without it). It
// may miscount or fail the pipeline; it must not crash the process: a send
// on the element channel that a concurrent emit closed to switch to chunks,
// a double close, or an index past a chunk's end, in a goroutine the stage
// does not own, would.
func TestChunkEmitFromOtherGoroutines(t *testing.T) {
	testEmitFromOtherGoroutines(t, false)
}

func testEmitFromOtherGoroutines(t *testing.T, lossless bool) {
	if raceEnabled {
		t.Skip("concurrent emits are a data race by design")
	}
	for run := range 200 {
		p := stream.New(context.Background())
		src := stream.FromSlice(p, seq(50), stream.Capacity(32))
		out := stream.FlatMap(p, src, func(_ context.Context, v int, emit func(int) error) error {
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Go(func() {
					for i := range 40 {
						if emit(v*1000+g*100+i) != nil {
							return
						}
					}
				})
			}
			wg.Wait()
			return nil
		}, stream.Capacity(32))
		n := 0
		stream.ForEach(p, out, func(context.Context, int) error { n++; return nil })
		if err := p.Wait(); err == nil && n != 50*4*40 && lossless {
			t.Fatalf("run %d: %d elements of %d delivered, and no error", run, n, 50*4*40)
		}
	}
}

// TestChunkEmitFromOtherGoroutinesLosesNothing: the same misuse, element
// by element, delivered every element (only the counts were racy); on a
// chunked output two emits append to the pending chunk at once and one
// element overwrites the other. See chunkreview's notes.
func TestChunkEmitFromOtherGoroutinesLosesNothing(t *testing.T) {
	t.Skip("finding: concurrent emits into a chunked output lose elements silently; the lead decides between documenting it and detecting the misuse")
	testEmitFromOtherGoroutines(t, true)
}

// TestChunkLateEmitWhileFlushing: gen returns while its output's queue is
// full, so its worker waits to hand on its pending chunk; a goroutine gen
// started emits a second later. That call comes after gen returned: it must
// fail with ErrLateEmit, not slip into a chunk nobody sends (counted, never
// delivered).
func TestChunkLateEmitWhileFlushing(t *testing.T) {
	for _, flatMap := range []bool{false, true} {
		t.Run(fmt.Sprintf("flatmap=%v", flatMap), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := stream.New(context.Background())
				gate := make(chan struct{})
				lateErr := make(chan error, 1)
				const n = 2*chunkSize + 8
				gen := func(emit func(int) error) error {
					for i := range n {
						if i == 1 {
							// The consumer takes 0 alone and blocks: 1..16 and
							// 17..32 fill the queue, 33..39 are pending.
							time.Sleep(time.Millisecond)
						}
						if err := emit(i); err != nil {
							return err
						}
					}
					go func() {
						time.Sleep(time.Second)
						lateErr <- emit(-1)
					}()
					return nil
				}
				var src <-chan int
				if flatMap {
					src = stream.FlatMap(p, stream.FromSlice(p, []int{0}), func(_ context.Context, _ int, emit func(int) error) error {
						return gen(emit)
					}, stream.Capacity(32))
				} else {
					src = stream.Generate(p, func(_ context.Context, emit func(int) error) error { return gen(emit) }, stream.Capacity(32))
				}
				stream.ForEach(p, src, func(_ context.Context, v int) error {
					if v == 0 {
						<-gate
					}
					return nil
				})
				time.Sleep(2 * time.Second)
				close(gate)
				err := p.Wait()
				require.ErrorIs(t, <-lateErr, stream.ErrLateEmit)
				require.ErrorIs(t, err, stream.ErrLateEmit)
			})
		})
	}
}

// fault is what a user callback does at its chosen call.
type fault int

const (
	faultPanic fault = iota
	faultGoexit
	faultError
)

func (f fault) String() string { return [...]string{"panic", "goexit", "error"}[f] }

var errAdversary = errors.New("adversary")

// faulter returns hit, to call at the start of every call of a callback:
// at call number at it panics, calls runtime.Goexit, or returns
// errAdversary (callbacks without an error result panic with it).
func faulter(f fault, at int) func() error {
	var calls atomic.Int64
	return func() error {
		if calls.Add(1)-1 != int64(at) {
			return nil
		}
		switch f {
		case faultPanic:
			panic("adversary")
		case faultGoexit:
			runtime.Goexit()
		}
		return errAdversary
	}
}

// must turns hit's error into a panic, for callbacks that return none.
func must(hit func() error) {
	if err := hit(); err != nil {
		panic(err)
	}
}

// faultCase builds a pipeline around one callback between chunked edges:
// in is a chunked chain of 100 elements; the case returns a function that
// ends it and reports its result.
type faultCase struct {
	name  string
	build func(p *stream.Pipeline, in <-chan int, hit func() error) func() error
	// clocked: the case waits (fake) time for its drops.
	clocked bool
}

func faultCases() []faultCase {
	c := stream.Capacity(32)
	id := func(_ context.Context, v int) (int, error) { return v, nil }
	tail := func(p *stream.Pipeline, out <-chan int) func() error {
		out = stream.Map(p, out, id, c)
		return func() error { _, err := stream.Collect(p, out); return err }
	}
	return []faultCase{
		{name: "map", build: func(p *stream.Pipeline, in <-chan int, hit func() error) func() error {
			return tail(p, stream.Map(p, in, func(_ context.Context, v int) (int, error) { return v, hit() }, c))
		}},
		{name: "filter", build: func(p *stream.Pipeline, in <-chan int, hit func() error) func() error {
			return tail(p, stream.Filter(p, in, func(context.Context, int) (bool, error) { return true, hit() }, c))
		}},
		{name: "flatmap", build: func(p *stream.Pipeline, in <-chan int, hit func() error) func() error {
			return tail(p, stream.FlatMap(p, in, func(_ context.Context, v int, emit func(int) error) error {
				for i := range 3 {
					if err := emit(3*v + i); err != nil {
						return err
					}
				}
				return hit()
			}, c))
		}},
		{name: "ordered-map", build: func(p *stream.Pipeline, in <-chan int, hit func() error) func() error {
			return tail(p, stream.Map(p, in, func(_ context.Context, v int) (int, error) { return v, hit() }, c, stream.Workers(3), stream.Ordered()))
		}},
		{name: "ordered-flatmap", build: func(p *stream.Pipeline, in <-chan int, hit func() error) func() error {
			return tail(p, stream.FlatMap(p, in, func(_ context.Context, v int, emit func(int) error) error {
				if err := emit(v); err != nil {
					return err
				}
				if err := hit(); err != nil {
					return err
				}
				return emit(v)
			}, c, stream.Workers(2), stream.Ordered()))
		}},
		{name: "scan", build: func(p *stream.Pipeline, in <-chan int, hit func() error) func() error {
			return tail(p, stream.Scan(p, in, 0, func(a, v int) int { must(hit); return a + v }, c))
		}},
		{name: "distinct", build: func(p *stream.Pipeline, in <-chan int, hit func() error) func() error {
			return tail(p, stream.Distinct(p, in, func(v int) int { must(hit); return v }, 1000, c))
		}},
		{name: "window", build: func(p *stream.Pipeline, in <-chan int, hit func() error) func() error {
			panes := stream.WindowReduce(p, in, stream.Tumbling(time.Hour), func(v int) int { return v % 3 }, 0,
				func(a, v int) int { must(hit); return a + v }, c)
			out := stream.Map(p, panes, func(_ context.Context, pn stream.Pane[int, int]) (int, error) { return pn.Value, nil }, c)
			return tail(p, out)
		}},
		{name: "partition", build: func(p *stream.Pipeline, in <-chan int, hit func() error) func() error {
			outs := stream.Partition(p, in, 2, func(v int) int { must(hit); return v }, c)
			return tail(p, stream.Merge(p, outs, c))
		}},
		{name: "split", build: func(p *stream.Pipeline, in <-chan int, hit func() error) func() error {
			yes, no := stream.Split(p, in, func(_ context.Context, v int) (bool, error) { return v%2 == 0, hit() }, c)
			return tail(p, stream.Merge(p, []<-chan int{yes, no}, c))
		}},
		{name: "foreach", build: func(p *stream.Pipeline, in <-chan int, hit func() error) func() error {
			stream.ForEach(p, in, func(context.Context, int) error { return hit() })
			return p.Wait
		}},
		{name: "reduce", build: func(p *stream.Pipeline, in <-chan int, hit func() error) func() error {
			return func() error {
				_, err := stream.Reduce(p, in, 0, func(a, v int) int { must(hit); return a + v })
				return err
			}
		}},
		{name: "all", build: func(p *stream.Pipeline, in <-chan int, hit func() error) func() error {
			return func() error {
				_, err := stream.All(p, in, func(int) bool { must(hit); return true })
				return err
			}
		}},
		{name: "map-onerror", build: func(p *stream.Pipeline, in <-chan int, hit func() error) func() error {
			return tail(p, stream.Map(p, in, func(_ context.Context, v int) (int, error) {
				if v%2 == 0 {
					return 0, errors.New("skipped")
				}
				return v, nil
			}, c, stream.OnError(func(int, error) error { return hit() })))
		}},
		{name: "buffer-ondrop", clocked: true, build: func(p *stream.Pipeline, in <-chan int, hit func() error) func() error {
			return slowTail(p, stream.Buffer(p, in, 4, stream.DropNewest, stream.OnDrop(func(int) { must(hit) })))
		}},
		{name: "buffer-observer", clocked: true, build: func(p *stream.Pipeline, in <-chan int, hit func() error) func() error {
			return slowTail(p, stream.Buffer(p, in, 4, stream.DropOldest, stream.WithObserver(stream.ObserverFunc(func(e stream.Event) {
				if e.Kind == stream.ElementDropped {
					must(hit)
				}
			}))))
		}},
		{name: "generate", build: func(p *stream.Pipeline, _ <-chan int, hit func() error) func() error {
			return tail(p, stream.Generate(p, func(_ context.Context, emit func(int) error) error {
				for i := range 100 {
					if err := hit(); err != nil {
						return err
					}
					if err := emit(i); err != nil {
						return err
					}
				}
				return nil
			}, c))
		}},
	}
}

// slowTail consumes out slowly (a millisecond per element) behind a
// chunked edge, so that a Buffer before it drops.
func slowTail(p *stream.Pipeline, out <-chan int) func() error {
	out = stream.Map(p, out, func(_ context.Context, v int) (int, error) {
		time.Sleep(time.Millisecond)
		return v, nil
	}, stream.Capacity(32))
	return func() error { _, err := stream.Collect(p, out); return err }
}

// TestChunkFaultsInEveryCallback: a panic, a runtime.Goexit or an error in
// a callback of a stage whose input and output carry chunks, at its call
// 0, 1, 15, 16, 17 (around a chunk's end) or 40 (mid-chunk, with chunks
// queued): the pipeline ends with that fault as its error, at once (no
// fake time passes: nothing waits for a chunk that will never come), and
// every goroutine exits (goleak). OnDrop and an Observer of a Buffer
// between chunked edges too, at their drop number at, and an OnError
// handler at its call number at.
func TestChunkFaultsInEveryCallback(t *testing.T) {
	for _, fc := range faultCases() {
		for _, f := range []fault{faultPanic, faultGoexit, faultError} {
			for _, at := range []int{0, 1, 15, 16, 17, 40} {
				t.Run(fmt.Sprintf("%s/%v/%d", fc.name, f, at), func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) {
						p := stream.New(context.Background())
						in := stream.Map(p, stream.FromSlice(p, seq(100), stream.Capacity(32)),
							func(_ context.Context, v int) (int, error) { return v, nil }, stream.Capacity(32))
						end := fc.build(p, in, faulter(f, at))
						start := time.Now()
						err := end()
						if !fc.clocked {
							require.Equal(t, time.Duration(0), time.Since(start), "the pipeline waited for time to pass")
						}
						require.Error(t, err)
						require.Equal(t, err, p.Wait())
						switch f {
						case faultPanic:
							var pe *stream.PanicError
							require.ErrorAs(t, err, &pe)
						case faultGoexit:
							require.ErrorIs(t, err, stream.ErrGoexit)
						case faultError:
							var pe *stream.PanicError
							if !errors.As(err, &pe) { // callbacks without an error result panic with it
								require.ErrorIs(t, err, errAdversary)
							}
						}
					})
				})
			}
		}
	}
}

// TestChunkEndAtEveryPoint: Stop, the parent's cancellation, an error or a
// panic, at call k of the source, of a Map, of an Ordered Map, of a FlatMap
// or of the sink of a chain whose edges carry chunks (k sweeps the chunk
// boundaries), once every other goroutine is idle (so that no call is in
// flight): Wait returns at once with the right result, and no user
// function is called after the end (pitfall P21), though chunks are queued,
// pending and in hand all along the chain.
func TestChunkEndAtEveryPoint(t *testing.T) {
	ks := []int{0, 1, 2, 3, 7, 14, 15, 16, 17, 18, 30, 31, 32, 33, 34, 47, 48, 49, 63, 64, 65, 100, 257}
	if testing.Short() {
		ks = []int{0, 1, 15, 16, 17, 32, 33, 100}
	}
	for _, mode := range []string{"stop", "parent", "fail", "panic"} {
		for _, where := range []string{"source", "map", "ordered", "flatmap", "sink"} {
			for _, k := range ks {
				t.Run(fmt.Sprintf("%s/%s/%d", mode, where, k), func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) { endAt(t, mode, where, k) })
				})
			}
		}
	}
}

func endAt(t *testing.T, mode, where string, k int) {
	parent, cancelParent := context.WithCancel(context.Background())
	defer cancelParent()
	p := stream.New(parent)
	var late, calls atomic.Int64
	// enter is the start of every user call: none after the end.
	enter := func(stage string) (inject bool) {
		if p.Context().Err() != nil {
			late.Add(1)
		}
		if stage != where {
			return false
		}
		return calls.Add(1)-1 == int64(k)
	}
	// end ends the pipeline from a call, once every other goroutine is idle.
	end := func() error {
		synctest.Wait()
		switch mode {
		case "stop":
			p.Stop()
		case "parent":
			cancelParent()
		case "fail":
			return errAdversary
		case "panic":
			panic(errAdversary)
		}
		return nil
	}
	c := stream.Capacity(32)
	src := stream.Generate(p, func(ctx context.Context, emit func(int) error) error {
		for i := 0; i < 5000; i++ {
			if enter("source") {
				if err := end(); err != nil {
					return err
				}
			}
			if err := emit(i); err != nil {
				return err
			}
		}
		return nil
	}, c)
	step := func(stage string) func(context.Context, int) (int, error) {
		return func(_ context.Context, v int) (int, error) {
			if enter(stage) {
				return v, end()
			}
			return v, nil
		}
	}
	ch := stream.Map(p, src, step("map"), c)
	ch = stream.Map(p, ch, step("ordered"), c, stream.Workers(3), stream.Ordered())
	ch = stream.FlatMap(p, ch, func(_ context.Context, v int, emit func(int) error) error {
		inject := enter("flatmap")
		for i := range 2 {
			if inject && i == 1 { // between its emits
				if err := end(); err != nil {
					return err
				}
			}
			if err := emit(2*v + i); err != nil {
				return err
			}
		}
		return nil
	}, stream.Capacity(17))
	ch = stream.Map(p, ch, step("tail"), stream.Capacity(16))
	stream.ForEach(p, ch, func(context.Context, int) error {
		if enter("sink") {
			return end()
		}
		return nil
	})
	start := time.Now()
	err := p.Wait()
	require.Equal(t, time.Duration(0), time.Since(start), "Wait returned at once")
	if where == "ordered" { // its other workers' calls in flight run on
		require.GreaterOrEqual(t, calls.Load(), int64(k+1), "the end came at call %d of %s", k, where)
	} else {
		require.Equal(t, int64(k+1), calls.Load(), "the end came at call %d of %s", k, where)
	}
	require.Zero(t, late.Load(), "user calls after the end")
	switch mode {
	case "stop":
		require.NoError(t, err)
	case "parent":
		require.ErrorIs(t, err, context.Canceled)
	case "fail":
		require.ErrorIs(t, err, errAdversary)
	case "panic":
		var pe *stream.PanicError
		require.ErrorAs(t, err, &pe)
	}
}

// TestChunkReleaseAtEveryPoint: demand ends after k elements, k around one
// and two chunks, behind a chain of chunked edges fed by an endless source:
// Take(k), a Values loop that breaks, Any and All that decide at element
// k. The consumer gets the first k elements in order, Wait returns at once
// with nil, every stage has stopped and the source emitted no more than
// the chain holds.
func TestChunkReleaseAtEveryPoint(t *testing.T) {
	for _, how := range []string{"take", "values", "any", "all", "ordered-take", "flatmap-take"} {
		for _, k := range []int{1, 2, 14, 15, 16, 17, 18, 31, 32, 33, 49} {
			t.Run(fmt.Sprintf("%s/%d", how, k), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p := chunkPipeline(t)
					var emits atomic.Int64
					src := stream.Generate(p, func(_ context.Context, emit func(int) error) error {
						for i := 0; ; i++ {
							if emits.Add(1) > 1<<16 {
								return errors.New("the source was not released")
							}
							if err := emit(i); err != nil {
								return err
							}
						}
					}, stream.Capacity(32))
					ch := identityChain(p, src, 3, "m", 17)
					edges := 4
					switch how {
					case "ordered-take":
						ch = stream.Map(p, ch, func(_ context.Context, v int) (int, error) { return v, nil },
							stream.Capacity(32), stream.Workers(3), stream.Ordered())
						edges++
					case "flatmap-take":
						ch = stream.FlatMap(p, ch, func(_ context.Context, v int, emit func(int) error) error {
							return emit(v)
						}, stream.Capacity(16))
						edges++
					}
					start := time.Now()
					var got []int
					switch how {
					case "take", "ordered-take", "flatmap-take":
						var err error
						got, err = stream.Collect(p, stream.Take(p, ch, k, stream.Capacity(16)))
						require.NoError(t, err)
						edges++
					case "values":
						for v, err := range stream.Values(p, ch) {
							require.NoError(t, err)
							if got = append(got, v); len(got) == k {
								break
							}
						}
						require.NoError(t, p.Wait())
					case "any":
						found, err := stream.Any(p, ch, func(v int) bool { got = append(got, v); return v == k-1 })
						require.NoError(t, err)
						require.True(t, found)
					case "all":
						all, err := stream.All(p, ch, func(v int) bool { got = append(got, v); return v < k-1 })
						require.NoError(t, err)
						require.False(t, all)
					}
					require.Equal(t, time.Duration(0), time.Since(start))
					require.Equal(t, seq(k), got)
					for _, s := range p.Stats() {
						require.True(t, s.Done, "%s has stopped", s.Name)
					}
					bound := k + edges*edgeBound(32)
					require.LessOrEqual(t, emits.Load(), int64(bound), "emitted before the release stopped the source")
				})
			})
		}
	}
}

// statsByName returns the pipeline's Stats by stage name.
func statsByName(p *stream.Pipeline) map[string]stream.StageStats {
	m := map[string]stream.StageStats{}
	for _, s := range p.Stats() {
		m[s.Name] = s
	}
	return m
}

// requireEdge requires that what the stages from sent is what to received
// (from's outputs all go to to, or to's inputs all come from from).
func requireEdge(t *testing.T, st map[string]stream.StageStats, from []string, to []string) {
	t.Helper()
	var out, in int64
	for _, n := range from {
		out += st[n].Out
	}
	for _, n := range to {
		in += st[n].In
	}
	require.Equal(t, out, in, "%v sent %d, %v received %d", from, out, to, in)
}

// TestChunkStatsExactAtTheEnd: after a successful run, every stage's Stats
// are exact, with chunked edges between single-worker and Ordered stages:
// what a stage sent is what its consumers received, and each stage's Out
// follows from its In (Batch, Flatten, Filter, Distinct, WindowReduce,
// Merge of one and of several inputs, Partition, Split, Broadcast into a
// Zip, Buffer with each overflow policy).
func TestChunkStatsExactAtTheEnd(t *testing.T) {
	const n = 1000
	id := func(_ context.Context, v int) (int, error) { return v, nil }
	t.Run("chain", func(t *testing.T) {
		for _, c := range []int{16, 17, 31, 32, 1 << 10} {
			t.Run(fmt.Sprintf("cap%d", c), func(t *testing.T) {
				p := chunkPipeline(t)
				o := func(name string) []stream.Option { return []stream.Option{stream.Capacity(c), stream.Name(name)} }
				ch := stream.FromSlice(p, seq(n), o("src")...)
				ch = stream.Map(p, ch, id, o("map")...)
				ch = stream.Filter(p, ch, func(_ context.Context, v int) (bool, error) { return v%3 != 0, nil }, o("filter")...)
				bs := stream.Batch(p, ch, 7, 0, o("batch")...)
				ch = stream.Flatten(p, bs, o("flatten")...)
				ch = stream.Distinct(p, ch, func(v int) int { return v / 2 }, n, o("distinct")...)
				ch = stream.Merge(p, []<-chan int{ch}, o("merge1")...)
				ch = stream.Map(p, ch, id, append(o("ordered"), stream.Workers(3), stream.Ordered())...)
				ch = stream.FlatMap(p, ch, func(_ context.Context, v int, emit func(int) error) error {
					if err := emit(v); err != nil {
						return err
					}
					return emit(v)
				}, append(o("ordered-flatmap"), stream.Workers(2), stream.Ordered())...)
				ch = stream.Scan(p, ch, 0, func(_, v int) int { return v }, o("scan")...)
				ch = stream.Take(p, ch, 10*n, o("take")...)
				got, err := stream.Collect(p, ch)
				require.NoError(t, err)
				st := statsByName(p)
				kept := 0
				for v := range n {
					if v%3 != 0 {
						kept++
					}
				}
				require.Equal(t, int64(n), st["src"].Out)
				require.Equal(t, int64(kept), st["filter"].Out)
				require.Equal(t, int64((kept+6)/7), st["batch"].Out)
				require.Equal(t, int64(kept), st["flatten"].Out)
				require.Equal(t, int64(len(got)), st["take"].Out)
				require.Equal(t, 2*st["distinct"].Out, st["ordered-flatmap"].Out)
				names := []string{"src", "map", "filter", "batch", "flatten", "distinct", "merge1", "ordered", "ordered-flatmap", "scan", "take"}
				for i := range len(names) - 1 {
					requireEdge(t, st, names[i:i+1], names[i+1:i+2])
				}
				for _, name := range []string{"map", "merge1", "ordered", "scan", "take"} {
					require.Equal(t, st[name].In, st[name].Out, "%s", name)
				}
				for _, s := range st {
					require.Zero(t, s.Dropped, "%s", s.Name)
					require.Zero(t, s.QueueLen, "%s", s.Name)
				}
			})
		}
	})
	t.Run("topology", func(t *testing.T) {
		p := chunkPipeline(t)
		o := func(name string) []stream.Option { return []stream.Option{stream.Capacity(32), stream.Name(name)} }
		a := stream.Map(p, stream.FromSlice(p, seq(n), o("a0")...), id, o("a")...)
		b := stream.Map(p, stream.FromSlice(p, seq(n), o("b0")...), id, o("b")...)
		parts := stream.Partition(p, a, 3, func(v int) int { return v }, o("partition")...)
		m := stream.Merge(p, append(parts, b), o("merge")...)
		yes, no := stream.Split(p, m, func(_ context.Context, v int) (bool, error) { return v%2 == 0, nil }, o("split")...)
		m2 := stream.Merge(p, []<-chan int{yes, no}, o("merge2")...)
		bc := stream.Broadcast(p, m2, 2, o("broadcast")...)
		z := stream.Zip(p, stream.Map(p, bc[0], id, o("left")...), stream.Map(p, bc[1], id, o("right")...), o("zip")...)
		pairs, err := stream.Collect(p, z)
		require.NoError(t, err)
		require.Len(t, pairs, 2*n)
		st := statsByName(p)
		requireEdge(t, st, []string{"a"}, []string{"partition"})
		requireEdge(t, st, []string{"partition", "b"}, []string{"merge"})
		requireEdge(t, st, []string{"merge"}, []string{"split"})
		requireEdge(t, st, []string{"split"}, []string{"merge2"})
		requireEdge(t, st, []string{"merge2"}, []string{"broadcast"})
		requireEdge(t, st, []string{"broadcast"}, []string{"left", "right"})
		requireEdge(t, st, []string{"left", "right"}, []string{"zip"})
		require.Equal(t, int64(2*n), st["merge"].Out)
		require.Equal(t, int64(4*n), st["broadcast"].Out)
		require.Equal(t, int64(2*n), st["zip"].Out)
	})
	t.Run("window", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := chunkPipeline(t)
			o := func(name string) []stream.Option { return []stream.Option{stream.Capacity(32), stream.Name(name)} }
			src := stream.Generate(p, func(_ context.Context, emit func(int) error) error {
				for i := range n {
					if i%100 == 0 {
						time.Sleep(time.Second)
					}
					if err := emit(i); err != nil {
						return err
					}
				}
				return nil
			}, o("src")...)
			panes := stream.WindowReduce(p, stream.Map(p, src, id, o("map")...), stream.Tumbling(time.Second),
				func(v int) int { return v % 4 }, 0, func(a, _ int) int { return a + 1 }, o("window")...)
			got, err := stream.Collect(p, stream.Map(p, panes, func(_ context.Context, pn stream.Pane[int, int]) (int, error) {
				return pn.Value, nil
			}, o("tail")...))
			require.NoError(t, err)
			sum := 0
			for _, v := range got {
				sum += v
			}
			require.Equal(t, n, sum, "every element in one pane")
			st := statsByName(p)
			require.Equal(t, int64(n), st["window"].In)
			require.Equal(t, int64(len(got)), st["window"].Out)
			requireEdge(t, st, []string{"map"}, []string{"window"})
			requireEdge(t, st, []string{"window"}, []string{"tail"})
		})
	})
	for _, policy := range []stream.Overflow{stream.Block, stream.DropNewest, stream.DropOldest} {
		t.Run("buffer-"+policy.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := chunkPipeline(t)
				o := func(name string) []stream.Option { return []stream.Option{stream.Capacity(32), stream.Name(name)} }
				ch := stream.Map(p, stream.FromSlice(p, seq(n), o("src")...), id, o("map")...)
				ch = stream.Buffer(p, ch, 20, policy, stream.Name("buffer"))
				ch = stream.Map(p, ch, func(_ context.Context, v int) (int, error) {
					if v%50 == 0 {
						time.Sleep(time.Millisecond)
					}
					return v, nil
				}, o("slow")...)
				got, err := stream.Collect(p, ch)
				require.NoError(t, err)
				st := statsByName(p)
				requireEdge(t, st, []string{"map"}, []string{"buffer"})
				b := st["buffer"]
				if policy == stream.DropOldest { // Out counts what was put in, dropped later or not
					require.Equal(t, b.In, b.Out)
					require.Equal(t, b.Out-b.Dropped, st["slow"].In)
				} else {
					requireEdge(t, st, []string{"buffer"}, []string{"slow"})
					require.Equal(t, b.In, b.Out+b.Dropped)
				}
				require.Equal(t, int64(len(got)), st["slow"].Out)
				if policy == stream.Block {
					require.Equal(t, seq(n), got)
				} else {
					require.Positive(t, st["buffer"].Dropped, "the test makes drops")
				}
			})
		})
	}
}

// TestChunkElementsNotRetainedEverywhere: as TestChunkElementsNotRetained,
// through the other readers and writers of chunks: an Ordered stage (a
// chunked output written by several workers in turn, and an input read
// under the reader lock), Merge of one input, Take, Batch and Flatten, and
// a Values loop. Every element the loop got is collectable while the
// pipeline still runs, but for a few in locals.
func TestChunkElementsNotRetainedEverywhere(t *testing.T) {
	const n = 300
	type blob struct {
		b   *[4 << 10]byte
		seq int
	}
	for _, burst := range []int{n, 6} { // a multiple of the Batch size
		t.Run(fmt.Sprintf("burst%d", burst), func(t *testing.T) {
			var collected, seen atomic.Int64
			p := chunkPipeline(t)
			more := make(chan struct{})
			src := stream.Generate(p, func(ctx context.Context, emit func(blob) error) error {
				for i := range n {
					if i%burst == 0 {
						for seen.Load() < int64(i) {
							runtime.Gosched()
						}
					}
					b := new([4 << 10]byte)
					runtime.AddCleanup(b, func(*atomic.Int64) { collected.Add(1) }, &collected)
					if err := emit(blob{b, i}); err != nil {
						return err
					}
				}
				select {
				case <-more:
				case <-ctx.Done():
				}
				return nil
			}, stream.Capacity(32))
			id := func(_ context.Context, b blob) (blob, error) { return b, nil }
			c := stream.Map(p, src, id, stream.Workers(3), stream.Ordered(), stream.Capacity(32))
			c = stream.Merge(p, []<-chan blob{c}, stream.Capacity(32))
			c = stream.Take(p, c, 1<<30, stream.Capacity(32))
			c = stream.Flatten(p, stream.Batch(p, c, 3, 0, stream.Capacity(16)), stream.Capacity(16))
			c = stream.FlatMap(p, c, func(_ context.Context, b blob, emit func(blob) error) error { return emit(b) },
				stream.Workers(2), stream.Ordered(), stream.Capacity(32))
			for b, err := range stream.Values(p, c) {
				require.NoError(t, err)
				require.Equal(t, int(seen.Load()), b.seq)
				if seen.Add(1) < n {
					continue
				}
				b = blob{}
				var got int64
				for range 1000 {
					runtime.GC()
					if got = collected.Load(); got >= n-6 {
						break
					}
					runtime.Gosched()
				}
				require.GreaterOrEqual(t, got, int64(n-6), "elements handed on are collectable (at most a few in locals)")
				close(more)
			}
			require.NoError(t, p.Wait())
		})
	}
}

// chainOf runs n elements made by mk through a chain of chunked edges of
// capacity c (single-worker and Ordered stages, FlatMap, Merge) and returns
// what came out, and the pipeline for its Stats.
func chainOf[T any](t *testing.T, n, c int, mk func(int) T) ([]T, *stream.Pipeline) {
	t.Helper()
	p := chunkPipeline(t)
	vals := make([]T, n)
	for i := range vals {
		vals[i] = mk(i)
	}
	o := stream.Capacity(c)
	id := func(_ context.Context, v T) (T, error) { return v, nil }
	ch := stream.FromSlice(p, vals, o)
	ch = stream.Map(p, ch, id, o)
	ch = stream.Map(p, ch, id, o, stream.Workers(3), stream.Ordered())
	ch = stream.FlatMap(p, ch, func(_ context.Context, v T, emit func(T) error) error { return emit(v) }, o)
	ch = stream.Merge(p, []<-chan T{ch}, o)
	got, err := stream.Collect(p, ch)
	require.NoError(t, err)
	return got, p
}

// requireChainExact requires that every stage of a chainOf pipeline passed
// on n elements.
func requireChainExact(t *testing.T, p *stream.Pipeline, n int) {
	t.Helper()
	for _, s := range p.Stats() {
		if s.Kind != "slice" {
			require.Equal(t, int64(n), s.In, "%s In", s.Name)
		}
		if s.Kind != "collect" {
			require.Equal(t, int64(n), s.Out, "%s Out", s.Name)
		}
	}
}

// TestChunkElementTypes: zero-size elements, elements of 1 KiB (the
// largest that travel in chunks) and just over, and pointers, through
// chunked chains of capacities around one and two chunks: every element,
// in order, counted exactly.
func TestChunkElementTypes(t *testing.T) {
	const n = 2000
	for _, c := range []int{16, 17, 31, 32} {
		t.Run(fmt.Sprintf("empty/cap%d", c), func(t *testing.T) {
			got, p := chainOf(t, n, c, func(int) struct{} { return struct{}{} })
			require.Len(t, got, n)
			requireChainExact(t, p, n)
		})
		t.Run(fmt.Sprintf("1KiB/cap%d", c), func(t *testing.T) {
			type kib struct {
				i int
				_ [1024 - 8]byte
			}
			got, p := chainOf(t, n, c, func(i int) kib { return kib{i: i} })
			for i, v := range got {
				require.Equal(t, i, v.i)
			}
			requireChainExact(t, p, n)
		})
		t.Run(fmt.Sprintf("1KiB+1/cap%d", c), func(t *testing.T) {
			type big struct {
				i int
				_ [1024 - 7]byte
			}
			got, p := chainOf(t, n, c, func(i int) big { return big{i: i} })
			for i, v := range got {
				require.Equal(t, i, v.i)
			}
			requireChainExact(t, p, n)
		})
		t.Run(fmt.Sprintf("pointer/cap%d", c), func(t *testing.T) {
			got, p := chainOf(t, n, c, func(i int) *int { return &i })
			for i, v := range got {
				require.Equal(t, i, *v)
			}
			requireChainExact(t, p, n)
		})
		t.Run(fmt.Sprintf("interface/cap%d", c), func(t *testing.T) {
			got, p := chainOf(t, n, c, func(i int) any { return i })
			for i, v := range got {
				require.Equal(t, i, v)
			}
			requireChainExact(t, p, n)
		})
	}
}

// TestChunkExtremeCapacities: capacities at one chunk, just over, just
// under two, and 2^20, on every edge of a chunked chain.
func TestChunkExtremeCapacities(t *testing.T) {
	const n = 5000
	for _, c := range []int{16, 17, 31, 1 << 20} {
		t.Run(fmt.Sprintf("cap%d", c), func(t *testing.T) {
			got, p := chainOf(t, n, c, func(i int) int { return i })
			require.Equal(t, seq(n), got)
			requireChainExact(t, p, n)
		})
	}
}

// TestChunkManyShortPipelines: thousands of short pipelines in a row, of 0
// to 40 elements (around the chunk size), each with its chunked edges: the
// right result every time, and no goroutine left (goleak).
func TestChunkManyShortPipelines(t *testing.T) {
	runs := 3000
	if raceEnabled || testing.Short() {
		runs = 500
	}
	for i := range runs {
		n := i % 41
		p := stream.New(context.Background())
		ch := stream.Map(p, stream.FromSlice(p, seq(n), stream.Capacity(16)),
			func(_ context.Context, v int) (int, error) { return v + 1, nil }, stream.Capacity(17))
		if i%3 == 0 {
			ch = stream.Map(p, ch, func(_ context.Context, v int) (int, error) { return v, nil },
				stream.Capacity(32), stream.Workers(2), stream.Ordered())
		}
		sum, err := stream.Reduce(p, ch, 0, func(a, v int) int { return a + v })
		require.NoError(t, err)
		require.Equal(t, n*(n+1)/2, sum, "run %d", i)
	}
}

// TestChunkCallerHandsOverMidStream: the caller reads a few elements of a
// stage's output itself, then passes the channel to a stage: that stage
// gets the rest, in order, and Stats add up. (A channel a stage consumes
// is that stage's alone: see "Channels" in the package doc.)
func TestChunkCallerHandsOverMidStream(t *testing.T) {
	for _, first := range []int{0, 1, 5, 16, 17, 40} {
		t.Run(strconv.Itoa(first), func(t *testing.T) {
			const n = 1000
			p := chunkPipeline(t)
			src := stream.FromSlice(p, seq(n), stream.Capacity(32), stream.Name("src"))
			ch := stream.Map(p, src, func(_ context.Context, v int) (int, error) { return v, nil },
				stream.Capacity(32), stream.Name("map"))
			for i := range first {
				require.Equal(t, i, <-ch)
			}
			got, err := stream.Collect(p, stream.Map(p, ch, func(_ context.Context, v int) (int, error) { return v, nil },
				stream.Capacity(32), stream.Name("next")))
			require.NoError(t, err)
			require.Equal(t, seq(n)[first:], got)
			st := statsByName(p)
			require.Equal(t, int64(n), st["map"].Out)
			require.Equal(t, int64(n-first), st["next"].In)
		})
	}
}

// TestChunkEdgeMemoryFollowsTheElements: a chunked edge's eager memory (the
// chunk queue, capacity/16 items, and the free ring, the next power of two
// over capacity/16+3 pointers) must stay within the element channel's
// order: for zero-size elements the element channel costs nothing, but a
// Capacity(1<<22) chunked edge allocated 8 MiB (Capacity(1<<30), which is
// allowed, 1.5 GiB).
func TestChunkEdgeMemoryFollowsTheElements(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	p := stream.New(context.Background())
	src := stream.FromSlice(p, make([]struct{}, 10), stream.Capacity(1<<22))
	stream.ForEach(p, src, func(context.Context, struct{}) error { return nil })
	require.NoError(t, p.Wait())
	runtime.ReadMemStats(&after)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "bytes allocated")
}

// TestChunkReleasedEdgesRetainNothing: a chain released by Take(1) stops,
// and what it held (queued, pending or sent in chunks, never read) is
// discarded, not kept alive until the pipeline ends, while another branch
// keeps it running (see edge.discard). Element by element nothing was
// left; each chunked edge kept the chunk pending at its end (48 of 240
// here), until drains and failed flushes cleared what they discard, and
// at times the unread rest of a chunk a consumer had stolen (7 to 9),
// until a stage that ends clears what its inputs hold.
func TestChunkReleasedEdgesRetainNothing(t *testing.T) {
	type blob [4 << 10]byte
	var made, collected atomic.Int64
	p := chunkPipeline(t)
	hold := make(chan struct{})
	p.Go("hold", func(ctx context.Context) error {
		select {
		case <-hold:
		case <-ctx.Done():
		}
		return nil
	})
	src := stream.Generate(p, func(_ context.Context, emit func(*blob) error) error {
		for {
			b := &blob{}
			made.Add(1)
			runtime.AddCleanup(b, func(*atomic.Int64) { collected.Add(1) }, &collected)
			if err := emit(b); err != nil {
				return nil
			}
		}
	}, stream.Capacity(64))
	id := func(_ context.Context, b *blob) (*blob, error) { return b, nil }
	ch := stream.Map(p, src, id, stream.Capacity(64))
	ch = stream.Map(p, ch, id, stream.Capacity(64), stream.Workers(2), stream.Ordered())
	ch = stream.Map(p, ch, id, stream.Capacity(64))
	first := make(chan struct{})
	stream.ForEach(p, stream.Take(p, ch, 1), func(context.Context, *blob) error { close(first); return nil })
	<-first
	for _, s := range p.Stats() {
		for s.Name != "hold" && !s.Done {
			runtime.Gosched()
			s = statsOf(t, p, s.Name)
		}
	}
	var left int64
	for range 1000 {
		runtime.GC()
		if left = made.Load() - collected.Load(); left <= 2 {
			break
		}
		runtime.Gosched()
	}
	require.LessOrEqual(t, left, int64(2), "elements of the released chain alive (of %d made)", made.Load())
	close(hold)
	require.NoError(t, p.Wait())
}

// TestChunkOneOutputOfMany: FanOut, Broadcast and Partition of one output
// make it like a single output (a chunk link beside it) but send on it
// element by element; the stage reading it waits for chunks that never
// come and must still get every element, and the end.
func TestChunkOneOutputOfMany(t *testing.T) {
	const n = 1000
	for _, kind := range []string{"fanout", "broadcast", "partition"} {
		t.Run(kind, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := chunkPipeline(t)
				src := stream.Map(p, stream.FromSlice(p, seq(n), stream.Capacity(32)),
					func(_ context.Context, v int) (int, error) { return v, nil }, stream.Capacity(32))
				var outs []<-chan int
				o := []stream.Option{stream.Capacity(32), stream.Name("split")}
				switch kind {
				case "fanout":
					outs = stream.FanOut(p, src, 1, o...)
				case "broadcast":
					outs = stream.Broadcast(p, src, 1, o...)
				case "partition":
					outs = stream.Partition(p, src, 1, func(v int) int { return v }, o...)
				}
				ch := stream.Map(p, outs[0], func(_ context.Context, v int) (int, error) { return v, nil },
					stream.Capacity(32), stream.Name("next"))
				got, err := stream.Collect(p, ch)
				require.NoError(t, err)
				require.Equal(t, seq(n), got)
				st := statsByName(p)
				requireEdge(t, st, []string{"split"}, []string{"next"})
			})
		})
	}
}
