package streamotel_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pipewright/stream"
	"github.com/pipewright/stream/streamotel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var errBad = errors.New("bad element")

// finishedPipeline runs a pipeline whose every count is known and returns
// it once it has ended. It runs in a synctest bubble, so the stages'
// sampled latencies are measured on the bubble's clock and are exact.
// It is streamprom's test pipeline:
//
//	numbers (slice, 1..20) → parse (map) → even (filter) → latest (buffer 3, DropNewest) → caller
//	audit (go): panics once the caller has read everything
//
// parse sleeps 2ms per call, fails 10 and 20 on both of their two
// attempts (they are skipped) and 3 on its first attempt only; the buffer
// keeps the first 3 of the 8 even numbers and drops 5.
func finishedPipeline(t *testing.T) *stream.Pipeline {
	t.Helper()
	var p *stream.Pipeline
	synctest.Test(t, func(t *testing.T) {
		p = stream.New(context.Background())
		nums := stream.FromSlice(p, numbers(1, 20), stream.Name("numbers"), stream.Capacity(4))
		flaky := true
		parsed := stream.Map(p, nums, func(_ context.Context, v int) (int, error) {
			time.Sleep(2 * time.Millisecond)
			switch {
			case v%10 == 0:
				return 0, errBad
			case v == 3 && flaky:
				flaky = false
				return 0, errBad
			}
			return v, nil
		},
			stream.Name("parse"), stream.Capacity(4),
			stream.Retry(stream.RetryPolicy{Attempts: 2, Initial: time.Millisecond, Jitter: -1}),
			stream.OnError(func(int, error) error { return nil }),
		)
		even := stream.Filter(p, parsed, func(_ context.Context, v int) (bool, error) {
			return v%2 == 0, nil
		}, stream.Name("even"), stream.Capacity(4))
		latest := stream.Buffer(p, even, 3, stream.DropNewest, stream.Name("latest"))
		readAll := make(chan struct{})
		p.Go("audit", func(context.Context) error {
			<-readAll
			panic("audit: boom")
		})
		time.Sleep(time.Hour) // until every stage upstream has ended
		var got []int
		for v := range latest {
			got = append(got, v)
		}
		close(readAll)
		err := p.Wait()
		if want := []int{2, 4, 6}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("read %v from the buffer, want %v", got, want)
		}
		var pe *stream.PanicError
		if !errors.As(err, &pe) {
			t.Fatalf("Wait returned %v, want the audit stage's panic", err)
		}
	})
	return p
}

func numbers(from, to int) []int {
	s := make([]int, 0, to-from+1)
	for v := from; v <= to; v++ {
		s = append(s, v)
	}
	return s
}

// setup returns a manual reader exporting p: the instruments of Register
// and the histograms of NewProducer.
func setup(t *testing.T, p *stream.Pipeline, opts ...streamotel.Option) *sdkmetric.ManualReader {
	t.Helper()
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(streamotel.NewProducer(p, opts...)))
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = provider.Shutdown(context.Background()) })
	reg, err := streamotel.Register(provider.Meter(streamotel.ScopeName), p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Unregister() })
	return reader
}

func golden(t *testing.T, name, got string) string {
	t.Helper()
	path := "testdata/" + name
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(want)
}

func TestExportsEveryStatOfAFinishedPipeline(t *testing.T) {
	got := collect(t, setup(t, finishedPipeline(t)))
	if want := golden(t, "finished.txt", got); got != want {
		t.Errorf("collected:\n%s\nwant (testdata/finished.txt):\n%s", got, want)
	}
}

// latencyPipeline runs, in a synctest bubble, a Map stage "m" with one
// worker whose timed elements (0, 64, 128, …) sleep durs[i], and returns
// the pipeline once it has ended.
func latencyPipeline(t *testing.T, durs ...time.Duration) *stream.Pipeline {
	t.Helper()
	var p *stream.Pipeline
	synctest.Test(t, func(t *testing.T) {
		p = stream.New(context.Background())
		in := stream.FromSlice(p, numbers(0, 64*(len(durs)-1)), stream.Name("in"))
		out := stream.Map(p, in, func(_ context.Context, v int) (int, error) {
			if v%64 == 0 {
				time.Sleep(durs[v/64])
			}
			return v, nil
		}, stream.Name("m"))
		if err := stream.Drain(p, out); err != nil {
			t.Fatal(err)
		}
	})
	return p
}

// TestLatencyHistogram: the buckets are the engine's counts between fixed
// bounds, exact for a sample on a bound (2^20ns) and just above it; a
// sample beyond the last bound is counted in the last bucket only.
func TestLatencyHistogram(t *testing.T) {
	const bound = time.Duration(1) << 20 // 1.048576ms
	p := latencyPipeline(t, time.Millisecond, bound, bound+1, 3*time.Millisecond, 40*time.Second)
	got := collect(t, setup(t, p, streamotel.LatencyBounds(bound/2, bound, 2*bound, 4*bound, 32*time.Second)))
	for _, want := range []string{
		"# stream.stage.latency histogram s CumulativeTemporality bounds=[0.000524288 0.001048576 0.002097152 0.004194304 32]\n",
		`stream.stage.latency{kind="map",stage="m"} count=5 sum=40.006097153 counts=[0 2 1 1 0 1]` + "\n",
		`stream.stage.latency{kind="slice",stage="in"} count=5 sum=0 counts=[5 0 0 0 0 0]` + "\n",
		`stream.stage.latency_quantile{kind="map",q="0.5",stage="m"} 0.001179648` + "\n",
		`stream.stage.latency_quantile{kind="map",q="0.9",stage="m"} 42.94967296` + "\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("collected:\n%s\nwithout the line\n%s", got, want)
		}
	}
}

// TestCollectWhileRunning: a collection in the middle of a run sees the
// exact counts of stages that are idle, and the next one sees them move.
func TestCollectWhileRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(t.Context())
		// The input is the caller's channel: a stage idle on its input has
		// published its counts (a source waiting in its own function may
		// not have, see stream.Pipeline.Stats).
		feed := make(chan int)
		out := stream.Map(p, feed, func(_ context.Context, v int) (int, error) { return v, nil }, stream.Name("m"))
		reader := setup(t, p, streamotel.Attributes(attribute.String("pipeline", "live")))
		done := make(chan error, 1)
		go func() { done <- stream.Drain(p, out) }()
		for round, n := range []int{3, 5} {
			for i := range n {
				feed <- i
			}
			synctest.Wait() // every stage idle on its input
			got := collect(t, reader)
			total := []int{3, 8}[round]
			for _, want := range []string{
				fmt.Sprintf(`stream.stage.elements.in{kind="map",pipeline="live",stage="m"} %d`, total),
				fmt.Sprintf(`stream.stage.elements.out{kind="map",pipeline="live",stage="m"} %d`, total),
				fmt.Sprintf(`stream.stage.elements.in{kind="drain",pipeline="live",stage="drain#2"} %d`, total),
				`stream.stage.busy_workers{kind="map",pipeline="live",stage="m"} 0`,
				`stream.stage.done{kind="map",pipeline="live",stage="m"} 0`,
			} {
				if !strings.Contains(got, want+"\n") {
					t.Errorf("round %d: collected:\n%s\nwithout the line\n%s", round, got, want)
				}
			}
		}
		close(feed)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// TestUnregister: once unregistered, the instruments report nothing.
func TestUnregister(t *testing.T) {
	p := latencyPipeline(t, time.Millisecond)
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())
	reg, err := streamotel.Register(provider.Meter(streamotel.ScopeName), p)
	if err != nil {
		t.Fatal(err)
	}
	if got := collect(t, reader); !strings.Contains(got, `stream.stage.elements.out{kind="map",stage="m"} 1`) {
		t.Fatalf("collected:\n%s", got)
	}
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	if got := collect(t, reader); strings.Contains(got, "stream.stage.elements.out{") {
		t.Errorf("collected after Unregister:\n%s", got)
	}
}

// TestStageNamesRepaired: invalid UTF-8 in a name is replaced, and two
// names equal once repaired get distinct attribute sets.
func TestStageNamesRepaired(t *testing.T) {
	p := stream.New(t.Context())
	id := func(_ context.Context, v int) (int, error) { return v, nil }
	c := stream.Map(p, stream.FromSlice(p, []int{1}, stream.Name("src")), id, stream.Name("a\xffb"))
	c = stream.Map(p, c, id, stream.Name("a\xfeb"))
	if err := stream.Drain(p, c); err != nil {
		t.Fatal(err)
	}
	got := collect(t, setup(t, p))
	for _, want := range []string{
		"stream.stage.elements.in{kind=\"map\",stage=\"a\uFFFDb\"} 1",
		"stream.stage.elements.in{kind=\"map\",stage=\"a\uFFFDb (2)\"} 1",
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("collected:\n%s\nwithout the line\n%s", got, want)
		}
	}
}

func TestProgrammerErrorsPanic(t *testing.T) {
	p := stream.New(t.Context())
	meter := sdkmetric.NewMeterProvider().Meter(streamotel.ScopeName)
	for name, f := range map[string]func(){
		"Register nil pipeline": func() { _, _ = streamotel.Register(meter, nil) },
		"Register nil meter":    func() { _, _ = streamotel.Register(nil, p) },
		"NewProducer nil":       func() { streamotel.NewProducer(nil) },
		"nil option":            func() { streamotel.NewProducer(p, nil) },
		"reserved attribute":    func() { streamotel.Attributes(attribute.String("stage", "x")) },
		"reserved attribute q":  func() { streamotel.Attributes(attribute.String("q", "x")) },
		"zero bound":            func() { streamotel.LatencyBounds(0) },
		"decreasing bounds":     func() { streamotel.LatencyBounds(2*time.Second, time.Second) },
		"equal bounds":          func() { streamotel.LatencyBounds(time.Second, time.Second) },
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(fmt.Sprint(r), "streamotel: ") {
					t.Errorf("%s: recovered %v, want a streamotel: panic", name, r)
				}
			}()
			f()
		}()
	}
}

// TestCollectWhileRunningFullSpeed collects continuously while stages move
// elements as fast as they can; -race checks the rest, and the counts only
// grow.
func TestCollectWhileRunningFullSpeed(t *testing.T) {
	p := stream.New(t.Context())
	c := stream.FromSlice(p, numbers(1, 20000), stream.Name("src"))
	c = stream.Map(p, c, func(_ context.Context, v int) (int, error) { return v, nil }, stream.Workers(2), stream.Name("m"))
	reader := setup(t, p)
	done := make(chan error, 1)
	go func() { done <- stream.Drain(p, c) }()
	collections := 0
	for running := true; running; collections++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			running = false
		default:
		}
		if got := collect(t, reader); !strings.Contains(got, `stream.stage.latency{kind="map",stage="m"}`) {
			t.Fatalf("no histogram for m in\n%s", got)
		}
	}
	got := collect(t, reader)
	if want := `stream.stage.elements.out{kind="map",stage="m"} 20000`; !strings.Contains(got, want+"\n") {
		t.Errorf("collected after %d collections:\n%s\nwithout the line\n%s", collections, got, want)
	}
}

// Attributes given twice add up: "adds attributes" means the second call
// does not drop the first's.
func TestAttributesAddUp(t *testing.T) {
	p := stream.New(t.Context())
	if err := stream.Drain(p, stream.FromSlice(p, []int{1}, stream.Name("src"))); err != nil {
		t.Fatal(err)
	}
	got := collect(t, setup(t, p,
		streamotel.Attributes(attribute.String("pipeline", "ingest")),
		streamotel.Attributes(attribute.String("team", "data"))))
	for _, want := range []string{
		"stream.stage.elements.out{kind=\"slice\",pipeline=\"ingest\",stage=\"src\",team=\"data\"} 1",
		"stream.stage.latency_quantile{kind=\"slice\",pipeline=\"ingest\",q=\"0.5\",stage=\"src\",team=\"data\"}",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("collected:\n%s\nwithout\n%s", got, want)
		}
	}
}
