package stream_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
)

// TestBadInput calls every exported function and option with nil, zero and
// negative arguments (issue 8): each either panics at once with a message
// that starts with "stream: " (a programmer error, see "Programmer errors" in
// doc.go), or has the documented result, which the case checks. Either way
// the pipeline the case used still ends: after Stop, Wait returns and every
// stage is done, so a constructor that panics leaves nothing running.
func TestBadInput(t *testing.T) {
	var (
		nilP       *stream.Pipeline
		nilCtx     context.Context
		nilIn      <-chan int
		nilBatches <-chan []int
		nilKey     func(int) int
		nilOpt     stream.Option
		errBuild   = errors.New("build failed")
		ms         = time.Millisecond
	)
	src := func(p *stream.Pipeline) <-chan int { return stream.FromSlice(p, []int{1, 2, 3}) }
	empty := func(p *stream.Pipeline) <-chan int { return stream.FromSlice[int](p, nil) }
	same := func(_ context.Context, v int) (int, error) { return v, nil }
	keepAll := func(context.Context, int) (bool, error) { return true, nil }
	emitIt := func(_ context.Context, v int, emit func(int) error) error { return emit(v) }
	ignore := func(context.Context, int) error { return nil }
	sum := func(a, v int) int { return a + v }
	key := func(v int) int { return v % 2 }
	gen := func(context.Context, func(int) error) error { return nil }
	seq2 := func(func(int, error) bool) {}
	// closesAtOnce checks that out closes without an element.
	closesAtOnce := func(t *testing.T, out <-chan int) {
		_, ok := <-out
		assert.False(t, ok, "the output closes at once")
	}

	tests := []struct {
		give   string
		call   func(t *testing.T, p *stream.Pipeline)
		panics bool
	}{
		// Pipeline
		{give: "New with a nil context", call: func(*testing.T, *stream.Pipeline) { stream.New(nilCtx) }, panics: true},
		{give: "Run with a nil context", call: func(*testing.T, *stream.Pipeline) {
			_ = stream.Run(nilCtx, func(*stream.Pipeline) error { return nil })
		}, panics: true},
		{give: "Run with a nil build function", call: func(*testing.T, *stream.Pipeline) { _ = stream.Run(context.Background(), nil) }, panics: true},
		{give: "Run returns build's error unchanged", call: func(t *testing.T, _ *stream.Pipeline) {
			err := stream.Run(context.Background(), func(p *stream.Pipeline) error {
				stream.ForEach(p, stream.Generate(p, infinite(nil)), ignore)
				return errBuild
			})
			assert.Same(t, errBuild, err)
		}},
		{give: "Run panics again with build's panic value", call: func(t *testing.T, _ *stream.Pipeline) {
			r := catchPanic(func() {
				_ = stream.Run(context.Background(), func(p *stream.Pipeline) error {
					stream.ForEach(p, stream.Generate(p, infinite(nil)), ignore)
					panic(errBuild)
				})
			})
			assert.Same(t, errBuild, r)
		}},
		{give: "Go on a nil pipeline", call: func(*testing.T, *stream.Pipeline) {
			nilP.Go("x", func(context.Context) error { return nil })
		}, panics: true},
		{give: "Go with a nil function", call: func(_ *testing.T, p *stream.Pipeline) { p.Go("x", nil) }, panics: true},
		{give: "Go with an empty name gets a default name", call: func(t *testing.T, p *stream.Pipeline) {
			p.Go("", func(context.Context) error { return nil })
			require.NoError(t, p.Wait())
			assert.True(t, strings.HasPrefix(p.Stats()[0].Name, "go#"), p.Stats()[0].Name)
		}},
		{give: "Stop on a nil pipeline", call: func(*testing.T, *stream.Pipeline) { nilP.Stop() }, panics: true},
		{give: "Wait on a nil pipeline", call: func(*testing.T, *stream.Pipeline) { _ = nilP.Wait() }, panics: true},
		{give: "Context of a nil pipeline", call: func(*testing.T, *stream.Pipeline) { nilP.Context() }, panics: true},
		{give: "Stats of a nil pipeline", call: func(*testing.T, *stream.Pipeline) { nilP.Stats() }, panics: true},
		{give: "Graph of a nil pipeline", call: func(*testing.T, *stream.Pipeline) { _ = nilP.Graph() }, panics: true},
		{give: "SetObserver on a nil pipeline", call: func(*testing.T, *stream.Pipeline) { nilP.SetObserver(nil) }, panics: true},
		{give: "SetObserver(nil) removes the observer", call: func(t *testing.T, p *stream.Pipeline) {
			p.SetObserver(nil)
			require.NoError(t, stream.Drain(p, src(p)))
		}},
		{give: "Stop twice and Wait twice", call: func(t *testing.T, p *stream.Pipeline) {
			stream.ForEach(p, stream.Generate(p, infinite(nil)), ignore)
			p.Stop()
			p.Stop()
			require.NoError(t, p.Wait())
			require.NoError(t, p.Wait())
		}},
		{give: "an already cancelled context: Wait returns its error", call: func(t *testing.T, _ *stream.Pipeline) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			p := stream.New(ctx)
			require.ErrorIs(t, stream.Drain(p, src(p)), context.Canceled)
		}},
		{give: "a pipeline with no stage: Wait returns nil", call: func(t *testing.T, p *stream.Pipeline) {
			require.NoError(t, p.Wait())
			assert.Empty(t, p.Stats())
			assert.NotEmpty(t, p.Graph())
		}},
		{give: "a stage added after Wait", call: func(_ *testing.T, p *stream.Pipeline) {
			_ = p.Wait()
			src(p)
		}, panics: true},
		{give: "a channel consumed by two stages", call: func(_ *testing.T, p *stream.Pipeline) {
			in := src(p)
			stream.ForEach(p, in, ignore)
			stream.ForEach(p, in, ignore)
		}, panics: true},

		// Sources
		{give: "FromSlice on a nil pipeline", call: func(*testing.T, *stream.Pipeline) { stream.FromSlice(nilP, []int{1}) }, panics: true},
		{give: "FromSlice of a nil slice closes at once", call: func(t *testing.T, p *stream.Pipeline) { closesAtOnce(t, empty(p)) }},
		{give: "FromSeq on a nil pipeline", call: func(*testing.T, *stream.Pipeline) { stream.FromSeq(nilP, slices.Values([]int{1})) }, panics: true},
		{give: "FromSeq with a nil sequence", call: func(_ *testing.T, p *stream.Pipeline) { stream.FromSeq[int](p, nil) }, panics: true},
		{give: "FromSeq2 on a nil pipeline", call: func(*testing.T, *stream.Pipeline) { stream.FromSeq2(nilP, seq2) }, panics: true},
		{give: "FromSeq2 with a nil sequence", call: func(_ *testing.T, p *stream.Pipeline) { stream.FromSeq2[int](p, nil) }, panics: true},
		{give: "Generate on a nil pipeline", call: func(*testing.T, *stream.Pipeline) { stream.Generate(nilP, gen) }, panics: true},
		{give: "Generate with a nil function", call: func(_ *testing.T, p *stream.Pipeline) { stream.Generate[int](p, nil) }, panics: true},
		{give: "Tick on a nil pipeline", call: func(*testing.T, *stream.Pipeline) { stream.Tick(nilP, time.Second) }, panics: true},
		{give: "Tick every 0", call: func(_ *testing.T, p *stream.Pipeline) { stream.Tick(p, 0) }, panics: true},
		{give: "Tick every -1s", call: func(_ *testing.T, p *stream.Pipeline) { stream.Tick(p, -time.Second) }, panics: true},

		// Transforms
		{give: "Map on a nil pipeline", call: func(_ *testing.T, p *stream.Pipeline) { stream.Map(nilP, src(p), same) }, panics: true},
		{give: "Map of a nil channel", call: func(_ *testing.T, p *stream.Pipeline) { stream.Map(p, nilIn, same) }, panics: true},
		{give: "Map with a nil function", call: func(_ *testing.T, p *stream.Pipeline) {
			stream.Map[int, int](p, src(p), nil)
		}, panics: true},
		{give: "Filter on a nil pipeline", call: func(_ *testing.T, p *stream.Pipeline) { stream.Filter(nilP, src(p), keepAll) }, panics: true},
		{give: "Filter of a nil channel", call: func(_ *testing.T, p *stream.Pipeline) { stream.Filter(p, nilIn, keepAll) }, panics: true},
		{give: "Filter with a nil function", call: func(_ *testing.T, p *stream.Pipeline) { stream.Filter(p, src(p), nil) }, panics: true},
		{give: "FlatMap on a nil pipeline", call: func(_ *testing.T, p *stream.Pipeline) { stream.FlatMap(nilP, src(p), emitIt) }, panics: true},
		{give: "FlatMap of a nil channel", call: func(_ *testing.T, p *stream.Pipeline) { stream.FlatMap(p, nilIn, emitIt) }, panics: true},
		{give: "FlatMap with a nil function", call: func(_ *testing.T, p *stream.Pipeline) {
			stream.FlatMap[int, int](p, src(p), nil)
		}, panics: true},
		{give: "Flatten on a nil pipeline", call: func(_ *testing.T, p *stream.Pipeline) {
			stream.Flatten(nilP, stream.FromSlice(p, [][]int{{1}}))
		}, panics: true},
		{give: "Flatten of a nil channel", call: func(_ *testing.T, p *stream.Pipeline) { stream.Flatten(p, nilBatches) }, panics: true},
		{give: "Batch on a nil pipeline", call: func(_ *testing.T, p *stream.Pipeline) { stream.Batch(nilP, src(p), 2, 0) }, panics: true},
		{give: "Batch of a nil channel", call: func(_ *testing.T, p *stream.Pipeline) { stream.Batch(p, nilIn, 2, 0) }, panics: true},
		{give: "Batch of size 0", call: func(_ *testing.T, p *stream.Pipeline) { stream.Batch(p, src(p), 0, 0) }, panics: true},
		{give: "Batch of size -1", call: func(_ *testing.T, p *stream.Pipeline) { stream.Batch(p, src(p), -1, ms) }, panics: true},
		{give: "Batch with a negative maxWait has no time limit", call: func(t *testing.T, p *stream.Pipeline) {
			got, err := stream.Collect(p, stream.Batch(p, src(p), 2, -ms))
			require.NoError(t, err)
			assert.Equal(t, [][]int{{1, 2}, {3}}, got)
		}},
		{give: "Take on a nil pipeline", call: func(_ *testing.T, p *stream.Pipeline) { stream.Take(nilP, src(p), 1) }, panics: true},
		{give: "Take of a nil channel", call: func(_ *testing.T, p *stream.Pipeline) { stream.Take(p, nilIn, 1) }, panics: true},
		{give: "Take(-1)", call: func(_ *testing.T, p *stream.Pipeline) { stream.Take(p, src(p), -1) }, panics: true},
		{give: "Take(0) closes at once", call: func(t *testing.T, p *stream.Pipeline) {
			closesAtOnce(t, stream.Take(p, stream.Generate(p, infinite(nil)), 0))
			require.NoError(t, p.Wait(), "and releases its infinite input")
		}},

		// Topology
		{give: "Merge on a nil pipeline", call: func(_ *testing.T, p *stream.Pipeline) {
			stream.Merge(nilP, []<-chan int{src(p)})
		}, panics: true},
		{give: "Merge of a nil slice closes at once", call: func(t *testing.T, p *stream.Pipeline) {
			closesAtOnce(t, stream.Merge[int](p, nil))
		}},
		{give: "Merge of a nil channel", call: func(_ *testing.T, p *stream.Pipeline) {
			stream.Merge(p, []<-chan int{src(p), nilIn})
		}, panics: true},
		{give: "Merge of one channel twice", call: func(_ *testing.T, p *stream.Pipeline) {
			in := src(p)
			stream.Merge(p, []<-chan int{in, in})
		}, panics: true},
		{give: "FanOut on a nil pipeline", call: func(_ *testing.T, p *stream.Pipeline) { stream.FanOut(nilP, src(p), 2) }, panics: true},
		{give: "FanOut of a nil channel", call: func(_ *testing.T, p *stream.Pipeline) { stream.FanOut(p, nilIn, 2) }, panics: true},
		{give: "FanOut to 0", call: func(_ *testing.T, p *stream.Pipeline) { stream.FanOut(p, src(p), 0) }, panics: true},
		{give: "FanOut to -1", call: func(_ *testing.T, p *stream.Pipeline) { stream.FanOut(p, src(p), -1) }, panics: true},
		{give: "Broadcast on a nil pipeline", call: func(_ *testing.T, p *stream.Pipeline) { stream.Broadcast(nilP, src(p), 2) }, panics: true},
		{give: "Broadcast of a nil channel", call: func(_ *testing.T, p *stream.Pipeline) { stream.Broadcast(p, nilIn, 2) }, panics: true},
		{give: "Broadcast to 0", call: func(_ *testing.T, p *stream.Pipeline) { stream.Broadcast(p, src(p), 0) }, panics: true},
		{give: "Broadcast to -1", call: func(_ *testing.T, p *stream.Pipeline) { stream.Broadcast(p, src(p), -1) }, panics: true},
		{give: "Partition on a nil pipeline", call: func(_ *testing.T, p *stream.Pipeline) {
			stream.Partition(nilP, src(p), 2, key)
		}, panics: true},
		{give: "Partition of a nil channel", call: func(_ *testing.T, p *stream.Pipeline) { stream.Partition(p, nilIn, 2, key) }, panics: true},
		{give: "Partition into 0", call: func(_ *testing.T, p *stream.Pipeline) { stream.Partition(p, src(p), 0, key) }, panics: true},
		{give: "Partition into -1", call: func(_ *testing.T, p *stream.Pipeline) { stream.Partition(p, src(p), -1, key) }, panics: true},
		{give: "Partition with a nil key", call: func(_ *testing.T, p *stream.Pipeline) { stream.Partition(p, src(p), 2, nilKey) }, panics: true},

		// Backpressure
		{give: "Buffer on a nil pipeline", call: func(_ *testing.T, p *stream.Pipeline) {
			stream.Buffer(nilP, src(p), 1, stream.Block)
		}, panics: true},
		{give: "Buffer of a nil channel", call: func(_ *testing.T, p *stream.Pipeline) { stream.Buffer(p, nilIn, 1, stream.Block) }, panics: true},
		{give: "Buffer of size 0", call: func(_ *testing.T, p *stream.Pipeline) { stream.Buffer(p, src(p), 0, stream.DropOldest) }, panics: true},
		{give: "Buffer of size -1", call: func(_ *testing.T, p *stream.Pipeline) { stream.Buffer(p, src(p), -1, stream.Fail) }, panics: true},
		{give: "Buffer with overflow -1", call: func(_ *testing.T, p *stream.Pipeline) { stream.Buffer(p, src(p), 1, -1) }, panics: true},
		{give: "Buffer with an unknown overflow", call: func(_ *testing.T, p *stream.Pipeline) {
			stream.Buffer(p, src(p), 1, stream.Fail+1)
		}, panics: true},
		{give: "Throttle on a nil pipeline", call: func(_ *testing.T, p *stream.Pipeline) { stream.Throttle(nilP, src(p), 1, 1) }, panics: true},
		{give: "Throttle of a nil channel", call: func(_ *testing.T, p *stream.Pipeline) { stream.Throttle(p, nilIn, 1, 1) }, panics: true},
		{give: "Throttle at 0 per second", call: func(_ *testing.T, p *stream.Pipeline) { stream.Throttle(p, src(p), 0, 1) }, panics: true},
		{give: "Throttle at -1 per second", call: func(_ *testing.T, p *stream.Pipeline) { stream.Throttle(p, src(p), -1, 1) }, panics: true},
		{give: "Throttle at NaN per second", call: func(_ *testing.T, p *stream.Pipeline) {
			stream.Throttle(p, src(p), math.NaN(), 1)
		}, panics: true},
		{give: "Throttle at +Inf per second", call: func(_ *testing.T, p *stream.Pipeline) {
			stream.Throttle(p, src(p), math.Inf(1), 1)
		}, panics: true},
		{give: "Throttle with burst 0", call: func(_ *testing.T, p *stream.Pipeline) { stream.Throttle(p, src(p), 1, 0) }, panics: true},
		{give: "Throttle with burst -1", call: func(_ *testing.T, p *stream.Pipeline) { stream.Throttle(p, src(p), 1, -1) }, panics: true},

		// Sinks
		{give: "ForEach on a nil pipeline", call: func(_ *testing.T, p *stream.Pipeline) { stream.ForEach(nilP, src(p), ignore) }, panics: true},
		{give: "ForEach of a nil channel", call: func(_ *testing.T, p *stream.Pipeline) { stream.ForEach(p, nilIn, ignore) }, panics: true},
		{give: "ForEach with a nil function", call: func(_ *testing.T, p *stream.Pipeline) { stream.ForEach(p, src(p), nil) }, panics: true},
		{give: "Collect on a nil pipeline", call: func(_ *testing.T, p *stream.Pipeline) { _, _ = stream.Collect(nilP, src(p)) }, panics: true},
		{give: "Collect of a nil channel", call: func(_ *testing.T, p *stream.Pipeline) { _, _ = stream.Collect(p, nilIn) }, panics: true},
		{give: "Collect of an empty stream returns nothing and nil", call: func(t *testing.T, p *stream.Pipeline) {
			got, err := stream.Collect(p, empty(p))
			require.NoError(t, err)
			assert.Empty(t, got)
		}},
		{give: "Reduce on a nil pipeline", call: func(_ *testing.T, p *stream.Pipeline) { _, _ = stream.Reduce(nilP, src(p), 0, sum) }, panics: true},
		{give: "Reduce of a nil channel", call: func(_ *testing.T, p *stream.Pipeline) { _, _ = stream.Reduce(p, nilIn, 0, sum) }, panics: true},
		{give: "Reduce with a nil function", call: func(_ *testing.T, p *stream.Pipeline) {
			_, _ = stream.Reduce[int, int](p, src(p), 0, nil)
		}, panics: true},
		{give: "Reduce of an empty stream returns init and nil", call: func(t *testing.T, p *stream.Pipeline) {
			got, err := stream.Reduce(p, empty(p), 7, sum)
			require.NoError(t, err)
			assert.Equal(t, 7, got)
		}},
		{give: "First on a nil pipeline", call: func(_ *testing.T, p *stream.Pipeline) { _, _ = stream.First(nilP, src(p)) }, panics: true},
		{give: "First of a nil channel", call: func(_ *testing.T, p *stream.Pipeline) { _, _ = stream.First(p, nilIn) }, panics: true},
		{give: "First of an empty stream returns ErrEmpty", call: func(t *testing.T, p *stream.Pipeline) {
			_, err := stream.First(p, empty(p))
			require.ErrorIs(t, err, stream.ErrEmpty)
		}},
		{give: "Drain on a nil pipeline", call: func(_ *testing.T, p *stream.Pipeline) { _ = stream.Drain(nilP, src(p)) }, panics: true},
		{give: "Drain of a nil channel", call: func(_ *testing.T, p *stream.Pipeline) { _ = stream.Drain(p, nilIn) }, panics: true},
		{give: "Drain of an empty stream returns nil", call: func(t *testing.T, p *stream.Pipeline) {
			require.NoError(t, stream.Drain(p, empty(p)))
		}},

		// Options
		{give: "a nil Option", call: func(_ *testing.T, p *stream.Pipeline) { stream.Map(p, src(p), same, nilOpt) }, panics: true},
		{give: "Name(\"\")", call: func(*testing.T, *stream.Pipeline) { stream.Name("") }, panics: true},
		{give: "Workers(0)", call: func(*testing.T, *stream.Pipeline) { stream.Workers(0) }, panics: true},
		{give: "Workers(-1)", call: func(*testing.T, *stream.Pipeline) { stream.Workers(-1) }, panics: true},
		{give: "Capacity(-1)", call: func(*testing.T, *stream.Pipeline) { stream.Capacity(-1) }, panics: true},
		{give: "Capacity(0) makes the output unbuffered", call: func(t *testing.T, p *stream.Pipeline) {
			stream.Map(p, src(p), same, stream.Capacity(0), stream.Name("m"))
			assert.Equal(t, 0, statsOf(t, p, "m").QueueCap)
		}},
		{give: "Timeout(0)", call: func(*testing.T, *stream.Pipeline) { stream.Timeout(0) }, panics: true},
		{give: "Timeout(-1ms)", call: func(*testing.T, *stream.Pipeline) { stream.Timeout(-ms) }, panics: true},
		{give: "Retry with zero fields takes the defaults", call: func(*testing.T, *stream.Pipeline) { stream.Retry(stream.RetryPolicy{}) }},
		{give: "Retry with a negative Jitter has no jitter", call: func(*testing.T, *stream.Pipeline) {
			stream.Retry(stream.RetryPolicy{Jitter: -1})
		}},
		{give: "Retry with Attempts -1", call: func(*testing.T, *stream.Pipeline) { stream.Retry(stream.RetryPolicy{Attempts: -1}) }, panics: true},
		{give: "Retry with Initial -1ms", call: func(*testing.T, *stream.Pipeline) { stream.Retry(stream.RetryPolicy{Initial: -ms}) }, panics: true},
		{give: "Retry with Max -1ms", call: func(*testing.T, *stream.Pipeline) { stream.Retry(stream.RetryPolicy{Max: -ms}) }, panics: true},
		{give: "Retry with Multiplier 0.5", call: func(*testing.T, *stream.Pipeline) {
			stream.Retry(stream.RetryPolicy{Multiplier: 0.5})
		}, panics: true},
		{give: "Retry with Jitter 1.5", call: func(*testing.T, *stream.Pipeline) { stream.Retry(stream.RetryPolicy{Jitter: 1.5}) }, panics: true},
		{give: "OnError with a nil handler", call: func(*testing.T, *stream.Pipeline) { stream.OnError[int](nil) }, panics: true},
		{give: "OnDrop with a nil function", call: func(*testing.T, *stream.Pipeline) { stream.OnDrop[int](nil) }, panics: true},
		{give: "AdaptiveWorkers(0, 1, 1ms)", call: func(*testing.T, *stream.Pipeline) { stream.AdaptiveWorkers(0, 1, ms) }, panics: true},
		{give: "AdaptiveWorkers(2, 1, 1ms)", call: func(*testing.T, *stream.Pipeline) { stream.AdaptiveWorkers(2, 1, ms) }, panics: true},
		{give: "AdaptiveWorkers(1, 2, 0)", call: func(*testing.T, *stream.Pipeline) { stream.AdaptiveWorkers(1, 2, 0) }, panics: true},
		{give: "AdaptiveWorkers(1, 2, -1ms)", call: func(*testing.T, *stream.Pipeline) { stream.AdaptiveWorkers(1, 2, -ms) }, panics: true},
		{give: "WithObserver(nil)", call: func(*testing.T, *stream.Pipeline) { stream.WithObserver(nil) }, panics: true},
		{give: "SlogObserver(nil)", call: func(*testing.T, *stream.Pipeline) { stream.SlogObserver(nil) }, panics: true},
		{give: "OnError for another element type", call: func(_ *testing.T, p *stream.Pipeline) {
			stream.Map(p, src(p), same, stream.OnError(func(string, error) error { return nil }))
		}, panics: true},
		{give: "OnDrop for another element type", call: func(_ *testing.T, p *stream.Pipeline) {
			stream.Buffer(p, src(p), 1, stream.DropNewest, stream.OnDrop(func(string) {}))
		}, panics: true},
		{give: "Workers on Take", call: func(_ *testing.T, p *stream.Pipeline) { stream.Take(p, src(p), 1, stream.Workers(2)) }, panics: true},
		{give: "Ordered on ForEach", call: func(_ *testing.T, p *stream.Pipeline) {
			stream.ForEach(p, src(p), ignore, stream.Ordered())
		}, panics: true},
		{give: "Capacity on Buffer", call: func(_ *testing.T, p *stream.Pipeline) {
			stream.Buffer(p, src(p), 1, stream.Block, stream.Capacity(1))
		}, panics: true},
		{give: "Timeout on Merge", call: func(_ *testing.T, p *stream.Pipeline) {
			stream.Merge(p, []<-chan int{src(p)}, stream.Timeout(ms))
		}, panics: true},
		{give: "AdaptiveWorkers with Ordered", call: func(_ *testing.T, p *stream.Pipeline) {
			stream.Map(p, src(p), same, stream.AdaptiveWorkers(1, 2, ms), stream.Ordered())
		}, panics: true},

		// Stringers of out-of-range values
		{give: "Overflow(99).String", call: func(t *testing.T, _ *stream.Pipeline) {
			assert.Equal(t, "Overflow(99)", stream.Overflow(99).String())
		}},
		{give: "EventKind(0).String", call: func(t *testing.T, _ *stream.Pipeline) {
			assert.NotEmpty(t, stream.EventKind(0).String())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			p := stream.New(context.Background())
			r := catchPanic(func() { tt.call(t, p) })
			p.Stop()
			_ = p.Wait()
			for _, st := range p.Stats() {
				assert.True(t, st.Done, "stage %s still running after Wait", st.Name)
			}
			if !tt.panics {
				require.Nil(t, r, "want no panic")
				return
			}
			require.NotNil(t, r, "want a panic")
			assert.True(t, strings.HasPrefix(fmt.Sprint(r), "stream: "), "panic %q does not start with \"stream: \"", r)
		})
	}
}

// catchPanic calls f and returns what it panicked with, or nil.
func catchPanic(f func()) (r any) {
	defer func() { r = recover() }()
	f()
	return nil
}
