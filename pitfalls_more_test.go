package stream_test

// The pitfalls of docs/pitfalls.md that concern timers, memory,
// retries, contexts and visibility; pitfalls_test.go holds the others.

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
)

// P02: every stage that uses a timer or ticker (Tick, Batch with maxWait,
// Throttle, Timeout, Retry's backoff) ends with the pipeline: synctest.Test
// fails if any goroutine of the bubble is left blocked on a timer.
func TestPitfall_P02_TimersStopWithThePipeline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(t.Context())
		ticks := stream.Tick(p, time.Second)
		batches := stream.Batch(p, ticks, 10, time.Minute)
		paced := stream.Throttle(p, stream.Flatten(p, batches), 0.5, 1)
		stream.ForEach(p, paced, func(ctx context.Context, _ time.Time) error {
			<-ctx.Done()
			return ctx.Err()
		}, stream.Timeout(time.Hour), stream.Retry(stream.RetryPolicy{Attempts: 100, Initial: time.Hour}))
		time.Sleep(30 * time.Second) // every timer is armed by now
		require.NoError(t, waitEndsAtOnce(t, p, p.Stop), "every timer-driven stage ended at once")
	})
}

// P07: a fast producer in front of a stuck consumer fills the bounded
// buffers and then waits: it never produces more than the capacities hold.
func TestPitfall_P07_UnboundedBuffer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(t.Context())
		var produced atomic.Int64
		src := stream.Generate(p, func(_ context.Context, emit func(int) error) error {
			for i := 0; ; i++ {
				if err := emit(i); err != nil {
					return err
				}
				produced.Add(1)
			}
		}, stream.Capacity(10))
		mid := stream.Map(p, src, double, stream.Workers(3), stream.Capacity(20))
		buf := stream.Buffer(p, mid, 30, stream.Block)
		stream.ForEach(p, buf, func(ctx context.Context, _ int) error {
			<-ctx.Done() // stuck
			return ctx.Err()
		})
		synctest.Wait()
		// capacities 10+20+30, plus one element in the hands of each of the
		// 3 map workers, the buffer, the sink, and the generator's pending emit
		assert.LessOrEqual(t, produced.Load(), int64(10+20+30+3+1+1+1))
		p.Stop()
		require.NoError(t, p.Wait())
	})
}

// P09: the pipeline keeps no element alive after handing it on: big
// elements that went through every kind of stage are collected while the
// pipeline is still running.
func TestPitfall_P09_ElementsNotRetained(t *testing.T) {
	const n = 200
	var collected atomic.Int64
	type blob [64 << 10]byte
	p := stream.New(context.Background())
	more := make(chan struct{})
	src := stream.Generate(p, func(ctx context.Context, emit func(*blob) error) error {
		for range n {
			b := &blob{}
			runtime.AddCleanup(b, func(*atomic.Int64) { collected.Add(1) }, &collected)
			if err := emit(b); err != nil {
				return err
			}
		}
		<-more // stay alive, holding the pipeline open
		return nil
	})
	c := stream.Map(p, src, func(_ context.Context, b *blob) (*blob, error) { return b, nil }, stream.Workers(3), stream.Ordered())
	batches := stream.Batch(p, c, 7, 0)
	c = stream.Flatten(p, batches)
	parts := stream.Partition(p, c, 2, func(b *blob) uintptr { return 1 })
	c = stream.Merge(p, parts)
	c = stream.Buffer(p, c, 5, stream.Block)
	var seen atomic.Int64
	stream.ForEach(p, c, func(context.Context, *blob) error { seen.Add(1); return nil })
	// Every element that can get through has (the last partial batch of
	// 200 mod 7 = 4 waits for the source to close): wait for it without
	// assuming timing.
	for seen.Load() < n-n%7 {
		runtime.Gosched()
	}
	var got int64
	for range 1000 {
		runtime.GC()
		if got = collected.Load(); got >= seen.Load()-2 {
			break
		}
		runtime.Gosched() // cleanups run on their own goroutine: let it
	}
	assert.GreaterOrEqual(t, got, seen.Load()-2, "elements handed on are collectable (at most a couple in locals)")
	close(more)
	require.NoError(t, p.Wait())
}

// P11: functions given Workers(n) run concurrently (the documentation says
// so), and the library's own state stays race-free while they do and while
// Stats is read: -race checks the latter, the counter the former.
func TestPitfall_P11_ConcurrentUserFunctions(t *testing.T) {
	p := stream.New(context.Background())
	var mu sync.Mutex
	seen := map[int]bool{} // user state: the user protects it
	var inFlight, peak, arrived atomic.Int64
	// The first two calls wait for each other: they can only both return if
	// the stage runs them at once, whatever the scheduler does under load.
	met := make(chan struct{})
	stream.ForEach(p, stream.FromSlice(p, seq(20_000)), func(_ context.Context, v int) error {
		pitfallStoreMax(&peak, inFlight.Add(1))
		switch arrived.Add(1) {
		case 1:
			<-met
		case 2:
			close(met)
		}
		mu.Lock()
		seen[v] = true
		mu.Unlock()
		runtime.Gosched()
		inFlight.Add(-1)
		return nil
	}, stream.Workers(8), stream.Name("users"))
	done := waitAsync(p)
	for {
		_ = p.Stats()
		if _, ok := returned(done); ok {
			break
		}
	}
	assert.Len(t, seen, 20_000)
	assert.Greater(t, peak.Load(), int64(1), "calls overlapped")
	assert.Equal(t, int64(20_000), statsOf(t, p, "users").In)
}

// P13: retries are bounded by Attempts (default 3) and every delay by Max;
// the end of the pipeline ends the retrying.
func TestPitfall_P13_UnboundedRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errDown := errors.New("service down")
		p := stream.New(t.Context())
		var calls atomic.Int64
		var at []time.Duration
		start := time.Now()
		stream.ForEach(p, stream.FromSlice(p, []int{1}), func(context.Context, int) error {
			calls.Add(1)
			at = append(at, time.Since(start))
			return errDown
		}, stream.Retry(stream.RetryPolicy{Initial: time.Hour, Max: 50 * time.Millisecond, Jitter: -1}))
		require.ErrorIs(t, p.Wait(), errDown)
		assert.Equal(t, int64(3), calls.Load(), "the default is 3 attempts")
		assert.Equal(t, []time.Duration{0, 50 * time.Millisecond, 100 * time.Millisecond}, at, "every delay is capped by Max")
	})
}

// P14: a per-call Timeout never outlives the pipeline's own deadline.
func TestPitfall_P14_TimeoutNoLaterThanThePipelineDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		p := stream.New(ctx)
		start := time.Now()
		var deadline time.Duration
		_, err := stream.Collect(p, stream.Map(p, stream.FromSlice(p, []int{1}), func(ctx context.Context, v int) (int, error) {
			d, _ := ctx.Deadline()
			deadline = d.Sub(start)
			<-ctx.Done()
			return 0, ctx.Err()
		}, stream.Timeout(time.Hour)))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 2*time.Second, deadline)
		assert.Equal(t, 2*time.Second, time.Since(start), "the call ended with the pipeline's deadline, not the hour")
	})
}

// P15: the per-call contexts Timeout creates are cancelled as each call
// returns, while the pipeline still runs, so none accumulate however long
// the stream.
func TestPitfall_P15_PerElementContextsReleased(t *testing.T) {
	p := stream.New(context.Background())
	var previous context.Context
	var released int
	stream.ForEach(p, stream.FromSlice(p, seq(1000)), func(ctx context.Context, _ int) error {
		if previous != nil {
			require.ErrorIs(t, previous.Err(), context.Canceled, "the previous call's context is released")
			released++
		}
		previous = ctx
		return nil
	}, stream.Timeout(time.Hour))
	require.NoError(t, p.Wait())
	assert.Equal(t, 999, released)
}

// P16: the pipeline has one owner context. When the request that owns it
// ends, every stage ends; and no work outlives the pipeline: the context a
// function was given is done once Wait has returned.
func TestPitfall_P16_OneOwnerContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		request, endRequest := context.WithCancel(t.Context())
		p := stream.New(request)
		var given context.Context
		stream.ForEach(p, stream.Generate(p, infinite(nil)), func(ctx context.Context, _ int) error {
			given = ctx
			<-ctx.Done()
			return ctx.Err()
		})
		require.ErrorIs(t, waitEndsAtOnce(t, p, endRequest), context.Canceled)
		require.ErrorIs(t, given.Err(), context.Canceled)
		require.Error(t, p.Context().Err(), "the pipeline's context is done after Wait")
	})
}

// P17: one slow stage shows in Stats: a full queue and busy workers in
// front of it, an empty queue behind it.
func TestPitfall_P17_SlowStageIsVisible(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(t.Context())
		fast := stream.Map(p, stream.Generate(p, infinite(nil)), double, stream.Name("fast"), stream.Capacity(10))
		slow := stream.Map(p, fast, func(ctx context.Context, v int) (int, error) {
			<-ctx.Done()
			return v, ctx.Err()
		}, stream.Name("slow"), stream.Workers(2), stream.Capacity(10))
		stream.ForEach(p, slow, func(context.Context, int) error { return nil }, stream.Name("sink"))
		synctest.Wait()
		f, s, k := statsOf(t, p, "fast"), statsOf(t, p, "slow"), statsOf(t, p, "sink")
		assert.Equal(t, f.QueueCap, f.QueueLen, "full in front of the slow stage")
		assert.Equal(t, 1, f.Busy, "the fast stage is blocked sending, not idle")
		assert.Equal(t, 2, s.Busy, "both slow workers are in their function")
		assert.Zero(t, s.QueueLen)
		assert.Zero(t, k.Busy, "the sink waits for input")
		p.Stop()
		require.NoError(t, p.Wait())
	})
}

// P18: no drop is silent: Stats, OnDrop and the Observer agree on every
// element a Buffer dropped.
func TestPitfall_P18_DropsAreCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		var onDrop []int
		p := stream.New(t.Context())
		in := make(chan int)
		out := stream.Buffer(p, in, 4, stream.DropNewest, stream.Name("buf"), stream.WithObserver(rec),
			stream.OnDrop(func(v int) { onDrop = append(onDrop, v) }))
		for v := range 10 {
			in <- v
		}
		close(in)
		synctest.Wait()
		got, err := stream.Collect(p, out)
		require.NoError(t, err)
		assert.Equal(t, []int{0, 1, 2, 3}, got)
		assert.Equal(t, []int{4, 5, 6, 7, 8, 9}, onDrop)
		_, observed := rec.count(stream.ElementDropped, "buf")
		assert.Equal(t, int64(6), observed)
		assert.Equal(t, int64(6), statsOf(t, p, "buf").Dropped)
	})
}
