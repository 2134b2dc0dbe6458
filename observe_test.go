package stream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"log/slog"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// recorder is an Observer that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []stream.Event
}

func (r *recorder) Observe(e stream.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) count(kind stream.EventKind, stage string) (n int, total int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Kind == kind && e.Stage == stage {
			n++
			total += e.Count
		}
	}
	return n, total
}

func TestObserverEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errFlaky := errors.New("flaky")
		rec := &recorder{}
		p := stream.New(t.Context())
		p.SetObserver(rec)
		src := stream.FromSlice(p, seq(20), stream.Name("src"))
		calls := map[int]int{}
		m := stream.Map(p, src, func(_ context.Context, v int) (int, error) {
			calls[v]++
			if v%5 == 0 && calls[v] == 1 {
				return 0, errFlaky // retried once, then fine
			}
			if v == 7 {
				return 0, errFlaky // skipped for good
			}
			return v, nil
		}, stream.Name("work"), stream.Retry(stream.RetryPolicy{Attempts: 2, Initial: time.Millisecond, If: func(err error) bool { return true }}),
			stream.OnError(func(v int, err error) error { return nil }))
		buf := stream.Buffer(p, m, 2, stream.DropNewest, stream.Name("buf"))
		synctest.Wait() // the buffer fills while nobody reads
		own := &recorder{}
		_, err := stream.Collect(p, stream.Map(p, buf, double, stream.Name("own"), stream.WithObserver(own)))
		require.NoError(t, err)

		for _, name := range []string{"src", "work", "buf"} {
			n, _ := rec.count(stream.StageStarted, name)
			assert.Equal(t, 1, n, "%s started", name)
			n, _ = rec.count(stream.StageStopped, name)
			assert.Equal(t, 1, n, "%s stopped", name)
		}
		n, _ := rec.count(stream.StageStarted, "own")
		assert.Zero(t, n, "a stage's own observer replaces the pipeline's")
		n, _ = own.count(stream.StageStarted, "own")
		assert.Equal(t, 1, n)

		work := statsOf(t, p, "work")
		n, _ = rec.count(stream.ElementRetried, "work")
		assert.Equal(t, int(work.Retried), n)
		assert.Equal(t, 5, n, "v=0,5,10,15 retried once; v=7 retried once before it is skipped")
		n, _ = rec.count(stream.ElementFailed, "work")
		assert.Equal(t, 1, n, "v=7 failed for good")
		_, dropped := rec.count(stream.ElementDropped, "buf")
		assert.Equal(t, statsOf(t, p, "buf").Dropped, dropped)
		assert.Positive(t, dropped)
	})
}

func TestObserverSeesTheStageError(t *testing.T) {
	errBoom := errors.New("boom")
	rec := &recorder{}
	p := stream.New(context.Background())
	p.SetObserver(rec)
	stream.ForEach(p, stream.FromSlice(p, seq(3)), func(_ context.Context, v int) error {
		if v == 1 {
			panic(errBoom)
		}
		return nil
	}, stream.Name("sink"))
	require.ErrorIs(t, p.Wait(), errBoom)
	var panicked, stopped stream.Event
	for _, e := range rec.events {
		switch {
		case e.Kind == stream.StagePanicked:
			panicked = e
		case e.Kind == stream.StageStopped && e.Stage == "sink":
			stopped = e
		}
	}
	var pe *stream.PanicError
	require.ErrorAs(t, panicked.Err, &pe)
	require.ErrorIs(t, stopped.Err, errBoom, "StageStopped carries the stage's error")
	assert.Equal(t, "foreach", stopped.StageKind)
}

func TestSlogObserver(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := stream.New(context.Background())
	p.SetObserver(stream.SlogObserver(logger))
	_, err := stream.Collect(p, stream.Map(p, stream.FromSlice(p, seq(3)), func(_ context.Context, v int) (int, error) {
		if v == 2 {
			return 0, errors.New("bad")
		}
		return v, nil
	}, stream.Name("parse")))
	require.Error(t, err)
	var lines []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		require.NoError(t, json.Unmarshal(line, &m))
		lines = append(lines, m)
	}
	var failed map[string]any
	for _, m := range lines {
		if m["msg"] == "stream: element-failed" {
			failed = m
		}
	}
	require.NotNil(t, failed, "logged: %s", buf.String())
	assert.Equal(t, "ERROR", failed["level"])
	assert.Equal(t, "parse", failed["stage"])
	assert.Equal(t, "bad", failed["err"])
}

func TestLatencyAndBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(t.Context())
		gate := make(chan struct{})
		out := stream.Map(p, stream.FromSlice(p, seq(640)), func(_ context.Context, v int) (int, error) {
			<-gate
			time.Sleep(3 * time.Millisecond)
			return v, nil
		}, stream.Workers(3), stream.Name("slow"))
		synctest.Wait()
		assert.Equal(t, 3, statsOf(t, p, "slow").Busy, "three workers in their function")
		close(gate)
		got, err := stream.Collect(p, out)
		require.NoError(t, err)
		assert.Len(t, got, 640)
		st := statsOf(t, p, "slow")
		assert.Zero(t, st.Busy, "nobody is busy once the stage is done")
		// each worker times its first element, then one in 64: 640/64,
		// give or take each worker's partial runs
		assert.InDelta(t, 640/64, st.Latency.Samples, 3)
		// 3ms falls in the bucket (2^21+3·2^18, 2^21+4·2^18] ns
		assert.Equal(t, 3145728*time.Nanosecond, st.Latency.P50)
		assert.Equal(t, 3145728*time.Nanosecond, st.Latency.P99)
	})
}

// TestStatsWhileRunningFullSpeed reads Stats and Graph continuously while
// four stages move elements as fast as they can; -race checks the rest.
func TestStatsWhileRunningFullSpeed(t *testing.T) {
	n := 200_000
	if raceEnabled {
		n = 50_000
	}
	p := stream.New(context.Background())
	c := stream.Generate(p, countTo(n))
	c = stream.Map(p, c, double, stream.Workers(2))
	c = stream.Filter(p, c, func(context.Context, int) (bool, error) { return true, nil })
	var reads atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				for _, s := range p.Stats() {
					if s.In < 0 || s.QueueLen > s.QueueCap {
						t.Errorf("inconsistent %+v", s)
					}
				}
				_ = p.Graph()
				reads.Add(1)
			}
		}
	})
	require.NoError(t, stream.Drain(p, c))
	close(stop)
	wg.Wait()
	assert.Positive(t, reads.Load())
	assert.Equal(t, int64(n), p.Stats()[3].In)
}

// TestGraphGolden renders a FanOut + Merge topology and compares it with
// testdata/graph_fanout_merge.mmd (regenerate with -update; the file renders
// in the Mermaid CLI and on GitHub).
func TestGraphGolden(t *testing.T) {
	p := stream.New(context.Background())
	src := stream.FromSlice(p, seq(100), stream.Name("orders"))
	parsed := stream.Map(p, src, double, stream.Name("parse"), stream.Workers(4))
	shards := stream.FanOut(p, parsed, 3, stream.Name("shard"), stream.Capacity(8))
	enriched := make([]<-chan int, len(shards))
	for i, sh := range shards {
		enriched[i] = stream.Map(p, sh, double, stream.Capacity(16))
	}
	merged := stream.Merge(p, enriched, stream.Name("merge"))
	_, err := stream.Collect(p, stream.Take(p, merged, 10))
	require.NoError(t, err)

	got := p.Graph()
	path := filepath.Join("testdata", "graph_fanout_merge.mmd")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), got)
}

// TestObserverMayCallThePipeline: an observer that reads Stats on every
// event (even StageStarted, sent while the stage is being added) does not
// deadlock the pipeline.
func TestObserverMayCallThePipeline(t *testing.T) {
	p := stream.New(context.Background())
	var calls atomic.Int64
	p.SetObserver(stream.ObserverFunc(func(stream.Event) {
		calls.Add(int64(len(p.Stats())))
		_ = p.Graph()
	}))
	got, err := stream.Collect(p, stream.Map(p, stream.FromSlice(p, seq(10)), double))
	require.NoError(t, err)
	assert.Len(t, got, 10)
	assert.Positive(t, calls.Load())
}
