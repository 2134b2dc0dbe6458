package stream_test

import (
	"context"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
)

// WindowReduce against the map-of-aggregates loop one writes by hand, in
// the same run: 1,000 keys, event time one microsecond per element,
// Tumbling(100ms) windows (so 100 elements per pane, and the windows roll
// every 100,000 elements), a count as the aggregate. Both read from a
// source goroutine and send their panes to a reader goroutine.
//
//	go test -run '^$' -bench 'WindowReduce' -count 6 .

const (
	benchKeys   = 1000
	benchWindow = 100 * time.Millisecond
)

func benchTime(i int) time.Time { return time.Unix(0, int64(i)*int64(time.Microsecond)) }

func BenchmarkWindowReduce(b *testing.B) {
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		done := make(chan struct{})
		defer close(done)
		in := handSource(b.N, done, sendFast[int])
		panes := handWindows(in, done)
		n := 0
		for range panes {
			n++
		}
		b.ReportMetric(float64(n), "panes")
	})
	b.Run("stream", func(b *testing.B) {
		b.ReportAllocs()
		p := stream.New(context.Background())
		panes := stream.WindowReduce(p, stream.Generate(p, countTo(b.N)), stream.Tumbling(benchWindow),
			func(i int) int { return i % benchKeys }, 0, func(n int, _ int) int { return n + 1 },
			stream.EventTime(benchTime, 0))
		n, err := stream.Count(p, panes)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(n), "panes")
	})
}

// handWindows is the hand-written keyed tumbling window in event time: a
// map from (key, window start) to the count, a watermark, and a sweep of
// the map when the watermark passes the earliest open end.
func handWindows(in <-chan int, done <-chan struct{}) <-chan stream.Pane[int, int] {
	type winKey struct {
		key   int
		start int64
	}
	type agg struct {
		n int
	}
	out := make(chan stream.Pane[int, int], benchCap)
	go func() {
		defer close(out)
		size := int64(benchWindow)
		open := map[winKey]*agg{}
		var free []*agg
		mark, nextEnd := int64(-1<<63), int64(1<<63-1)
		emit := func(k winKey, a *agg) bool {
			pn := stream.Pane[int, int]{Key: k.key, Start: time.Unix(0, k.start).UTC(), End: time.Unix(0, k.start+size).UTC(), Value: a.n, Count: a.n}
			delete(open, k)
			free = append(free, a)
			return sendFast(out, pn, done)
		}
		for i := range in {
			t := benchTime(i).UnixNano()
			mark = max(mark, t)
			if mark >= nextEnd {
				nextEnd = 1<<63 - 1
				for k, a := range open {
					if k.start+size <= mark {
						if !emit(k, a) {
							return
						}
					} else {
						nextEnd = min(nextEnd, k.start+size)
					}
				}
			}
			start := t - t%size
			k := winKey{i % benchKeys, start}
			a := open[k]
			if a == nil {
				if n := len(free); n > 0 {
					a, free = free[n-1], free[:n-1]
					*a = agg{}
				} else {
					a = new(agg)
				}
				open[k] = a
				nextEnd = min(nextEnd, start+size)
			}
			a.n++
		}
		for k, a := range open {
			if !emit(k, a) {
				return
			}
		}
	}()
	return out
}

// TestWindowMemoryFlat: 10,000,000 elements over 1,000 keys through
// WindowReduce(Tumbling) keep the peak heap within a few MB of the
// 100,000-element run. The heap is sampled with runtime/metrics every
// 10,000 elements: the live heap (as of the latest GC: what the stage
// retains) and all heap objects (live or garbage not yet collected, so up
// to the GC's goal, at least 4 MB: the map of open panes drops its old
// tables as windows roll). Skipped with -short and under the race detector.
func TestWindowMemoryFlat(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("10 million elements: not with -short or -race")
	}
	var live, objects [3]uint64
	for i, n := range []int{100_000, 1_000_000, 10_000_000} { // windows roll from 1,000,000 on
		live[i], objects[i] = windowPeakHeap(t, n)
	}
	mb := func(v uint64) float64 { return float64(v) / (1 << 20) }
	t.Logf("peak live heap: %.2f MB at 100,000 elements, %.2f MB at 1,000,000, %.2f MB at 10,000,000", mb(live[0]), mb(live[1]), mb(live[2]))
	t.Logf("peak heap objects: %.2f MB, %.2f MB, %.2f MB", mb(objects[0]), mb(objects[1]), mb(objects[2]))
	require.Less(t, live[2], live[0]+2<<20, "the live heap grows with the stream's length")
	require.Less(t, objects[2], objects[0]+6<<20, "the heap grows with the stream's length")
}

// windowPeakHeap runs n elements through the window stage and returns the
// peak live heap and the peak of all heap objects.
func windowPeakHeap(t *testing.T, n int) (live, objects uint64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	p := stream.New(context.Background())
	src := stream.Generate(p, func(_ context.Context, emit func(int) error) error {
		for i := range n {
			if i%10_000 == 0 {
				metrics.Read(sample)
				live = max(live, sample[0].Value.Uint64())
				objects = max(objects, sample[1].Value.Uint64())
			}
			if err := emit(i); err != nil {
				return err
			}
		}
		return nil
	})
	panes := stream.WindowReduce(p, src, stream.Tumbling(benchWindow),
		func(i int) int { return i % benchKeys }, 0, func(n int, _ int) int { return n + 1 },
		stream.EventTime(benchTime, 10*time.Millisecond))
	count, err := stream.Count(p, panes)
	require.NoError(t, err)
	windows := (n + 99_999) / 100_000
	require.Equal(t, windows*benchKeys, count, "one pane per key and window")
	return live, objects
}

// BenchmarkStreamOps: the per-element cost and allocations of the
// stream-processing operators that emit elements themselves (Scan,
// Distinct, Split, Zip, Debounce) and of the sinks Count and Values, each
// after a source, beside the hand-written source → stage → reader of
// bench_test.go in the same run.
//
//	go test -run '^$' -bench 'StreamOps' -count 6 .
func BenchmarkStreamOps(b *testing.B) {
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		done := make(chan struct{})
		defer close(done)
		drainHand(b, handStage(handSource(b.N, done, sendFast[int]), done, 1, sendFast[int], handInc))
	})
	run := func(name string, build func(p *stream.Pipeline, src <-chan int, n int) error) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			p := stream.New(context.Background())
			if err := build(p, stream.Generate(p, countTo(b.N)), b.N); err != nil {
				b.Fatal(err)
			}
		})
	}
	run("Scan", func(p *stream.Pipeline, src <-chan int, _ int) error {
		return stream.Drain(p, stream.Scan(p, src, 0, addInts))
	})
	run("Distinct", func(p *stream.Pipeline, src <-chan int, _ int) error {
		return stream.Drain(p, stream.Distinct(p, src, func(v int) int { return v % 2048 }, 1024))
	})
	run("Split", func(p *stream.Pipeline, src <-chan int, _ int) error {
		yes, no := stream.Split(p, src, func(_ context.Context, v int) (bool, error) { return v&1 == 0, nil })
		stream.ForEach(p, no, func(context.Context, int) error { return nil })
		return stream.Drain(p, yes)
	})
	run("Zip", func(p *stream.Pipeline, src <-chan int, n int) error {
		return stream.Drain(p, stream.Zip(p, src, stream.Generate(p, countTo(n))))
	})
	run("Debounce", func(p *stream.Pipeline, src <-chan int, _ int) error {
		return stream.Drain(p, stream.Debounce(p, src, time.Hour))
	})
	run("Count", func(p *stream.Pipeline, src <-chan int, _ int) error {
		_, err := stream.Count(p, src)
		return err
	})
	run("Values", func(p *stream.Pipeline, src <-chan int, _ int) error {
		for _, err := range stream.Values(p, src) {
			if err != nil {
				return err
			}
		}
		return nil
	})
}
