package stream_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
)

// Tests of the hand-off between stages against the hazards of moving
// elements in chunks (a producer with one worker and one output appending
// to a pending chunk, a consumer stealing it when its queue is empty):
// written against the public behaviour only, so that they hold element by
// element as well as chunked. What each one guards:
//
//   - an element is never held back while its consumer waits: not when the
//     source stalls after a burst, a user function sleeps, a FlatMap blocks
//     after emitting, or a backlog drains before the stall
//     (TestChunkBurstThenStall, TestChunkCallerReadsOutput);
//   - order and exact counts through long chains of random single-worker
//     stages and capacities around the chunk size, against a plain-loop
//     model (TestChunkRandomChains);
//   - Stats are exact for idle stages, with every queue empty
//     (TestChunkStatsExactWhenIdle);
//   - no user function starts on an element after Stop or a failure, even
//     with elements queued in chunks (TestChunkNoCallAfterEnd);
//   - Take, First and a broken Values loop stop an infinite source after a
//     bounded number of elements (TestChunkEarlyRelease);
//   - an edge holds at most its capacity plus a chunk at each end
//     (TestChunkBoundedMemory);
//   - Merge, FanOut, Partition, Broadcast and Ordered keep their promises
//     between chains (TestChunkTopologies).

// chunkSize is the largest chunk the engine may move at once: every bound
// below allows a pending chunk at each end of an edge.
const chunkSize = 16

// chunkCaps are the capacities the tests try: -1 is the default; the rest
// sit around one and two chunks (an edge too small for chunks hands on
// element by element).
var chunkCaps = []int{-1, 0, 1, 15, 16, 17, 31, 32, 33, 48, 1000}

// capOpts returns the options giving capacity c (none for -1).
func capOpts(c int, more ...stream.Option) []stream.Option {
	if c < 0 {
		return more
	}
	return append([]stream.Option{stream.Capacity(c)}, more...)
}

// capOf is the capacity an edge made with capOpts(c) has.
func capOf(c int) int {
	if c < 0 {
		return stream.DefaultCapacity
	}
	return c
}

// edgeBound is the most elements an edge of capacity c may hold: its
// buffer, a chunk pending at the producer, a chunk in the consumer's hands,
// and the element each end is working on.
func edgeBound(c int) int { return capOf(c) + 2*chunkSize + 2 }

// chunkPipeline returns a new pipeline that is stopped and waited for when
// the test ends, so a failed test ends its bubble cleanly.
func chunkPipeline(t *testing.T) *stream.Pipeline {
	p := stream.New(context.Background())
	t.Cleanup(func() {
		p.Stop()
		_ = p.Wait()
	})
	return p
}

// identityChain appends n identity Maps named prefix0, prefix1, … to in.
func identityChain(p *stream.Pipeline, in <-chan int, n int, prefix string, c int) <-chan int {
	for i := range n {
		in = stream.Map(p, in, func(_ context.Context, v int) (int, error) { return v, nil },
			capOpts(c, stream.Name(prefix+strconv.Itoa(i)))...)
	}
	return in
}

// arrivals records the elements a sink gets and when (time since start:
// fake time in a synctest bubble).
type arrivals struct {
	mu    sync.Mutex
	start time.Time
	vals  []int
	at    []time.Duration
}

func newArrivals() *arrivals { return &arrivals{start: time.Now()} }

func (a *arrivals) add(v int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.vals = append(a.vals, v)
	a.at = append(a.at, time.Since(a.start))
}

func (a *arrivals) forEach(_ context.Context, v int) error {
	a.add(v)
	return nil
}

func (a *arrivals) get() ([]int, []time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]int{}, a.vals...), append([]time.Duration{}, a.at...)
}

// requireSame requires that got equals want, element by element; on a
// mismatch it reports the lengths and the first difference with the
// elements around it, not two long slices.
func requireSame[T comparable](t *testing.T, want, got []T, msgAndArgs ...any) {
	t.Helper()
	if slices.Equal(want, got) {
		return
	}
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	lo := max(0, i-5)
	msg := ""
	if len(msgAndArgs) > 0 {
		msg = fmt.Sprintf(fmt.Sprint(msgAndArgs[0]), msgAndArgs[1:]...) + ": "
	}
	t.Fatalf("%sgot %d elements, want %d; first difference at index %d:\n want[%d:] %v\n got[%d:]  %v",
		msg, len(got), len(want), i, lo, want[lo:min(len(want), i+6)], lo, got[lo:min(len(got), i+6)])
}

// requireArrivedAt requires that element i arrived at want(i).
func requireArrivedAt(t *testing.T, at []time.Duration, want func(i int) time.Duration) {
	t.Helper()
	for i, d := range at {
		if d != want(i) {
			t.Fatalf("element %d arrived at %v, want %v (an element held back while its consumer waited)", i, d, want(i))
		}
	}
}

func TestChunkBurstThenStall(t *testing.T) {
	// A source emits a burst, then stalls for an hour in its own function:
	// the whole burst reaches the sink at once.
	t.Run("generate", func(t *testing.T) {
		for _, c := range chunkCaps {
			for _, n := range []int{1, 15, 16, 17, 100} {
				t.Run(fmt.Sprintf("cap%d/n%d", c, n), func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) {
						p := chunkPipeline(t)
						rec := newArrivals()
						src := stream.Generate(p, func(_ context.Context, emit func(int) error) error {
							for i := range 2 * n {
								if i == n {
									time.Sleep(time.Hour)
								}
								if err := emit(i); err != nil {
									return err
								}
							}
							return nil
						}, capOpts(c)...)
						stream.ForEach(p, identityChain(p, src, 3, "m", c), rec.forEach)
						synctest.Wait()
						vals, _ := rec.get()
						requireSame(t, seq(n), vals, "the burst reached the sink before the source stalled")
						require.NoError(t, p.Wait())
						vals, at := rec.get()
						requireSame(t, seq(2*n), vals)
						requireArrivedAt(t, at, func(i int) time.Duration { return time.Duration(i/n) * time.Hour })
					})
				})
			}
		}
	})

	// A Map sleeps an hour on one element: every element before it reaches
	// the sink at once, whichever stage of the chain sleeps.
	t.Run("slow-map", func(t *testing.T) {
		for _, c := range chunkCaps {
			for _, at := range []int{0, 1, 16, 17, 50} {
				for pos := range 3 {
					t.Run(fmt.Sprintf("cap%d/at%d/pos%d", c, at, pos), func(t *testing.T) {
						synctest.Test(t, func(t *testing.T) {
							p := chunkPipeline(t)
							rec := newArrivals()
							ch := stream.FromSlice(p, seq(100), capOpts(c)...)
							for i := range 3 {
								ch = stream.Map(p, ch, func(_ context.Context, v int) (int, error) {
									if i == pos && v == at {
										time.Sleep(time.Hour)
									}
									return v, nil
								}, capOpts(c)...)
							}
							stream.ForEach(p, ch, rec.forEach)
							synctest.Wait()
							vals, _ := rec.get()
							requireSame(t, seq(at), vals, "every element before the slow one reached the sink")
							require.NoError(t, p.Wait())
							vals, got := rec.get()
							requireSame(t, seq(100), vals)
							requireArrivedAt(t, got, func(i int) time.Duration {
								if i < at {
									return 0
								}
								return time.Hour
							})
						})
					})
				}
			}
		}
	})

	// A FlatMap emits 5 values for one element, then blocks until the
	// pipeline ends: the 5 values reach the sink; Stop ends it at once.
	t.Run("flatmap-blocks", func(t *testing.T) {
		for _, c := range chunkCaps {
			t.Run(fmt.Sprintf("cap%d", c), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p := chunkPipeline(t)
					rec := newArrivals()
					ch := identityChain(p, stream.FromSlice(p, seq(10), capOpts(c)...), 1, "a", c)
					ch = stream.FlatMap(p, ch, func(ctx context.Context, v int, emit func(int) error) error {
						if v != 3 {
							return emit(v)
						}
						for j := range 5 {
							if err := emit(300 + j); err != nil {
								return err
							}
						}
						<-ctx.Done()
						return ctx.Err()
					}, capOpts(c)...)
					stream.ForEach(p, identityChain(p, ch, 2, "b", c), rec.forEach)
					want := []int{0, 1, 2, 300, 301, 302, 303, 304}
					require.NoError(t, waitEndsAtOnce(t, p, func() {
						vals, _ := rec.get()
						requireSame(t, want, vals, "what the FlatMap emitted reached the sink while it blocked")
						p.Stop()
					}))
					vals, at := rec.get()
					requireSame(t, want, vals)
					requireArrivedAt(t, at, func(int) time.Duration { return 0 })
				})
			})
		}
	})

	// A slow sink (1ms per element) lets a backlog of 1000 elements form,
	// then the source stalls for an hour: the sink never waits for an
	// element of the backlog, so element i arrives at i ms.
	t.Run("backlog-then-stall", func(t *testing.T) {
		const n = 1000
		for _, c := range chunkCaps {
			t.Run(fmt.Sprintf("cap%d", c), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p := chunkPipeline(t)
					rec := newArrivals()
					var resumed time.Duration // when the source emits its last element
					src := stream.Generate(p, func(_ context.Context, emit func(int) error) error {
						for i := range n + 1 {
							if i == n {
								time.Sleep(time.Hour)
								resumed = time.Since(rec.start)
							}
							if err := emit(i); err != nil {
								return err
							}
						}
						return nil
					}, capOpts(c)...)
					stream.ForEach(p, identityChain(p, src, 2, "m", c), func(ctx context.Context, v int) error {
						rec.add(v)
						time.Sleep(time.Millisecond)
						return nil
					})
					require.NoError(t, p.Wait())
					vals, at := rec.get()
					requireSame(t, seq(n+1), vals)
					requireArrivedAt(t, at, func(i int) time.Duration {
						if i == n {
							return resumed
						}
						return time.Duration(i) * time.Millisecond
					})
				})
			})
		}
	})
}

func TestChunkCallerReadsOutput(t *testing.T) {
	// The caller reads the output of a chain itself, and feeds a channel of
	// its own to a second chain: every element, in order, counted exactly.
	for _, c := range chunkCaps {
		t.Run(fmt.Sprintf("cap%d", c), func(t *testing.T) {
			const n = 3000
			p := chunkPipeline(t)
			a := identityChain(p, stream.FromSlice(p, seq(n), capOpts(c, stream.Name("src"))...), 2, "a", c)
			mid := make(chan int)
			b := identityChain(p, mid, 2, "b", c)
			got := make(chan []int, 1)
			go func() {
				var vals []int
				for v := range b {
					vals = append(vals, v)
				}
				got <- vals
			}()
			i := 0
			for v := range a {
				require.Equal(t, i, v, "the caller reads a chain's output in order")
				i++
				mid <- v
			}
			close(mid)
			require.Equal(t, n, i)
			requireSame(t, seq(n), <-got)
			require.NoError(t, p.Wait())
			for _, s := range p.Stats() {
				if s.Kind != "slice" {
					require.Equal(t, int64(n), s.In, "%s In", s.Name)
				}
				require.Equal(t, int64(n), s.Out, "%s Out", s.Name)
			}
		})
	}

	// The caller reads directly the output of a stage whose input is a
	// source that stalls after a burst: the burst arrives at once.
	t.Run("stall", func(t *testing.T) {
		for _, c := range chunkCaps {
			t.Run(fmt.Sprintf("cap%d", c), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					const n = 37
					p := chunkPipeline(t)
					start := time.Now()
					src := stream.Generate(p, func(_ context.Context, emit func(int) error) error {
						for i := range 2 * n {
							if i == n {
								time.Sleep(time.Hour)
							}
							if err := emit(i); err != nil {
								return err
							}
						}
						return nil
					}, capOpts(c)...)
					i := 0
					for v := range identityChain(p, src, 2, "m", c) {
						require.Equal(t, i, v)
						require.Equal(t, time.Duration(i/n)*time.Hour, time.Since(start), "element %d arrived late", i)
						i++
					}
					require.Equal(t, 2*n, i)
					require.NoError(t, p.Wait())
				})
			})
		}
	})
}

func TestChunkStatsExactWhenIdle(t *testing.T) {
	// A source emits k elements, then waits: once every goroutine is
	// blocked, every stage has counted exactly what went through it and
	// every queue is empty. Three rounds, then the end.
	rounds := []int{1, 16, 17, 100, 15, 1000}
	for _, c := range chunkCaps {
		for _, kind := range []string{"generate", "chan"} {
			t.Run(fmt.Sprintf("cap%d/%s", c, kind), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p := chunkPipeline(t)
					next := make(chan int) // how many to emit next; closed: end
					var src <-chan int
					var feed chan int
					if kind == "generate" {
						src = stream.Generate(p, func(ctx context.Context, emit func(int) error) error {
							i := 0
							for k := range next {
								for range k {
									if err := emit(i); err != nil {
										return err
									}
									i++
								}
							}
							return nil
						}, capOpts(c, stream.Name("src"))...)
					} else {
						feed = make(chan int)
						src = stream.Map(p, feed, func(_ context.Context, v int) (int, error) { return v, nil },
							capOpts(c, stream.Name("src"))...)
					}
					ch := stream.Map(p, src, func(_ context.Context, v int) (int, error) { return v, nil }, capOpts(c, stream.Name("map"))...)
					ch = stream.Filter(p, ch, func(context.Context, int) (bool, error) { return true, nil }, capOpts(c, stream.Name("filter"))...)
					ch = stream.FlatMap(p, ch, func(_ context.Context, v int, emit func(int) error) error { return emit(v) }, capOpts(c, stream.Name("flatmap"))...)
					ch = stream.Scan(p, ch, 0, func(_, v int) int { return v }, capOpts(c, stream.Name("scan"))...)
					ch = stream.Map(p, ch, func(_ context.Context, v int) (int, error) { return v, nil }, capOpts(c, stream.Name("ordered"), stream.Workers(3), stream.Ordered())...)
					ch = stream.Take(p, ch, 1<<30, capOpts(c, stream.Name("take"))...)
					rec := newArrivals()
					stream.ForEach(p, ch, rec.forEach, stream.Name("sink"))

					check := func(total int, final bool) {
						t.Helper()
						for _, s := range p.Stats() {
							if s.Name != "src" || kind == "chan" {
								require.Equal(t, int64(total), s.In, "%s In after %d elements", s.Name, total)
							}
							// A source waiting in its own function may hold back
							// its count (see Pipeline.Stats) until it ends.
							if s.Name != "sink" && (s.Name != "src" || kind == "chan" || final) {
								require.Equal(t, int64(total), s.Out, "%s Out after %d elements", s.Name, total)
							}
							require.Zero(t, s.QueueLen, "%s: elements waiting in an idle pipeline", s.Name)
							if !final && (s.Name != "src" || kind == "chan") {
								require.Zero(t, s.Busy, "%s: busy while waiting for input", s.Name)
							}
							require.Equal(t, final, s.Done, "%s Done", s.Name)
						}
						vals, _ := rec.get()
						requireSame(t, seq(total), vals)
					}
					total := 0
					for _, k := range rounds {
						for i := range k {
							if kind == "generate" {
								if i == 0 {
									next <- k
								}
							} else {
								feed <- total + i
							}
						}
						total += k
						synctest.Wait()
						check(total, false)
					}
					if kind == "generate" {
						close(next)
					} else {
						close(feed)
					}
					require.NoError(t, p.Wait())
					check(total, true)
				})
			})
		}
	}
}

func TestChunkNoCallAfterEnd(t *testing.T) {
	// Stage c ends the pipeline (Stop, an error, a panic, runtime.Goexit,
	// the cancellation of the parent context) on element 50 (8
	// or 32 with less capacity),
	// while up to a few hundred elements wait in chunks before and after
	// it; d, downstream, is blocked in its first calls. From then on no
	// user function starts on a new element (pitfall P21): c is not called
	// again, d's workers return and take nothing more, and the sink is
	// never called. Wait returns without time passing; the bubble checks
	// that no goroutine is left.
	errBoom := errors.New("boom")
	for _, end := range []string{"stop", "fail", "panic", "goexit", "cancel"} {
		for _, c := range []int{-1, 16, 32, 33, 1000} {
			for _, dw := range []int{1, 3} {
				t.Run(fmt.Sprintf("%s/cap%d/d%d", end, c, dw), func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) {
						parent, cancel := context.WithCancel(context.Background())
						defer cancel()
						p := stream.New(parent)
						t.Cleanup(func() { p.Stop(); _ = p.Wait() })
						start := time.Now()
						ch := identityChain(p, stream.FromSlice(p, seq(5000), capOpts(c)...), 1, "b", c)
						// c's last element: c's output has room for those before it.
						last := min(50, capOf(c)/2)
						var (
							ended         atomic.Bool
							cCalls, cLate atomic.Int64
							dCalls, dLate atomic.Int64
							eCalls        atomic.Int64
							dIn           = make(chan struct{}) // closed when every worker of d is in a call
						)
						ch = stream.Map(p, ch, func(_ context.Context, v int) (int, error) {
							if ended.Load() {
								cLate.Add(1)
							}
							cCalls.Add(1)
							if v == last {
								<-dIn
								switch end {
								case "stop":
									p.Stop()
									ended.Store(true)
								case "fail":
									ended.Store(true)
									return 0, errBoom
								case "panic":
									ended.Store(true)
									panic(errBoom)
								case "goexit":
									ended.Store(true)
									runtime.Goexit()
								case "cancel":
									cancel()
									ended.Store(true)
								}
							}
							return v, nil
						}, capOpts(c, stream.Name("c"))...)
						dOpts := capOpts(c, stream.Name("d"))
						if dw > 1 {
							dOpts = append(dOpts, stream.Workers(dw), stream.Ordered())
						}
						ch = stream.Map(p, ch, func(ctx context.Context, v int) (int, error) {
							switch n := dCalls.Add(1); {
							case n < int64(dw):
							case n == int64(dw):
								close(dIn)
							default:
								dLate.Add(1)
								return v, nil
							}
							<-ctx.Done()
							return v, nil
						}, dOpts...)
						stream.ForEach(p, ch, func(context.Context, int) error {
							eCalls.Add(1)
							return nil
						})
						err := p.Wait()
						require.Equal(t, start, time.Now(), "Wait returned at once")
						switch end {
						case "stop":
							require.NoError(t, err)
						case "fail":
							require.ErrorIs(t, err, errBoom)
						case "panic":
							var pe *stream.PanicError
							require.ErrorAs(t, err, &pe)
						case "goexit":
							require.ErrorIs(t, err, stream.ErrGoexit)
						case "cancel":
							require.ErrorIs(t, err, context.Canceled)
						}
						require.Zero(t, cLate.Load(), "calls of c after the end")
						require.Equal(t, int64(last+1), cCalls.Load(), "calls of c")
						require.Zero(t, dLate.Load(), "calls of d after the end")
						require.Zero(t, eCalls.Load(), "calls of the sink after the end")
					})
				})
			}
		}
	}
}

func TestChunkEarlyRelease(t *testing.T) {
	// Take, First and a Values loop that breaks release a long chain fed
	// by an infinite source: the chain stops, the source stops emitting,
	// and it emitted no more than the chain could hold.
	const maxEmits = 1 << 20 // far beyond any bound: the release did not stop it
	const stages = 5
	for _, c := range chunkCaps {
		for _, how := range []string{"take", "first", "values", "ordered-take"} {
			t.Run(fmt.Sprintf("cap%d/%s", c, how), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p := chunkPipeline(t)
					var emits atomic.Int64
					src := stream.Generate(p, func(ctx context.Context, emit func(int) error) error {
						for i := 0; ; i++ {
							if emits.Add(1) > maxEmits {
								return errors.New("the source was not released")
							}
							if err := emit(i); err != nil {
								return err
							}
						}
					}, capOpts(c)...)
					ch := identityChain(p, src, stages, "m", c)
					edges := stages + 1 // the source's output, and each Map's
					if how == "ordered-take" {
						ch = stream.Map(p, ch, func(_ context.Context, v int) (int, error) { return v, nil },
							capOpts(c, stream.Workers(4), stream.Ordered())...)
						edges++
					}
					bound := 0
					for range edges {
						bound += edgeBound(c)
					}
					switch how {
					case "take", "ordered-take":
						got, err := stream.Collect(p, stream.Take(p, ch, 5))
						require.NoError(t, err)
						requireSame(t, seq(5), got)
						bound += 5
					case "first":
						v, err := stream.First(p, ch)
						require.NoError(t, err)
						require.Zero(t, v)
						bound++
					case "values":
						i := 0
						for v, err := range stream.Values(p, ch) {
							require.NoError(t, err)
							require.Equal(t, i, v)
							if i++; i == 5 {
								break
							}
						}
						require.NoError(t, p.Wait())
						bound += 5
					}
					for _, s := range p.Stats() {
						require.True(t, s.Done, "%s has stopped", s.Name)
					}
					n := emits.Load()
					require.LessOrEqual(t, n, int64(bound), "elements emitted before the release stopped the source")
					t.Logf("%d emits (bound %d)", n, bound)
				})
			})
		}
	}
}

func TestChunkBoundedMemory(t *testing.T) {
	// A fast source feeds a Map that blocks, through three stages: what the
	// source emits before everything blocks is bounded by what the edges
	// hold. Released, the Map lets every element through in order.
	const n = 5000
	for _, c := range chunkCaps {
		t.Run(fmt.Sprintf("cap%d", c), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := chunkPipeline(t)
				var emits atomic.Int64
				src := stream.Generate(p, func(_ context.Context, emit func(int) error) error {
					for i := range n {
						emits.Add(1)
						if err := emit(i); err != nil {
							return err
						}
					}
					return nil
				}, capOpts(c)...)
				release := make(chan struct{})
				ch := identityChain(p, src, 2, "m", c)
				ch = stream.Map(p, ch, func(ctx context.Context, v int) (int, error) {
					select {
					case <-release:
					case <-ctx.Done(): // the test failed
					}
					return v, nil
				}, capOpts(c, stream.Name("stuck"))...)
				rec := newArrivals()
				stream.ForEach(p, ch, rec.forEach)
				synctest.Wait()
				// Three edges lead to the stuck Map, which holds one element.
				bound := 3*edgeBound(c) + 1
				got := emits.Load()
				t.Logf("%d emitted while stuck (bound %d)", got, bound)
				require.LessOrEqual(t, got, int64(bound), "elements emitted while the chain was stuck")
				for _, s := range p.Stats() {
					require.LessOrEqual(t, s.QueueLen, s.QueueCap, "%s: queue longer than its capacity", s.Name)
				}
				close(release)
				require.NoError(t, p.Wait())
				vals, _ := rec.get()
				requireSame(t, seq(n), vals)
			})
		})
	}
}

// TestChunkTopologies runs Merge, FanOut, Partition, Broadcast and Ordered
// stages between chains of single-worker stages, at every capacity: each
// keeps the order and the multiset it promises.
func TestChunkTopologies(t *testing.T) {
	const n = 2000
	id := func(_ context.Context, v int) (int, error) { return v, nil }
	src := func(p *stream.Pipeline, c, base int) <-chan int {
		ch := stream.Generate(p, func(_ context.Context, emit func(int) error) error {
			for i := range n {
				if err := emit(base + i); err != nil {
					return err
				}
			}
			return nil
		}, capOpts(c)...)
		return identityChain(p, ch, 2, "src"+strconv.Itoa(base)+"-", c)
	}
	// ascending requires that vals is strictly increasing.
	ascending := func(t *testing.T, vals []int, what string) {
		t.Helper()
		for i := 1; i < len(vals); i++ {
			if vals[i] <= vals[i-1] {
				t.Fatalf("%s: %d after %d: order broken", what, vals[i], vals[i-1])
			}
		}
	}
	for _, c := range chunkCaps {
		t.Run(fmt.Sprintf("cap%d", c), func(t *testing.T) {
			t.Run("merge", func(t *testing.T) {
				p := chunkPipeline(t)
				ins := []<-chan int{src(p, c, 0), src(p, c, 10000), src(p, c, 20000)}
				got, err := stream.Collect(p, identityChain(p, stream.Merge(p, ins, capOpts(c)...), 2, "after", c))
				require.NoError(t, err)
				var want []int
				for k := range 3 {
					var part []int
					for _, v := range got {
						if v/10000 == k {
							part = append(part, v)
						}
					}
					requireSame(t, seq(n), subtract(part, k*10000), "input %d's elements, in order", k)
					want = append(want, part...)
				}
				require.Len(t, got, len(want))
			})
			t.Run("merge1", func(t *testing.T) {
				p := chunkPipeline(t)
				got, err := stream.Collect(p, identityChain(p, stream.Merge(p, []<-chan int{src(p, c, 0)}, capOpts(c)...), 2, "after", c))
				require.NoError(t, err)
				requireSame(t, seq(n), got)
			})
			t.Run("fanout", func(t *testing.T) {
				p := chunkPipeline(t)
				outs := stream.FanOut(p, src(p, c, 0), 3, capOpts(c)...)
				var mu sync.Mutex
				branches := make([][]int, len(outs))
				var merged []<-chan int
				for i, out := range outs {
					merged = append(merged, stream.Map(p, identityChain(p, out, 1, "b"+strconv.Itoa(i)+"-", c), func(_ context.Context, v int) (int, error) {
						mu.Lock()
						branches[i] = append(branches[i], v)
						mu.Unlock()
						return v, nil
					}, capOpts(c)...))
				}
				got, err := stream.Collect(p, stream.Merge(p, merged))
				require.NoError(t, err)
				slices.Sort(got)
				requireSame(t, seq(n), got, "every element exactly once")
				for i, b := range branches {
					ascending(t, b, "branch "+strconv.Itoa(i))
				}
			})
			t.Run("partition", func(t *testing.T) {
				p := chunkPipeline(t)
				outs := stream.Partition(p, src(p, c, 0), 4, func(v int) int { return v % 7 }, capOpts(c)...)
				recs := make([]*arrivals, len(outs))
				for i, out := range outs {
					recs[i] = newArrivals()
					stream.ForEach(p, identityChain(p, out, 2, "b"+strconv.Itoa(i)+"-", c), recs[i].forEach)
				}
				require.NoError(t, p.Wait())
				var all []int
				for i, r := range recs {
					vals, _ := r.get()
					ascending(t, vals, "output "+strconv.Itoa(i))
					all = append(all, vals...)
				}
				slices.Sort(all)
				requireSame(t, seq(n), all, "every element exactly once")
			})
			t.Run("broadcast", func(t *testing.T) {
				p := chunkPipeline(t)
				outs := stream.Broadcast(p, src(p, c, 0), 3, capOpts(c)...)
				recs := make([]*arrivals, len(outs))
				for i, out := range outs {
					recs[i] = newArrivals()
					stream.ForEach(p, identityChain(p, out, 2, "b"+strconv.Itoa(i)+"-", c), recs[i].forEach)
				}
				require.NoError(t, p.Wait())
				for i, r := range recs {
					vals, _ := r.get()
					requireSame(t, seq(n), vals, "output %d", i)
				}
			})
			t.Run("ordered", func(t *testing.T) {
				p := chunkPipeline(t)
				ch := stream.Map(p, src(p, c, 0), id, capOpts(c, stream.Workers(4), stream.Ordered())...)
				ch = identityChain(p, ch, 1, "mid", c)
				ch = stream.FlatMap(p, ch, func(_ context.Context, v int, emit func(int) error) error {
					for j := range v % 4 {
						if err := emit(4*v + j); err != nil {
							return err
						}
					}
					return nil
				}, capOpts(c, stream.Workers(3), stream.Ordered())...)
				got, err := stream.Collect(p, identityChain(p, ch, 1, "after", c))
				require.NoError(t, err)
				var want []int
				for v := range n {
					for j := range v % 4 {
						want = append(want, 4*v+j)
					}
				}
				requireSame(t, want, got)
			})
			t.Run("unordered", func(t *testing.T) {
				p := chunkPipeline(t)
				ch := stream.Map(p, src(p, c, 0), id, capOpts(c, stream.Workers(4))...)
				got, err := stream.Collect(p, identityChain(p, ch, 1, "after", c))
				require.NoError(t, err)
				slices.Sort(got)
				requireSame(t, seq(n), got, "every element exactly once")
			})
		})
	}
}

// subtract returns vals minus d, element by element.
func subtract(vals []int, d int) []int {
	out := make([]int, len(vals))
	for i, v := range vals {
		out[i] = v - d
	}
	return out
}

// TestChunkRandomChains builds random chains of stages (Map, Filter,
// FlatMap emitting 0..20 values, Take, Batch with a sum or Flatten, Scan,
// Distinct, Ordered Map and FlatMap) with random capacities around the
// chunk size, and compares what the sink gets, and every stage's counts,
// with a plain-loop model. Rerun a failing seed with
//
//	STREAM_CHUNK_SEED=<seed> STREAM_CHUNK_RUNS=1 go test -race -run TestChunkRandomChains .
func TestChunkRandomChains(t *testing.T) {
	runs := envInt(t, "STREAM_CHUNK_RUNS", 150)
	first := uint64(envInt(t, "STREAM_CHUNK_SEED", 1))
	for i := range runs {
		seed := first + uint64(i)
		kickWatchdog()
		var c chunkChain
		ok := t.Run("seed"+strconv.FormatUint(seed, 10), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { c.run(t, seed) })
		})
		if !ok {
			t.Fatalf("seed %d: %s\nrerun: STREAM_CHUNK_SEED=%d STREAM_CHUNK_RUNS=1 go test -race -run TestChunkRandomChains .", seed, c.plan, seed)
		}
	}
}

// chunkCount is what the model says one stage receives and sends.
type chunkCount struct {
	name    string
	in, out int
	exact   bool // false upstream of a Take that may release its input
}

type chunkChain struct {
	plan   string
	counts []chunkCount
}

const chunkMaxElems = 6000 // the most elements a chain's model may hold at once

func (cc *chunkChain) run(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0x636875))
	p := chunkPipeline(t)
	var plan []string
	capOpt := func() (string, []stream.Option) {
		caps := []int{-1, -1, 0, 1, 15, 16, 17, 32, 64, 1000}
		c := caps[r.IntN(len(caps))]
		if c < 0 {
			return "", nil
		}
		return ",c" + strconv.Itoa(c), []stream.Option{stream.Capacity(c)}
	}
	stageName := func() string { return "s" + strconv.Itoa(len(cc.counts)) }
	add := func(in, out int, desc string) {
		plan = append(plan, stageName()+":"+desc)
		cc.counts = append(cc.counts, chunkCount{name: stageName(), in: in, out: out, exact: true})
	}

	// The source.
	n := r.IntN(600)
	if r.IntN(10) == 0 {
		n = r.IntN(3)
	}
	items := make([]int64, n)
	for i := range items {
		items[i] = int64(mix(seed, uint64(i)) % 1000)
	}
	model := items
	desc, opts := capOpt()
	opts = append(opts, stream.Name(stageName()))
	var ch <-chan int64
	switch r.IntN(3) {
	case 0:
		ch = stream.FromSlice(p, items, opts...)
		desc = "slice" + desc
	case 1:
		ch = stream.Generate(p, func(_ context.Context, emit func(int64) error) error {
			for _, v := range items {
				if err := emit(v); err != nil {
					return err
				}
			}
			return nil
		}, opts...)
		desc = "generate" + desc
	default:
		ch = stream.FromSeq(p, slices.Values(items), opts...)
		desc = "seq" + desc
	}
	add(0, n, fmt.Sprintf("%s(%d)", desc, n))

	for range 3 + r.IntN(8) {
		in := model
		salt := r.Uint64()
		desc, opts := capOpt()
		name := stageName()
		opts = append(opts, stream.Name(name))
		switch op := r.IntN(10); {
		case op == 0:
			ch = stream.Map(p, ch, func(_ context.Context, v int64) (int64, error) { return v*31 + int64(salt%1000), nil }, opts...)
			model = chunkMap(in, func(v int64) []int64 { return []int64{v*31 + int64(salt%1000)} })
			add(len(in), len(model), "map"+desc)
		case op == 1:
			m := []uint64{1, 2, 3, 5, 100}[r.IntN(5)]
			keep := func(v int64) bool { return mix(uint64(v), salt)%m != 0 }
			ch = stream.Filter(p, ch, func(_ context.Context, v int64) (bool, error) { return keep(v), nil }, opts...)
			model = chunkMap(in, func(v int64) []int64 {
				if keep(v) {
					return []int64{v}
				}
				return nil
			})
			add(len(in), len(model), fmt.Sprintf("filter%d%s", m, desc))
		case op == 2 && len(in)*10 <= chunkMaxElems:
			k := func(v int64) int64 { return int64(mix(uint64(v), salt) % 21) }
			ch = stream.FlatMap(p, ch, func(_ context.Context, v int64, emit func(int64) error) error {
				for j := range k(v) {
					if err := emit(v + j); err != nil {
						return err
					}
				}
				return nil
			}, opts...)
			model = chunkMap(in, func(v int64) []int64 {
				var out []int64
				for j := range k(v) {
					out = append(out, v+j)
				}
				return out
			})
			add(len(in), len(model), "flatmap"+desc)
		case op == 3:
			k := r.IntN(len(in) + 20)
			ch = stream.Take(p, ch, k, opts...)
			model = in[:min(k, len(in))]
			if k <= len(in) {
				// The Take releases its input: what came before may be cut short.
				for i := range cc.counts {
					cc.counts[i].exact = false
				}
			}
			add(len(model), len(model), fmt.Sprintf("take%d%s", k, desc))
		case op == 4:
			size := 1 + r.IntN(40)
			b := stream.Batch(p, ch, size, 0, opts...)
			var batches [][]int64
			for i := 0; i < len(in); i += size {
				batches = append(batches, in[i:min(i+size, len(in))])
			}
			add(len(in), len(batches), fmt.Sprintf("batch%d%s", size, desc))
			desc, opts := capOpt()
			opts = append(opts, stream.Name(stageName()))
			if r.IntN(2) == 0 {
				sum := func(b []int64) int64 {
					s := int64(len(b)) << 32
					for _, v := range b {
						s += v
					}
					return s
				}
				ch = stream.Map(p, b, func(_ context.Context, b []int64) (int64, error) { return sum(b), nil }, opts...)
				model = nil
				for _, b := range batches {
					model = append(model, sum(b))
				}
				add(len(batches), len(model), "sum"+desc)
			} else {
				ch = stream.Flatten(p, b, opts...)
				add(len(batches), len(in), "flatten"+desc)
			}
		case op == 5:
			ch = stream.Scan(p, ch, int64(salt%7), func(a, v int64) int64 { return a*3 + v }, opts...)
			acc := int64(salt % 7)
			model = chunkMap(in, func(v int64) []int64 {
				acc = acc*3 + v
				return []int64{acc}
			})
			add(len(in), len(model), "scan"+desc)
		case op == 6:
			keys, memory := int64(1+r.IntN(20)), 1+r.IntN(8)
			ch = stream.Distinct(p, ch, func(v int64) int64 { return v % keys }, memory, opts...)
			var recent []int64 // most recent first
			model = chunkMap(in, func(v int64) []int64 {
				k := v % keys
				if i := slices.Index(recent, k); i >= 0 {
					recent = slices.Insert(slices.Delete(recent, i, i+1), 0, k)
					return nil
				}
				recent = slices.Insert(recent, 0, k)
				if len(recent) > memory {
					recent = recent[:memory]
				}
				return []int64{v}
			})
			add(len(in), len(model), fmt.Sprintf("distinct%d/%d%s", keys, memory, desc))
		case op == 7:
			w := 2 + r.IntN(3)
			opts = append(opts, stream.Workers(w), stream.Ordered())
			ch = stream.Map(p, ch, func(_ context.Context, v int64) (int64, error) { return v ^ int64(salt%1024), nil }, opts...)
			model = chunkMap(in, func(v int64) []int64 { return []int64{v ^ int64(salt%1024)} })
			add(len(in), len(model), fmt.Sprintf("map-w%d-ord%s", w, desc))
		case op == 8 && len(in)*2 <= chunkMaxElems:
			w := 2 + r.IntN(3)
			opts = append(opts, stream.Workers(w), stream.Ordered())
			k := func(v int64) int64 { return int64(mix(uint64(v), salt) % 4) }
			ch = stream.FlatMap(p, ch, func(_ context.Context, v int64, emit func(int64) error) error {
				for j := range k(v) {
					if err := emit(v*4 + j); err != nil {
						return err
					}
				}
				return nil
			}, opts...)
			model = chunkMap(in, func(v int64) []int64 {
				var out []int64
				for j := range k(v) {
					out = append(out, v*4+j)
				}
				return out
			})
			add(len(in), len(model), fmt.Sprintf("flatmap-w%d-ord%s", w, desc))
		default:
			ch = stream.Map(p, ch, func(_ context.Context, v int64) (int64, error) { return v + 1, nil }, opts...)
			model = chunkMap(in, func(v int64) []int64 { return []int64{v + 1} })
			add(len(in), len(model), "inc"+desc)
		}
	}

	// The sink.
	var got []int64
	var err error
	sink := r.IntN(3)
	plan = append(plan, []string{"collect", "values", "caller"}[sink])
	cc.plan = strings.Join(plan, " → ")
	switch sink {
	case 0:
		got, err = stream.Collect(p, ch)
	case 1:
		for v, e := range stream.Values(p, ch) {
			if e != nil {
				err = e
				break
			}
			got = append(got, v)
		}
	default:
		for v := range ch {
			got = append(got, v)
		}
		err = p.Wait()
	}
	require.NoError(t, err)
	require.Equal(t, len(model), len(got), "elements at the sink")
	if len(model) > 0 {
		requireSame(t, model, got, "the sink's elements, in order")
	}

	stats := map[string]stream.StageStats{}
	for _, s := range p.Stats() {
		stats[s.Name] = s
		require.True(t, s.Done, "%s done", s.Name)
		if s.Kind == "collect" || s.Kind == "values" {
			require.Equal(t, int64(len(model)), s.In, "the sink's In")
		}
	}
	for i, want := range cc.counts {
		s := stats[want.name]
		if want.exact {
			if i > 0 {
				require.Equal(t, int64(want.in), s.In, "%s In", want.name)
			}
			require.Equal(t, int64(want.out), s.Out, "%s Out", want.name)
		} else {
			require.LessOrEqual(t, s.In, int64(want.in), "%s In", want.name)
			require.LessOrEqual(t, s.Out, int64(want.out), "%s Out", want.name)
		}
		if i > 0 {
			require.LessOrEqual(t, s.In, stats[cc.counts[i-1].name].Out, "%s received more than its producer sent", want.name)
		}
	}
}

// chunkMap applies f to every element of in and concatenates the results.
func chunkMap(in []int64, f func(int64) []int64) []int64 {
	var out []int64
	for _, v := range in {
		out = append(out, f(v)...)
	}
	return out
}

// chunkKind is a stage that passes each element on at once: it consumes a
// chunked edge and produces one.
type chunkKind struct {
	name      string
	unordered bool
	apply     func(p *stream.Pipeline, in <-chan int, c int) <-chan int
}

func chunkKinds() []chunkKind {
	id := func(_ context.Context, v int) (int, error) { return v, nil }
	return []chunkKind{
		{"map", false, func(p *stream.Pipeline, in <-chan int, c int) <-chan int { return stream.Map(p, in, id, capOpts(c)...) }},
		{"filter", false, func(p *stream.Pipeline, in <-chan int, c int) <-chan int {
			return stream.Filter(p, in, func(context.Context, int) (bool, error) { return true, nil }, capOpts(c)...)
		}},
		{"flatmap", false, func(p *stream.Pipeline, in <-chan int, c int) <-chan int {
			return stream.FlatMap(p, in, func(_ context.Context, v int, emit func(int) error) error { return emit(v) }, capOpts(c)...)
		}},
		{"take", false, func(p *stream.Pipeline, in <-chan int, c int) <-chan int {
			return stream.Take(p, in, 1<<30, capOpts(c)...)
		}},
		{"scan", false, func(p *stream.Pipeline, in <-chan int, c int) <-chan int {
			return stream.Scan(p, in, 0, func(_, v int) int { return v }, capOpts(c)...)
		}},
		{"distinct", false, func(p *stream.Pipeline, in <-chan int, c int) <-chan int {
			return stream.Distinct(p, in, func(v int) int { return v }, 1<<16, capOpts(c)...)
		}},
		{"batch1-flatten", false, func(p *stream.Pipeline, in <-chan int, c int) <-chan int {
			return stream.Flatten(p, stream.Batch(p, in, 1, 0, capOpts(c)...), capOpts(c)...)
		}},
		{"merge1", false, func(p *stream.Pipeline, in <-chan int, c int) <-chan int {
			return stream.Merge(p, []<-chan int{in}, capOpts(c)...)
		}},
		{"merge2", false, func(p *stream.Pipeline, in <-chan int, c int) <-chan int {
			// A second input that ends at once: the output has two workers.
			return stream.Merge(p, []<-chan int{in, stream.FromSlice[int](p, nil)}, capOpts(c)...)
		}},
		{"zip", false, func(p *stream.Pipeline, in <-chan int, c int) <-chan int {
			z := stream.Zip(p, in, stream.FromSlice(p, seq(1<<12), capOpts(c)...), capOpts(c)...)
			return stream.Map(p, z, func(_ context.Context, pr stream.Pair[int, int]) (int, error) { return pr.First, nil }, capOpts(c)...)
		}},
		{"throttle", false, func(p *stream.Pipeline, in <-chan int, c int) <-chan int {
			return stream.Throttle(p, in, 1e9, 1<<20, capOpts(c)...)
		}},
		{"buffer", false, func(p *stream.Pipeline, in <-chan int, _ int) <-chan int {
			return stream.Buffer(p, in, 100, stream.Block)
		}},
		{"partition1", false, func(p *stream.Pipeline, in <-chan int, c int) <-chan int {
			return stream.Partition(p, in, 1, func(v int) int { return v }, capOpts(c)...)[0]
		}},
		{"broadcast1", false, func(p *stream.Pipeline, in <-chan int, c int) <-chan int {
			return stream.Broadcast(p, in, 1, capOpts(c)...)[0]
		}},
		{"map-w3", true, func(p *stream.Pipeline, in <-chan int, c int) <-chan int {
			return stream.Map(p, in, id, capOpts(c, stream.Workers(3))...)
		}},
		{"map-adaptive", true, func(p *stream.Pipeline, in <-chan int, c int) <-chan int {
			return stream.Map(p, in, id, capOpts(c, stream.AdaptiveWorkers(1, 3, time.Millisecond))...)
		}},
		{"map-w3-ordered", false, func(p *stream.Pipeline, in <-chan int, c int) <-chan int {
			return stream.Map(p, in, id, capOpts(c, stream.Workers(3), stream.Ordered())...)
		}},
		{"flatmap-w2-ordered", false, func(p *stream.Pipeline, in <-chan int, c int) <-chan int {
			return stream.FlatMap(p, in, func(_ context.Context, v int, emit func(int) error) error { return emit(v) },
				capOpts(c, stream.Workers(2), stream.Ordered())...)
		}},
	}
}

// TestChunkStallEveryKind: a source (Generate, or a FromSeq iterator)
// emits a burst and then stalls for an hour in its own code; between it
// and a sink (ForEach, a Values loop, the caller's own loop) stand a stage
// of each kind and a Map. The whole burst reaches the sink at once, in
// order (as a set after an unordered Workers stage), and the rest after
// the stall.
func TestChunkStallEveryKind(t *testing.T) {
	const n = 37 // two chunks and a bit
	for _, k := range chunkKinds() {
		for _, c := range []int{-1, 33} {
			for _, src := range []string{"generate", "seq"} {
				for _, sink := range []string{"foreach", "values", "caller"} {
					t.Run(fmt.Sprintf("%s/cap%d/%s/%s", k.name, c, src, sink), func(t *testing.T) {
						synctest.Test(t, func(t *testing.T) {
							p := chunkPipeline(t)
							var in <-chan int
							if src == "generate" {
								in = stream.Generate(p, func(_ context.Context, emit func(int) error) error {
									for i := range 2 * n {
										if i == n {
											time.Sleep(time.Hour)
										}
										if err := emit(i); err != nil {
											return err
										}
									}
									return nil
								}, capOpts(c)...)
							} else {
								in = stream.FromSeq(p, func(yield func(int) bool) {
									for i := range 2 * n {
										if i == n {
											time.Sleep(time.Hour)
										}
										if !yield(i) {
											return
										}
									}
								}, capOpts(c)...)
							}
							out := identityChain(p, k.apply(p, in, c), 1, "after", c)
							rec := newArrivals()
							switch sink {
							case "foreach":
								stream.ForEach(p, out, rec.forEach)
								synctest.Wait()
								vals, _ := rec.get()
								require.Len(t, vals, n, "the burst reached the sink before the source stalled")
							case "values":
								for v, err := range stream.Values(p, out) {
									require.NoError(t, err)
									rec.add(v)
								}
							case "caller":
								for v := range out {
									rec.add(v)
								}
							}
							require.NoError(t, p.Wait())
							vals, at := rec.get()
							if k.unordered {
								for half := range 2 {
									part := vals[half*n : (half+1)*n]
									slices.Sort(part)
								}
							}
							requireSame(t, seq(2*n), vals)
							requireArrivedAt(t, at, func(i int) time.Duration { return time.Duration(i/n) * time.Hour })
						})
					})
				}
			}
		}
	}
}

// TestChunkLateConsumer: a chain runs, and fills its output, before the
// stage that consumes that output is added (a pipeline built step by step
// while its first stages already run): the elements already queued come
// first, in order, then the rest, and the counts add up.
func TestChunkLateConsumer(t *testing.T) {
	type run struct{ n, c int }
	var runs []run
	for _, c := range []int{-1, 0, 17, 32, 33, 1000} {
		runs = append(runs, run{3000, c})
	}
	// The chain ends before the consumer comes.
	runs = append(runs, run{10, -1}, run{10, 33})
	for _, k := range chunkKinds() {
		for _, r := range runs {
			n, c := r.n, r.c
			t.Run(fmt.Sprintf("%s/cap%d/n%d", k.name, c, n), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p := chunkPipeline(t)
					src := stream.Generate(p, func(_ context.Context, emit func(int) error) error {
						for i := range n {
							if err := emit(i); err != nil {
								return err
							}
						}
						return nil
					}, capOpts(c, stream.Name("src"))...)
					early := identityChain(p, src, 2, "early", c)
					synctest.Wait() // every stage so far blocks on a full output
					mid := k.apply(p, early, c)
					synctest.Wait()
					got, err := stream.Collect(p, identityChain(p, mid, 1, "late", c))
					require.NoError(t, err)
					if k.unordered {
						slices.Sort(got)
					}
					requireSame(t, seq(n), got)
					for _, s := range p.Stats() {
						if strings.HasPrefix(s.Name, "early") || strings.HasPrefix(s.Name, "late") {
							require.Equal(t, int64(n), s.In, "%s In", s.Name)
							require.Equal(t, int64(n), s.Out, "%s Out", s.Name)
						}
					}
				})
			})
		}
	}
}

// TestChunkStatsExactStuckConsumer: a Map waits on its input (the source
// waits in its own function) while its consumer is stuck in its function
// on the first element, so nobody takes what the Map sent: its counts are
// exact all the same (it waits on its input), and so are the consumer's.
func TestChunkStatsExactStuckConsumer(t *testing.T) {
	for _, c := range chunkCaps {
		for _, k := range []int{1, 15, 16, 17, 40} {
			if k > capOf(c)+1 {
				continue // m would wait on its output, the edge full
			}
			t.Run(fmt.Sprintf("cap%d/k%d", c, k), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p := chunkPipeline(t)
					src := stream.Generate(p, func(ctx context.Context, emit func(int) error) error {
						for i := range k {
							if err := emit(i); err != nil {
								return err
							}
						}
						<-ctx.Done()
						return nil
					}, capOpts(c)...)
					m := stream.Map(p, src, func(_ context.Context, v int) (int, error) { return v, nil }, capOpts(c, stream.Name("m"))...)
					release := make(chan struct{})
					stuck := stream.Map(p, m, func(ctx context.Context, v int) (int, error) {
						select {
						case <-release:
						case <-ctx.Done(): // the test failed
						}
						return v, nil
					}, capOpts(c, stream.Name("stuck"))...)
					rec := newArrivals()
					stream.ForEach(p, stuck, rec.forEach)
					synctest.Wait()
					st := statsOf(t, p, "m")
					require.Equal(t, int64(k), st.In, "m In")
					require.Equal(t, int64(k), st.Out, "m Out: m waits on its input")
					close(release)
					synctest.Wait()
					vals, _ := rec.get()
					requireSame(t, seq(k), vals)
					require.Equal(t, int64(k), statsOf(t, p, "stuck").Out)
				})
			})
		}
	}
}

// TestChunkBoundedMemoryLateConsumer: a chain fills its output before its
// consumer is added, and that consumer gets stuck on its first element.
// The edge to it still holds no more than its capacity plus a chunk at each
// end: the elements queued before the consumer came count against the
// same capacity as those that follow.
func TestChunkBoundedMemoryLateConsumer(t *testing.T) {
	for _, c := range chunkCaps {
		t.Run(fmt.Sprintf("cap%d", c), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const n = 5000
				p := chunkPipeline(t)
				var emits atomic.Int64
				src := stream.Generate(p, func(_ context.Context, emit func(int) error) error {
					for i := range n {
						emits.Add(1)
						if err := emit(i); err != nil {
							return err
						}
					}
					return nil
				}, capOpts(c)...)
				m := stream.Map(p, src, func(_ context.Context, v int) (int, error) { return v, nil }, capOpts(c, stream.Name("m"))...)
				synctest.Wait() // both edges full
				before := emits.Load()
				release := make(chan struct{})
				stuck := stream.Map(p, m, func(ctx context.Context, v int) (int, error) {
					select {
					case <-release:
					case <-ctx.Done(): // the test failed
					}
					return v, nil
				}, capOpts(c, stream.Name("stuck"))...)
				rec := newArrivals()
				stream.ForEach(p, stuck, rec.forEach)
				synctest.Wait()
				// m has sent Out and stuck took In (1): the rest waits on
				// the edge between them, or in m's hands.
				held := statsOf(t, p, "m").Out - statsOf(t, p, "stuck").In
				got := emits.Load()
				t.Logf("emitted %d before the consumer came, %d after; %d on the edge to it (bound %d)", before, got, held, edgeBound(c))
				require.LessOrEqual(t, held, int64(edgeBound(c)), "elements on the edge to the stuck consumer")
				st := statsOf(t, p, "m")
				require.LessOrEqual(t, st.QueueLen, st.QueueCap, "m: queue longer than its capacity")
				require.LessOrEqual(t, got, int64(2*edgeBound(c)+1), "elements emitted")
				close(release)
				require.NoError(t, p.Wait())
				vals, _ := rec.get()
				requireSame(t, seq(n), vals)
			})
		})
	}
}

// TestChunkCapacityAbsorbsBurst: Capacity(c) lets a producer run c
// elements ahead of a consumer that is stuck on an element (the meaning of
// a channel's capacity, and what Broadcast's documentation relies on: "give
// a branch Capacity to absorb bursts"). A source emits c+1 elements, c for
// the edge and one for the stuck consumer's hands, and must get all of them
// out without waiting; behind a Map, 2c+2 (the Map's edge and hands too).
// The source emits them at once, or one per millisecond ("trickle"): then
// the Map waits for its input between elements, and each element it sends
// must still take one element of the capacity, not a whole chunk's place.
func TestChunkCapacityAbsorbsBurst(t *testing.T) {
	for _, c := range chunkCaps {
		for _, via := range []string{"direct", "map", "direct-trickle", "map-trickle"} {
			t.Run(fmt.Sprintf("cap%d/%s", c, via), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p := chunkPipeline(t)
					burst := capOf(c) + 1
					viaMap := strings.HasPrefix(via, "map")
					if viaMap {
						burst *= 2
					}
					trickle := strings.HasSuffix(via, "trickle")
					var emitted atomic.Int64
					src := stream.Generate(p, func(ctx context.Context, emit func(int) error) error {
						for i := range burst {
							if trickle {
								time.Sleep(time.Millisecond)
							}
							if err := emit(i); err != nil {
								return err
							}
							emitted.Add(1)
						}
						<-ctx.Done()
						return nil
					}, capOpts(c)...)
					if viaMap {
						src = stream.Map(p, src, func(_ context.Context, v int) (int, error) { return v, nil }, capOpts(c)...)
					}
					release := make(chan struct{})
					stream.ForEach(p, src, func(ctx context.Context, v int) error {
						select {
						case <-release:
						case <-ctx.Done():
						}
						return nil
					})
					time.Sleep(time.Duration(burst+1) * time.Millisecond)
					synctest.Wait()
					require.Equal(t, int64(burst), emitted.Load(), "elements emitted while the consumer is stuck (capacity %d)", capOf(c))
					close(release)
					p.Stop()
					require.NoError(t, p.Wait())
				})
			})
		}
	}
}

// TestChunkTimedConsumers: stages that act on the clock read a source that
// emits a burst of 10 at time 0, stalls for an hour, and emits 10 more
// (directly, or through a Map): Batch with maxWait emits each burst one
// second after its first element, a tumbling window of a second puts each
// burst in a pane of its own, and Debounce emits the last of each burst a
// second after it. An element held back until the stall ends would land
// in the wrong batch, window or quiet period.
func TestChunkTimedConsumers(t *testing.T) {
	const n = 10
	burstThenStall := func(p *stream.Pipeline, c int, viaMap bool) <-chan int {
		ch := stream.Generate(p, func(_ context.Context, emit func(int) error) error {
			for i := range 2 * n {
				if i == n {
					time.Sleep(time.Hour)
				}
				if err := emit(i); err != nil {
					return err
				}
			}
			return nil
		}, capOpts(c)...)
		if viaMap {
			ch = identityChain(p, ch, 1, "m", c)
		}
		return ch
	}
	type got struct {
		at   time.Duration
		what string
	}
	for _, c := range []int{-1, 16, 33, 1000} {
		for _, viaMap := range []bool{false, true} {
			name := fmt.Sprintf("cap%d/map%v", c, viaMap)
			t.Run("batch/"+name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p := chunkPipeline(t)
					start := time.Now()
					var res []got
					stream.ForEach(p, stream.Batch(p, burstThenStall(p, c, viaMap), 100, time.Second, capOpts(c)...),
						func(_ context.Context, b []int) error {
							res = append(res, got{time.Since(start), fmt.Sprint(b)})
							return nil
						})
					require.NoError(t, p.Wait())
					require.Equal(t, []got{
						{time.Second, fmt.Sprint(seq(n))},
						{time.Hour, fmt.Sprint(subtract(seq(n), -n))}, // the input's end flushes it
					}, res)
				})
			})
			t.Run("window/"+name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p := chunkPipeline(t)
					start := time.Now()
					var res []got
					panes := stream.WindowReduce(p, burstThenStall(p, c, viaMap), stream.Tumbling(time.Second),
						func(int) int { return 0 }, 0, func(a, v int) int { return a + v }, capOpts(c)...)
					stream.ForEach(p, panes, func(_ context.Context, pn stream.Pane[int, int]) error {
						res = append(res, got{time.Since(start), fmt.Sprintf("[%v,%v) count %d sum %d",
							pn.Start.Sub(start), pn.End.Sub(start), pn.Count, pn.Value)})
						return nil
					})
					require.NoError(t, p.Wait())
					require.Equal(t, []got{
						{time.Second, "[0s,1s) count 10 sum 45"},
						{time.Hour, "[1h0m0s,1h0m1s) count 10 sum 145"}, // the input's end closes it
					}, res)
				})
			})
			t.Run("debounce/"+name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p := chunkPipeline(t)
					start := time.Now()
					var res []got
					stream.ForEach(p, stream.Debounce(p, burstThenStall(p, c, viaMap), time.Second, capOpts(c)...),
						func(_ context.Context, v int) error {
							res = append(res, got{time.Since(start), strconv.Itoa(v)})
							return nil
						})
					require.NoError(t, p.Wait())
					require.Equal(t, []got{{time.Second, strconv.Itoa(n - 1)}, {time.Hour, strconv.Itoa(2*n - 1)}}, res)
				})
			})
		}
	}
}

// TestChunkBufferDrops: a dropping Buffer reads a chunked chain fed fast
// and feeds a slow sink: every element is either received, in order, or
// dropped (passed to OnDrop and counted in Dropped), exactly once.
func TestChunkBufferDrops(t *testing.T) {
	const n = 500
	for _, c := range []int{-1, 16, 33, 1000} {
		for _, ov := range []stream.Overflow{stream.DropNewest, stream.DropOldest} {
			t.Run(fmt.Sprintf("cap%d/%v", c, ov), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p := chunkPipeline(t)
					var dropped []int // OnDrop calls never overlap
					ch := identityChain(p, stream.FromSlice(p, seq(n), capOpts(c)...), 2, "m", c)
					ch = stream.Buffer(p, ch, 8, ov, stream.Name("buffer"), stream.OnDrop(func(v int) { dropped = append(dropped, v) }))
					rec := newArrivals()
					stream.ForEach(p, ch, func(ctx context.Context, v int) error {
						rec.add(v)
						time.Sleep(time.Millisecond)
						return nil
					})
					require.NoError(t, p.Wait())
					got, _ := rec.get()
					for i := 1; i < len(got); i++ {
						require.Less(t, got[i-1], got[i], "order")
					}
					all := append(slices.Clone(got), dropped...)
					slices.Sort(all)
					requireSame(t, seq(n), all, "every element received or dropped, once")
					st := statsOf(t, p, "buffer")
					require.Equal(t, int64(n), st.In)
					require.Equal(t, int64(len(dropped)), st.Dropped)
					require.NotZero(t, st.Dropped, "a slow sink makes the buffer drop")
				})
			})
		}
	}
}

// TestChunkBigElements: elements too big to be worth chunking (2 KiB
// each, 32 KiB a chunk) and small structs with pointers go through a
// stalling chain like ints: at once, in order, intact.
func TestChunkBigElements(t *testing.T) {
	type big struct {
		i int
		_ [2048]byte // too big to chunk
	}
	type ptr struct {
		i int
		s *string
	}
	run := func(t *testing.T, c int, kind string) {
		synctest.Test(t, func(t *testing.T) {
			const n = 40
			p := chunkPipeline(t)
			rec := newArrivals()
			switch kind {
			case "big":
				src := stream.Generate(p, func(_ context.Context, emit func(big) error) error {
					for i := range 2 * n {
						if i == n {
							time.Sleep(time.Hour)
						}
						if err := emit(big{i: i}); err != nil {
							return err
						}
					}
					return nil
				}, capOpts(c)...)
				m := stream.Map(p, src, func(_ context.Context, v big) (big, error) { return v, nil }, capOpts(c)...)
				stream.ForEach(p, m, func(ctx context.Context, v big) error { return rec.forEach(ctx, v.i) })
			case "ptr":
				src := stream.Generate(p, func(_ context.Context, emit func(ptr) error) error {
					for i := range 2 * n {
						if i == n {
							time.Sleep(time.Hour)
						}
						s := strconv.Itoa(i)
						if err := emit(ptr{i: i, s: &s}); err != nil {
							return err
						}
					}
					return nil
				}, capOpts(c)...)
				m := stream.Map(p, src, func(_ context.Context, v ptr) (ptr, error) { return v, nil }, capOpts(c)...)
				stream.ForEach(p, m, func(ctx context.Context, v ptr) error {
					if *v.s != strconv.Itoa(v.i) {
						return fmt.Errorf("element %d carries %q", v.i, *v.s)
					}
					return rec.forEach(ctx, v.i)
				})
			}
			synctest.Wait()
			vals, _ := rec.get()
			requireSame(t, seq(n), vals, "the burst reached the sink before the source stalled")
			require.NoError(t, p.Wait())
			vals, at := rec.get()
			requireSame(t, seq(2*n), vals)
			requireArrivedAt(t, at, func(i int) time.Duration { return time.Duration(i/n) * time.Hour })
		})
	}
	for _, c := range []int{-1, 33, 1000} {
		for _, kind := range []string{"big", "ptr"} {
			t.Run(fmt.Sprintf("%s/cap%d", kind, c), func(t *testing.T) { run(t, c, kind) })
		}
	}
}

// TestChunkElementsNotRetained: recycled chunks keep no element alive (the
// package doc: "Elements are not retained after they are handed on"). Big
// elements go through a chain of single-worker stages, all at once or in
// small bursts that the sink catches up with (so that chunks are stolen
// half full and recycled); once the sink has seen them, they are collected
// while the pipeline still runs.
func TestChunkElementsNotRetained(t *testing.T) {
	const n = 200
	type blob [16 << 10]byte
	for _, burst := range []int{n, 3} {
		t.Run(fmt.Sprintf("burst%d", burst), func(t *testing.T) {
			var collected, seen atomic.Int64
			p := chunkPipeline(t)
			more := make(chan struct{})
			src := stream.Generate(p, func(ctx context.Context, emit func(*blob) error) error {
				for i := range n {
					if i%burst == 0 {
						for seen.Load() < int64(i) { // let the sink catch up
							runtime.Gosched()
						}
					}
					b := &blob{}
					runtime.AddCleanup(b, func(*atomic.Int64) { collected.Add(1) }, &collected)
					if err := emit(b); err != nil {
						return err
					}
				}
				select { // stay alive, holding the pipeline open
				case <-more:
				case <-ctx.Done():
				}
				return nil
			})
			id := func(_ context.Context, b *blob) (*blob, error) { return b, nil }
			c := stream.Map(p, src, id)
			c = stream.Filter(p, c, func(context.Context, *blob) (bool, error) { return true, nil })
			c = stream.FlatMap(p, c, func(_ context.Context, b *blob, emit func(*blob) error) error { return emit(b) })
			c = stream.Scan(p, c, nil, func(_ *blob, b *blob) *blob { return b })
			c = stream.Map(p, c, id)
			stream.ForEach(p, c, func(context.Context, *blob) error { seen.Add(1); return nil })
			for seen.Load() < n {
				runtime.Gosched()
			}
			var got int64
			for range 1000 {
				runtime.GC()
				if got = collected.Load(); got >= n-4 {
					break
				}
				runtime.Gosched() // cleanups run on their own goroutine: let it
			}
			require.GreaterOrEqual(t, got, int64(n-4), "elements handed on are collectable (at most a few in locals)")
			close(more)
			require.NoError(t, p.Wait())
		})
	}
}

// TestChunkTick: a Tick source waits in its own select between ticks, so
// a tick it emitted waits for no other: behind two Maps, each tick reaches
// a quick sink at its own time. When the sink stalls for 10 seconds, the
// ticks emitted meanwhile all reach it the moment it is back (none waits
// for the next tick), in order, and then ticks arrive on time again; every
// tick of the minute is emitted or counted as dropped.
func TestChunkTick(t *testing.T) {
	for _, c := range []int{-1, 16, 33} {
		t.Run(fmt.Sprintf("cap%d", c), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := chunkPipeline(t)
				ticks := stream.Tick(p, time.Second, capOpts(c, stream.Name("tick"))...)
				ch := identityChainOf(p, ticks, 2, c)
				type arrival struct{ tick, at time.Time }
				var mu sync.Mutex
				var got []arrival
				stream.ForEach(p, ch, func(_ context.Context, tk time.Time) error {
					mu.Lock()
					got = append(got, arrival{tk, time.Now()})
					n := len(got)
					mu.Unlock()
					if n == 20 {
						time.Sleep(10 * time.Second)
					}
					return nil
				})
				time.Sleep(60*time.Second + time.Millisecond)
				synctest.Wait()
				p.Stop()
				require.NoError(t, p.Wait())
				mu.Lock()
				defer mu.Unlock()
				late := 0
				stallEnd := got[19].at.Add(10 * time.Second)
				for i, a := range got {
					if i > 0 {
						require.True(t, a.tick.After(got[i-1].tick), "tick %d out of order", i)
					}
					if !a.at.Equal(a.tick) {
						late++
					}
					// On time, or as soon as the sink is back.
					want := a.tick
					if i >= 20 && want.Before(stallEnd) {
						want = stallEnd
					}
					require.Equal(t, want, a.at, "tick %d arrived %v after its time, want %v", i, a.at.Sub(a.tick), want.Sub(a.tick))
				}
				require.NotZero(t, late, "the stall delayed some ticks")
				require.GreaterOrEqual(t, len(got), 45)
				st := statsOf(t, p, "tick")
				require.Equal(t, int64(60), st.Out+st.Dropped, "every tick of the minute emitted or dropped")
			})
		})
	}
}

// identityChainOf appends n identity Maps to in, for any element type.
func identityChainOf[T any](p *stream.Pipeline, in <-chan T, n, c int) <-chan T {
	for range n {
		in = stream.Map(p, in, func(_ context.Context, v T) (T, error) { return v, nil }, capOpts(c)...)
	}
	return in
}
