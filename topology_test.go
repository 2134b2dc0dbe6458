package stream_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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

func TestOrderedKeepsInputOrder(t *testing.T) {
	for _, workers := range []int{2, 3, 8} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := stream.New(t.Context())
				// Later elements finish first: without reordering the
				// output would come out scrambled.
				slow := func(_ context.Context, v int) (int, error) {
					time.Sleep(time.Duration((7*v)%13) * time.Millisecond)
					return v * 10, nil
				}
				m := stream.Map(p, stream.FromSlice(p, seq(500)), slow, stream.Workers(workers), stream.Ordered())
				f := stream.Filter(p, m, func(_ context.Context, v int) (bool, error) {
					time.Sleep(time.Duration(v%5) * time.Millisecond)
					return v%20 == 0, nil
				}, stream.Workers(workers), stream.Ordered())
				fm := stream.FlatMap(p, f, func(_ context.Context, v int, emit func(int) error) error {
					time.Sleep(time.Duration(v%7) * time.Millisecond)
					if err := emit(v); err != nil {
						return err
					}
					return emit(v + 1)
				}, stream.Workers(workers), stream.Ordered())
				got, err := stream.Collect(p, fm)
				require.NoError(t, err)
				var want []int
				for v := 0; v < 500; v += 2 {
					want = append(want, v*10, v*10+1)
				}
				require.Equal(t, want, got)
			})
		})
	}
}

// TestOrderedWindowIsBoundedAndWiderThanTheWorkers: while the head element
// is stuck, the other workers go on until the window is full, and no
// further.
func TestOrderedWindowIsBoundedAndWiderThanTheWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const workers = 4
		p := stream.New(t.Context())
		unblock := make(chan struct{})
		var calls atomic.Int64
		m := stream.Map(p, stream.Generate(p, infinite(nil)), func(_ context.Context, v int) (int, error) {
			calls.Add(1)
			if v == 0 {
				<-unblock
			}
			return v, nil
		}, stream.Workers(workers), stream.Ordered())
		first := make(chan int)
		go func() {
			defer close(first)
			for v := range m {
				first <- v
				return
			}
		}()
		synctest.Wait()
		// Documented on Ordered: the window holds at most 16 elements per
		// worker (TestOrderedWindowIsExact checks the bound is reached).
		assert.Greater(t, calls.Load(), int64(2*workers), "the other workers went on while the head was stuck")
		assert.LessOrEqual(t, calls.Load(), int64(16*workers), "calls made while the head is stuck")
		close(unblock)
		assert.Equal(t, 0, <-first)
		p.Stop()
		require.NoError(t, p.Wait())
	})
}

func TestMerge(t *testing.T) {
	t.Run("emits every element of every input", func(t *testing.T) {
		p := stream.New(context.Background())
		ins := []<-chan int{
			stream.FromSlice(p, seq(100)),
			stream.FromSlice[int](p, nil),
			stream.Map(p, stream.FromSlice(p, seq(50)), func(_ context.Context, v int) (int, error) { return v + 1000, nil }),
		}
		got, err := stream.Collect(p, stream.Merge(p, ins))
		require.NoError(t, err)
		want := append(seq(100), seq(50)...)
		for i := 100; i < 150; i++ {
			want[i] += 1000
		}
		assert.ElementsMatch(t, want, got)
		assert.Equal(t, 3, statsOf(t, p, "merge#5").Workers, "one goroutine per input")
	})
	t.Run("of no inputs is closed", func(t *testing.T) {
		p := stream.New(context.Background())
		got, err := stream.Collect(p, stream.Merge[int](p, nil))
		require.NoError(t, err)
		assert.Empty(t, got)
	})
	t.Run("keeps each input's order", func(t *testing.T) {
		p := stream.New(context.Background())
		a := stream.FromSlice(p, []string{"a1", "a2", "a3"})
		b := stream.FromSlice(p, []string{"b1", "b2", "b3"})
		got, err := stream.Collect(p, stream.Merge(p, []<-chan string{a, b}))
		require.NoError(t, err)
		var as, bs []string
		for _, v := range got {
			if v[0] == 'a' {
				as = append(as, v)
			} else {
				bs = append(bs, v)
			}
		}
		assert.Equal(t, []string{"a1", "a2", "a3"}, as)
		assert.Equal(t, []string{"b1", "b2", "b3"}, bs)
	})
	t.Run("accepts the caller's channels", func(t *testing.T) {
		p := stream.New(context.Background())
		mine := make(chan int, 3)
		mine <- 7
		mine <- 8
		close(mine)
		got, err := stream.Collect(p, stream.Merge(p, []<-chan int{mine, stream.FromSlice(p, []int{9})}))
		require.NoError(t, err)
		assert.ElementsMatch(t, []int{7, 8, 9}, got)
	})
}

func TestFanOut(t *testing.T) {
	t.Run("each element goes to exactly one output", func(t *testing.T) {
		p := stream.New(context.Background())
		outs := stream.FanOut(p, stream.FromSlice(p, seq(10_000)), 4)
		require.Len(t, outs, 4)
		got, err := stream.Collect(p, stream.Merge(p, outs))
		require.NoError(t, err)
		slices.Sort(got)
		assert.Equal(t, seq(10_000), got)
	})
	t.Run("a slow consumer gets fewer elements", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(t.Context())
			outs := stream.FanOut(p, stream.FromSlice(p, seq(1000)), 2, stream.Capacity(0))
			var fast, slow atomic.Int64
			stream.ForEach(p, outs[0], func(context.Context, int) error { fast.Add(1); return nil })
			stream.ForEach(p, outs[1], func(context.Context, int) error {
				slow.Add(1)
				time.Sleep(time.Millisecond)
				return nil
			})
			require.NoError(t, p.Wait())
			assert.Equal(t, int64(1000), fast.Load()+slow.Load())
			assert.Less(t, slow.Load(), fast.Load())
		})
	})
	t.Run("a released output leaves the others running", func(t *testing.T) {
		p := stream.New(context.Background())
		outs := stream.FanOut(p, stream.FromSlice(p, seq(1000)), 2, stream.Capacity(0), stream.Name("fan"))
		var rest atomic.Int64
		stream.ForEach(p, outs[1], func(context.Context, int) error { rest.Add(1); return nil })
		_, err := stream.First(p, outs[0])
		require.NoError(t, err)
		dropped := statsOf(t, p, "fan").Dropped
		assert.LessOrEqual(t, dropped, int64(1), "at most the element in hand is dropped")
		assert.Equal(t, int64(999), rest.Load()+dropped, "everything but First's element went to the other output or was counted")
	})
}

func TestBroadcast(t *testing.T) {
	t.Run("every output gets every element in order", func(t *testing.T) {
		p := stream.New(context.Background())
		outs := stream.Broadcast(p, stream.FromSlice(p, seq(1000)), 3)
		results := make([][]int, 3)
		for i, out := range outs {
			stream.ForEach(p, out, func(_ context.Context, v int) error {
				results[i] = append(results[i], v)
				return nil
			})
		}
		require.NoError(t, p.Wait())
		for i := range results {
			assert.Equal(t, seq(1000), results[i], "output %d", i)
		}
	})
	t.Run("a released output is skipped", func(t *testing.T) {
		p := stream.New(context.Background())
		outs := stream.Broadcast(p, stream.FromSlice(p, seq(1000)), 2)
		var all []int
		stream.ForEach(p, outs[1], func(_ context.Context, v int) error { all = append(all, v); return nil })
		got, err := stream.Collect(p, stream.Take(p, outs[0], 3))
		require.NoError(t, err)
		assert.Equal(t, seq(3), got)
		assert.Equal(t, seq(1000), all)
	})
}

type event struct {
	user string
	n    int
}

func TestPartition(t *testing.T) {
	t.Run("same key same output, in input order", func(t *testing.T) {
		var events []event
		for i := range 3000 {
			events = append(events, event{user: fmt.Sprintf("u%d", i%17), n: i})
		}
		p := stream.New(context.Background())
		outs := stream.Partition(p, stream.FromSlice(p, events), 4, func(e event) string { return e.user })
		var mu sync.Mutex
		outputOf := map[string]int{}
		perUser := map[string][]int{}
		for i, out := range outs {
			stream.ForEach(p, out, func(_ context.Context, e event) error {
				mu.Lock()
				defer mu.Unlock()
				if prev, ok := outputOf[e.user]; ok && prev != i {
					return fmt.Errorf("user %s on outputs %d and %d", e.user, prev, i)
				}
				outputOf[e.user] = i
				perUser[e.user] = append(perUser[e.user], e.n)
				return nil
			})
		}
		require.NoError(t, p.Wait())
		require.Len(t, perUser, 17)
		total := 0
		for user, ns := range perUser {
			assert.True(t, slices.IsSorted(ns), "user %s out of order", user)
			total += len(ns)
		}
		assert.Equal(t, 3000, total)
	})
	t.Run("a panicking key function fails the pipeline", func(t *testing.T) {
		p := stream.New(context.Background())
		outs := stream.Partition(p, stream.FromSlice(p, seq(10)), 2, func(v int) int {
			if v == 5 {
				panic("bad key")
			}
			return v
		})
		_, err := stream.Collect(p, stream.Merge(p, outs))
		var pe *stream.PanicError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "bad key", pe.Value)
	})
	t.Run("elements for a released output are dropped and counted", func(t *testing.T) {
		p := stream.New(context.Background())
		outs := stream.Partition(p, stream.FromSlice(p, seq(1000)), 2, func(v int) int { return v }, stream.Name("split"))
		_ = stream.Take(p, outs[0], 0) // releases output 0 at once
		n := 0
		stream.ForEach(p, outs[1], func(context.Context, int) error { n++; return nil })
		require.NoError(t, p.Wait())
		st := statsOf(t, p, "split")
		assert.Equal(t, int64(1000), int64(n)+st.Dropped, "every element delivered or counted as dropped")
		assert.Positive(t, st.Dropped)
	})
}

// ExamplePartition-style use: per-key order with parallelism.
func TestPartitionMapMergeKeepsPerKeyOrder(t *testing.T) {
	var events []event
	for i := range 2000 {
		events = append(events, event{user: fmt.Sprintf("u%d", i%31), n: i})
	}
	p := stream.New(context.Background())
	parts := stream.Partition(p, stream.FromSlice(p, events), 4, func(e event) string { return e.user })
	mapped := make([]<-chan event, len(parts))
	for i, part := range parts {
		mapped[i] = stream.Map(p, part, func(_ context.Context, e event) (event, error) { e.n *= 2; return e, nil })
	}
	got, err := stream.Collect(p, stream.Merge(p, mapped))
	require.NoError(t, err)
	last := map[string]int{}
	for _, e := range got {
		if prev, ok := last[e.user]; ok {
			require.Less(t, prev, e.n, "user %s", e.user)
		}
		last[e.user] = e.n
	}
	assert.Len(t, got, 2000)
}

func TestBatch(t *testing.T) {
	tests := []struct {
		name string
		n    int
		size int
		want []int // batch sizes
	}{
		{"exact multiple", 9, 3, []int{3, 3, 3}},
		{"partial last batch is flushed", 10, 4, []int{4, 4, 2}},
		{"size one", 3, 1, []int{1, 1, 1}},
		{"fewer than one batch", 2, 5, []int{2}},
		{"no input gives no batch", 0, 5, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := stream.New(context.Background())
			batches, err := stream.Collect(p, stream.Batch(p, stream.FromSlice(p, seq(tt.n)), tt.size, 0))
			require.NoError(t, err)
			var sizes []int
			var all []int
			for _, b := range batches {
				sizes = append(sizes, len(b))
				all = append(all, b...)
			}
			assert.Equal(t, tt.want, sizes)
			assert.Equal(t, seq(tt.n), append([]int{}, all...)[:len(all):len(all)])
		})
	}
}

func TestBatchMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(t.Context())
		in := make(chan int)
		start := time.Now()
		batches := stream.Batch(p, in, 3, 100*time.Millisecond)
		type got struct {
			batch []int
			at    time.Duration
		}
		var gots []got
		done := make(chan struct{})
		go func() {
			defer close(done)
			for b := range batches {
				gots = append(gots, got{b, time.Since(start)})
			}
		}()
		in <- 1 // t=0: starts a batch
		time.Sleep(50 * time.Millisecond)
		in <- 2 // t=50ms: same batch, its clock still runs from t=0
		time.Sleep(60 * time.Millisecond)
		// t=110ms: the first batch left at t=100ms
		in <- 3
		in <- 4
		in <- 5 // full: leaves at once, at t=110ms
		time.Sleep(time.Second)
		// nothing arrived for a second: no empty batch was sent
		in <- 6
		close(in) // the partial batch is flushed at close
		<-done
		require.NoError(t, p.Wait())
		assert.Equal(t, []got{
			{[]int{1, 2}, 100 * time.Millisecond},
			{[]int{3, 4, 5}, 110 * time.Millisecond},
			{[]int{6}, 1110 * time.Millisecond},
		}, gots)
	})
}

func TestFlatten(t *testing.T) {
	p := stream.New(context.Background())
	got, err := stream.Collect(p, stream.Flatten(p, stream.FromSlice(p, [][]int{{1, 2}, nil, {3}, {}, {4, 5, 6}})))
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2, 3, 4, 5, 6}, got)
}

func TestBatchThenFlattenRoundTrips(t *testing.T) {
	p := stream.New(context.Background())
	got, err := stream.Collect(p, stream.Flatten(p, stream.Batch(p, stream.FromSlice(p, seq(1001)), 10, time.Hour)))
	require.NoError(t, err)
	assert.Equal(t, seq(1001), got)
}

func TestTake(t *testing.T) {
	tests := []struct {
		name    string
		n, take int
		want    []int
	}{
		{"fewer than available", 10, 3, seq(3)},
		{"exactly the available", 3, 3, seq(3)},
		{"more than available", 2, 5, seq(2)},
		{"zero", 10, 0, nil},
		{"from nothing", 0, 4, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := stream.New(context.Background())
			got, err := stream.Collect(p, stream.Take(p, stream.FromSlice(p, seq(tt.n)), tt.take))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestTakeStopsAnInfiniteSourceWhileASiblingRunsOn is the must-show:
// Take(10) of an infinite Generate returns, the generator stops, every
// goroutine is gone (goleak in TestMain), and another branch is unaffected.
func TestTakeStopsAnInfiniteSourceWhileASiblingRunsOn(t *testing.T) {
	p := stream.New(context.Background())
	var sibling atomic.Int64
	stream.ForEach(p, stream.FromSlice(p, seq(5000)), func(context.Context, int) error { sibling.Add(1); return nil })
	stopped := make(chan struct{})
	c := stream.Map(p, stream.Generate(p, infinite(stopped)), double, stream.Workers(3))
	got, err := stream.Collect(p, stream.Take(p, c, 10))
	require.NoError(t, err)
	assert.Len(t, got, 10)
	<-stopped
	assert.Equal(t, int64(5000), sibling.Load())
}

func TestTopologyProgrammerErrors(t *testing.T) {
	p := stream.New(context.Background())
	defer p.Wait()
	defer p.Stop()
	var nilCh <-chan int
	tests := []struct {
		name string
		call func()
	}{
		{"FanOut n=0", func() { stream.FanOut(p, stream.FromSlice(p, seq(1)), 0) }},
		{"Broadcast n=-1", func() { stream.Broadcast(p, stream.FromSlice(p, seq(1)), -1) }},
		{"Partition n=0", func() { stream.Partition(p, stream.FromSlice(p, seq(1)), 0, func(v int) int { return v }) }},
		{"Partition nil key", func() { stream.Partition[int, int](p, stream.FromSlice(p, seq(1)), 2, nil) }},
		{"Merge with a nil input", func() { stream.Merge(p, []<-chan int{nilCh}) }},
		{"Merge the same channel twice", func() { c := stream.FromSlice(p, seq(1)); stream.Merge(p, []<-chan int{c, c}) }},
		{"Batch size 0", func() { stream.Batch(p, stream.FromSlice(p, seq(1)), 0, 0) }},
		{"Take negative", func() { stream.Take(p, stream.FromSlice(p, seq(1)), -1) }},
		{"Flatten nil input", func() { var in <-chan []int; stream.Flatten(p, in) }},
		{"Workers on Take", func() { stream.Take(p, stream.FromSlice(p, seq(1)), 1, stream.Workers(2)) }},
		{"Ordered on ForEach", func() {
			stream.ForEach(p, stream.FromSlice(p, seq(1)), func(context.Context, int) error { return nil }, stream.Ordered())
		}},
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
	// The sources made for the cases above are consumed so Stop ends them.
	for _, s := range p.Stats() {
		_ = s
	}
}

// TestNoElementLostOrDuplicated is a property test: random worker counts,
// capacities and orderings through Map, Filter, FlatMap, FanOut, Merge,
// Batch and Flatten; every element must come out exactly once, and in order
// where Ordered promises it.
func TestNoElementLostOrDuplicated(t *testing.T) {
	runs := 200
	if testing.Short() {
		runs = 30
	}
	for i := range runs {
		seed := uint64(i)
		rng := rand.New(rand.NewPCG(seed, 42))
		opts := func() []stream.Option {
			return []stream.Option{stream.Workers(1 + rng.IntN(6)), stream.Capacity(rng.IntN(5))}
		}
		n := rng.IntN(2000)
		ordered := rng.IntN(2) == 0
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			p := stream.New(context.Background())
			c := stream.FromSlice(p, seq(n), stream.Capacity(rng.IntN(5)))
			mapOpts := opts()
			if ordered {
				mapOpts = append(mapOpts, stream.Ordered())
			}
			c = stream.Map(p, c, func(_ context.Context, v int) (int, error) { return v * 3, nil }, mapOpts...)
			c = stream.FlatMap(p, c, func(_ context.Context, v int, emit func(int) error) error {
				if v%2 == 1 {
					return nil // odd values are dropped by design
				}
				if err := emit(v); err != nil {
					return err
				}
				return emit(v + 1)
			}, append(opts()[:1], stream.Ordered())...)
			if !ordered {
				fan := stream.FanOut(p, c, 1+rng.IntN(4), stream.Capacity(rng.IntN(5)))
				c = stream.Merge(p, fan)
			}
			c = stream.Flatten(p, stream.Batch(p, c, 1+rng.IntN(10), 0))
			got, err := stream.Collect(p, c)
			require.NoError(t, err)
			var want []int
			for v := range n {
				if w := v * 3; w%2 == 0 {
					want = append(want, w, w+1)
				}
			}
			if !ordered {
				slices.Sort(got)
				slices.Sort(want)
			}
			require.Equal(t, want, got, "seed %d", seed)
		})
	}
}

func TestErrorInOneBranchStopsTheTopology(t *testing.T) {
	errBoom := errors.New("boom")
	p := stream.New(context.Background())
	outs := stream.Broadcast(p, stream.Generate(p, infinite(nil)), 2)
	stream.ForEach(p, outs[0], func(context.Context, int) error { return nil })
	stream.ForEach(p, outs[1], func(_ context.Context, v int) error {
		if v == 500 {
			return errBoom
		}
		return nil
	})
	require.ErrorIs(t, p.Wait(), errBoom)
}

// TestReleasedOutputIsCountedWhicheverFinishesFirst: what is left in an
// output released while its stage runs on for another is counted as
// dropped (and passed to OnDrop) whether its producer finished before the
// release or after it (found by the random pipelines). When the released
// output was the stage's last, the stage ended for lack of demand: what is
// left is discarded, not dropped.
func TestReleasedOutputIsCountedWhicheverFinishesFirst(t *testing.T) {
	for _, producerFirst := range []bool{true, false} {
		for _, others := range []int{1, 0} {
			t.Run(fmt.Sprintf("producer finished first=%v/other outputs=%d", producerFirst, others), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p := stream.New(context.Background())
					src := stream.FromSlice(p, seq(4))
					if !producerFirst { // the input stays open until the release
						src = stream.Generate(p, func(ctx context.Context, emit func(int) error) error {
							for v := range 4 {
								if err := emit(v); err != nil {
									return err
								}
							}
							<-ctx.Done()
							return ctx.Err()
						})
					}
					var onDrop []int
					outs := stream.Partition(p, src, 1+others, func(int) int { return 0 }, stream.Capacity(4),
						stream.Name("part"), stream.OnDrop(func(v int) { onDrop = append(onDrop, v) }))
					// Every element goes to the output key 0 maps to: find it.
					first := 0
					synctest.Wait()
					for i, o := range outs {
						if len(o) == 4 {
							first = i
						}
					}
					for i, o := range outs {
						if i != first {
							stream.ForEach(p, o, func(context.Context, int) error { return nil })
						}
					}
					taken := stream.Take(p, outs[first], 1, stream.Capacity(0))
					synctest.Wait() // Take holds the first
					assert.Equal(t, 0, <-taken)
					for range taken {
					}
					p.Stop()
					require.NoError(t, p.Wait())
					st := statsOf(t, p, "part")
					assert.Equal(t, int64(4), st.Out)
					if others > 0 {
						assert.Equal(t, int64(3), st.Dropped, "the three left in the released output")
						assert.Equal(t, []int{1, 2, 3}, onDrop)
					} else {
						assert.Zero(t, st.Dropped, "the stage ended for lack of demand")
						assert.Empty(t, onDrop)
					}
				})
			})
		}
	}
}

// TestPartitionStartsNoKeyAfterStop (pitfall P21, found by the random
// pipelines): the cancellation can reach the consumer of one output, which
// releases it, before it reaches Partition itself; Partition must not take
// that as a mere release and call its key function for another element.
func TestPartitionStartsNoKeyAfterStop(t *testing.T) {
	runs := 300
	if testing.Short() {
		runs = 50
	}
	for range runs {
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			var stopped atomic.Bool
			var after atomic.Int32
			parts := stream.Partition(p, stream.FromSlice(p, seq(100)), 2, func(v int) int {
				if stopped.Load() {
					after.Add(1)
				}
				return v % 2
			}, stream.Capacity(0))
			stall := func(ctx context.Context, _ int) error { <-ctx.Done(); return ctx.Err() }
			stream.ForEach(p, parts[0], stall)
			stream.ForEach(p, parts[1], stall)
			for range 100 { // more stages: the cancellation takes longer to reach them all
				stream.ForEach(p, stream.Generate(p, func(ctx context.Context, emit func(int) error) error {
					<-ctx.Done()
					return ctx.Err()
				}), stall)
			}
			synctest.Wait()
			stopped.Store(true)
			p.Stop()
			require.NoError(t, p.Wait())
			require.Zero(t, after.Load(), "key called after Stop")
		})
	}
}
