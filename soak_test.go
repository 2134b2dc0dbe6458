package stream_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pipewright/stream"
)

// TestSoak runs mixed pipelines continuously, in real time, from several
// goroutines at once (issue 8): the random pipelines of TestRandomPipelines
// (clean, failing, stopped and cancelled ones, with stalls), checked the same
// way, and long ones of 100,000 elements through ordered workers, batches,
// FanOut, Merge and Buffer. At the end the goroutine count must be back to
// its baseline and the heap, after GC, within a few MiB of it: nothing a
// pipeline made outlives it.
//
// It is skipped with -short. STREAM_SOAK sets its duration (a Go duration);
// the default, 20s, keeps CI short; the 60 s is STREAM_SOAK=60s.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test: skipped with -short")
	}
	duration := 20 * time.Second
	if s := os.Getenv("STREAM_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("STREAM_SOAK=%q: want a positive duration such as 60s", s)
		}
		duration = d
	}
	allowLonger(t, duration+time.Minute)
	const heapSlack = 8 << 20

	baseGoroutines := runtime.NumGoroutine()
	baseHeap := heapAfterGC()
	deadline := time.Now().Add(duration)

	var (
		tally     randomTally
		long      atomic.Int64
		failures  atomic.Int32
		peakHeap  atomic.Uint64
		seed      atomic.Uint64
		wg        sync.WaitGroup
		samplerWg sync.WaitGroup
	)
	seed.Store(1 << 40) // away from TestRandomPipelines' seeds
	stopSampler := make(chan struct{})
	samplerWg.Go(func() {
		ticker := time.NewTicker(250 * time.Millisecond)
		defer ticker.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-ticker.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > peakHeap.Load() {
					peakHeap.Store(ms.HeapAlloc)
				}
			case <-stopSampler:
				return
			}
		}
	})
	report := func(msg string) {
		if msg != "" && failures.Add(1) <= 10 {
			t.Error(msg)
		}
	}
	workers := 2 * runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				if w == 0 && i%25 == 0 {
					report(soakLongPipeline())
					long.Add(1)
					continue
				}
				rr := newRandomRun(seed.Add(1), false)
				rr.run()
				tally.add(rr)
				report(rr.report())
			}
		})
	}
	wg.Wait()
	close(stopSampler)
	samplerWg.Wait()

	// Goroutines that signalled their end may still be on their way out:
	// yield to them until they are gone (this bounds a wait, it is not a
	// margin on the result, and sleeps for no fixed time).
	goroutines := runtime.NumGoroutine()
	for settle := time.Now().Add(5 * time.Second); goroutines > baseGoroutines && time.Now().Before(settle); {
		runtime.Gosched()
		goroutines = runtime.NumGoroutine()
	}
	heap := heapAfterGC()
	t.Logf("soak %v: %s; %d long pipelines of 100000 elements", duration, &tally, long.Load())
	t.Logf("goroutines: %d before, %d after; heap after GC: %.1f MiB before, %.1f MiB after (peak %.1f MiB while running)",
		baseGoroutines, goroutines, mib(baseHeap), mib(heap), mib(peakHeap.Load()))
	if goroutines > baseGoroutines {
		t.Errorf("%d goroutines outlived the pipelines:\n%s", goroutines-baseGoroutines, goroutineDump())
	}
	if heap > baseHeap+heapSlack {
		t.Errorf("the heap grew by %.1f MiB over the soak, want at most %.0f MiB", mib(heap-baseHeap), mib(heapSlack))
	}
}

// soakLongPipeline pushes 100,000 elements through a mixed pipeline and
// checks the sum that comes out; it returns a failure report or "".
func soakLongPipeline() string {
	const n = 100_000
	p := stream.New(context.Background())
	src := stream.FromSeq(p, func(yield func(int) bool) {
		for v := range n {
			if !yield(v) {
				return
			}
		}
	})
	sq := stream.Map(p, src, func(_ context.Context, v int) (int, error) { return v % 1000, nil },
		stream.Workers(4), stream.Ordered())
	odd := stream.Filter(p, sq, func(_ context.Context, v int) (bool, error) { return v%2 == 1, nil }, stream.Workers(2))
	flat := stream.Flatten(p, stream.Batch(p, odd, 64, time.Millisecond), stream.Workers(2))
	branches := stream.FanOut(p, flat, 3)
	for i, b := range branches {
		branches[i] = stream.Map(p, b, func(_ context.Context, v int) (int, error) { return v, nil })
	}
	merged := stream.Buffer(p, stream.Merge(p, branches), 16, stream.Block)
	sum, err := stream.Reduce(p, merged, 0, func(acc, v int) int { return acc + v })
	want := (n / 1000) * 250_000 // each thousand holds the odd numbers below 1000, which sum to 250000
	if err != nil || sum != want {
		return fmt.Sprintf("long pipeline: sum %d, err %v; want %d, nil", sum, err, want)
	}
	return ""
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
