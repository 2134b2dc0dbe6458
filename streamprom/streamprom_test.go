package streamprom_test

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pipewright/stream"
	"github.com/pipewright/stream/streamprom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata from the collector's output")

var errBad = errors.New("bad element")

// finishedPipeline runs a pipeline whose every count is known and returns
// it once it has ended. It runs in a synctest bubble, so the stages'
// sampled latencies are measured on the bubble's clock and are exact.
//
//	numbers (slice, 1..20) → parse (map) → even (filter) → latest (buffer 3, DropNewest) → caller
//	audit (go): panics once the caller has read everything
//
// parse sleeps 2ms per call, fails 10 and 20 on both of their two
// attempts (they are skipped) and 3 on its first attempt only; the buffer
// keeps the first 3 of the 8 even numbers and drops 5, because the caller
// reads it only after every stage upstream has ended.
func finishedPipeline(t *testing.T) *stream.Pipeline {
	t.Helper()
	var p *stream.Pipeline
	synctest.Test(t, func(t *testing.T) {
		p = stream.New(context.Background())
		nums := stream.FromSlice(p, numbers(1, 20), stream.Name("numbers"), stream.Capacity(4))
		flaky := true // parse has one worker: no lock needed
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

		time.Sleep(time.Hour) // on the bubble's clock: until every stage upstream has ended
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

// golden returns the content of testdata/name, first rewriting it with got
// when the test runs with -update.
func golden(t *testing.T, name, got string) string {
	t.Helper()
	path := "testdata/" + name
	if *update {
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

func TestCollectorExportsEveryStatOfAFinishedPipeline(t *testing.T) {
	c := streamprom.NewCollector(finishedPipeline(t))
	got := gatherText(t, c)
	want := golden(t, "finished.prom", got)
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestCollectorPassesTheLinter(t *testing.T) {
	problems, err := testutil.CollectAndLint(streamprom.NewCollector(finishedPipeline(t)))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// gatherText renders what c collects in the text exposition format.
func gatherText(t *testing.T, c prometheus.Collector) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	defer srv.Close()
	return scrape(t, srv)
}

// scrape gets the server's metrics in the text format.
func scrape(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, body)
	}
	return string(body)
}

// sample is one expected line of a scrape: the value of metric for a stage.
type sample struct {
	metric, kind, stage string
	value               float64
}

// samples parses the text exposition format into values keyed by
// `name{labels}`.
func samples(text string) map[string]float64 {
	m := make(map[string]float64)
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m
}

// mismatches returns the expected samples that text does not show.
func mismatches(text string, want []sample) []string {
	got := samples(text)
	var bad []string
	for _, w := range want {
		key := fmt.Sprintf(`stream_stage_%s{kind=%q,stage=%q}`, w.metric, w.kind, w.stage)
		if v, ok := got[key]; !ok || v != w.value {
			bad = append(bad, fmt.Sprintf("%s = %v (present: %v), want %v", key, v, ok, w.value))
		}
	}
	return bad
}

// TestMetricsHandlerServesCountsWhileRunningAndAfterwards runs in a
// synctest bubble, so that the stalled state is reached exactly when every
// goroutine blocks (no polling); the handler is served in memory
// (httptest.NewRecorder), as a network connection would not block durably.
func TestMetricsHandlerServesCountsWhileRunningAndAfterwards(t *testing.T) {
	synctest.Test(t, testMetricsHandlerServesCountsWhileRunningAndAfterwards)
}

func testMetricsHandlerServesCountsWhileRunningAndAfterwards(t *testing.T) {
	const n, stallAt, capacity = 1000, 100, 8

	p := stream.New(t.Context())
	reg := prometheus.NewRegistry()
	reg.MustRegister(streamprom.NewCollector(p))
	handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError})

	// double stalls on element stallAt until released, so the scrape sees
	// a pipeline mid-run in a known state: numbers blocked on its full
	// output, collect waiting for input.
	release := make(chan struct{})
	nums := stream.FromSlice(p, numbers(1, n), stream.Name("numbers"), stream.Capacity(capacity))
	doubled := stream.Map(p, nums, func(ctx context.Context, v int) (int, error) {
		if v == stallAt {
			select {
			case <-release:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		return 2 * v, nil
	}, stream.Name("double"), stream.Capacity(capacity))
	type result struct {
		items []int
		err   error
	}
	done := make(chan result, 1)
	go func() {
		items, err := stream.Collect(p, doubled)
		done <- result{items, err}
	}()
	defer func() { // if the test fails while double is stalled
		p.Stop()
		<-done
	}()

	// Counts are published when a worker blocks, so these hold exactly
	// once every stage has reached its stalled state: when every goroutine
	// of the bubble is blocked.
	running := []sample{
		{"elements_out_total", "slice", "numbers", stallAt + capacity},
		{"queue_length", "slice", "numbers", capacity},
		{"queue_capacity", "slice", "numbers", capacity},
		{"busy_workers", "slice", "numbers", 1}, // blocked on its full output
		{"busy_workers", "map", "double", 1},
		{"elements_in_total", "collect", "collect#3", stallAt - 1},
		{"busy_workers", "collect", "collect#3", 0},
		{"done", "slice", "numbers", 0},
		{"done", "map", "double", 0},
		{"done", "collect", "collect#3", 0},
	}
	synctest.Wait()
	text := serveMetrics(t, handler)
	if bad := mismatches(text, running); len(bad) > 0 {
		t.Fatalf("the running pipeline does not show the expected counts:\n%s\nscrape:\n%s", strings.Join(bad, "\n"), text)
	}

	close(release)
	res := <-done
	done <- res // for the deferred Stop
	if res.err != nil || len(res.items) != n {
		t.Fatalf("Collect returned %d items and %v, want %d and nil", len(res.items), res.err, n)
	}

	text = serveMetrics(t, handler)
	finished := []sample{
		{"elements_out_total", "slice", "numbers", n},
		{"elements_in_total", "map", "double", n},
		{"elements_out_total", "map", "double", n},
		{"elements_in_total", "collect", "collect#3", n},
		{"queue_length", "slice", "numbers", 0},
		{"queue_length", "map", "double", 0},
		{"busy_workers", "slice", "numbers", 0},
		{"busy_workers", "map", "double", 0},
		{"done", "slice", "numbers", 1},
		{"done", "map", "double", 1},
		{"done", "collect", "collect#3", 1},
		{"errors_total", "map", "double", 0},
		{"dropped_total", "map", "double", 0},
	}
	if bad := mismatches(text, finished); len(bad) > 0 {
		t.Errorf("the finished pipeline's scrape is wrong:\n%s\nscrape:\n%s", strings.Join(bad, "\n"), text)
	}
}

// serveMetrics serves GET /metrics with h, in memory, and returns the body.
func serveMetrics(t *testing.T, h http.Handler) string {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "text/plain")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func TestCollectorMakesEveryStageLabelValid(t *testing.T) {
	p := stream.New(t.Context())
	identity := func(_ context.Context, v int) (int, error) { return v, nil }
	// Names are unique, but two that differ only in invalid UTF-8 become
	// equal once repaired: the later one gets a suffix.
	a := stream.FromSlice(p, []int{1, 2}, stream.Name("x"))
	b := stream.Map(p, a, identity, stream.Name("bad\xffname"))
	c := stream.Map(p, b, identity, stream.Name("bad\xfename"))
	d := stream.Map(p, c, identity, stream.Name("bad\ufffdname (2)"))
	if err := stream.Drain(p, d); err != nil {
		t.Fatal(err)
	}

	want := `
# HELP stream_stage_elements_in_total Elements the stage received from its input.
# TYPE stream_stage_elements_in_total counter
stream_stage_elements_in_total{kind="drain",stage="drain#5"} 2
stream_stage_elements_in_total{kind="map",stage="bad�name"} 2
stream_stage_elements_in_total{kind="map",stage="bad�name (2)"} 2
stream_stage_elements_in_total{kind="map",stage="bad�name (2) (2)"} 2
stream_stage_elements_in_total{kind="slice",stage="x"} 0
`
	err := testutil.CollectAndCompare(streamprom.NewCollector(p), strings.NewReader(want), "stream_stage_elements_in_total")
	if err != nil {
		t.Error(err)
	}
}

func TestCollectorOptions(t *testing.T) {
	run := func() *stream.Pipeline {
		p := stream.New(t.Context())
		if err := stream.Drain(p, stream.FromSlice(p, []int{1, 2, 3}, stream.Name("numbers"))); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ingest, export := run(), run()

	t.Run("ConstLabels tell two pipelines apart in one registry", func(t *testing.T) {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(
			streamprom.NewCollector(ingest, streamprom.ConstLabels(prometheus.Labels{"pipeline": "ingest"})),
			streamprom.NewCollector(export, streamprom.ConstLabels(prometheus.Labels{"pipeline": "export"})),
		)
		want := `
# HELP stream_stage_elements_out_total Elements the stage sent to its output(s).
# TYPE stream_stage_elements_out_total counter
stream_stage_elements_out_total{kind="drain",pipeline="export",stage="drain#2"} 0
stream_stage_elements_out_total{kind="drain",pipeline="ingest",stage="drain#2"} 0
stream_stage_elements_out_total{kind="slice",pipeline="export",stage="numbers"} 3
stream_stage_elements_out_total{kind="slice",pipeline="ingest",stage="numbers"} 3
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "stream_stage_elements_out_total"); err != nil {
			t.Error(err)
		}
	})

	t.Run("two pipelines without distinct labels cannot share a registry", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		reg.MustRegister(streamprom.NewCollector(ingest))
		if err := reg.Register(streamprom.NewCollector(export)); err == nil {
			t.Error("registering a second collector with the same metrics succeeded")
		}
	})

	t.Run("Namespace replaces the metric prefix", func(t *testing.T) {
		want := `
# HELP jobs_stage_workers Goroutines of the stage (concurrent calls of its function).
# TYPE jobs_stage_workers gauge
jobs_stage_workers{kind="drain",stage="drain#2"} 1
jobs_stage_workers{kind="slice",stage="numbers"} 1
`
		c := streamprom.NewCollector(ingest, streamprom.Namespace("jobs"))
		if err := testutil.CollectAndCompare(c, strings.NewReader(want), "jobs_stage_workers"); err != nil {
			t.Error(err)
		}
	})

	t.Run("a reserved label name makes registration fail", func(t *testing.T) {
		c := streamprom.NewCollector(ingest, streamprom.ConstLabels(prometheus.Labels{"stage": "x"}))
		if err := prometheus.NewRegistry().Register(c); err == nil {
			t.Error("registering a collector with a constant label named stage succeeded")
		}
	})

	t.Run("a constant label le panics", func(t *testing.T) {
		defer func() {
			if r := recover(); r == nil || !strings.HasPrefix(fmt.Sprint(r), "streamprom: ") {
				t.Errorf("recovered %v, want a streamprom: panic", r)
			}
		}()
		streamprom.ConstLabels(prometheus.Labels{"le": "x"})
	})

	t.Run("a nil pipeline panics", func(t *testing.T) {
		defer func() {
			if r := recover(); r == nil || !strings.HasPrefix(fmt.Sprint(r), "streamprom: ") {
				t.Errorf("recovered %v, want a streamprom: panic", r)
			}
		}()
		streamprom.NewCollector(nil)
	})
}

// latencyPipeline runs, in a synctest bubble, a Map stage "m" with one
// worker whose timed elements (0, 64, 128, …) sleep durs[i], in order, and
// returns the pipeline once it has ended.
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
	if got := len(durs); statsOf(t, p, "m").Latency.Samples != int64(got) {
		t.Fatalf("%d samples, want %d", statsOf(t, p, "m").Latency.Samples, got)
	}
	return p
}

func statsOf(t *testing.T, p *stream.Pipeline, name string) stream.StageStats {
	t.Helper()
	for _, s := range p.Stats() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no stage %q", name)
	return stream.StageStats{}
}

// TestLatencyHistogram: the histogram's buckets are the engine's counts at
// powers of two, exact for a sample on a bound (2^20ns) and just above it,
// and a sample beyond the last bound is counted in +Inf only.
func TestLatencyHistogram(t *testing.T) {
	const bound = time.Duration(1) << 20 // 1.048576ms
	p := latencyPipeline(t, time.Millisecond, bound, bound+1, 3*time.Millisecond, 40*time.Second)
	c := streamprom.NewCollector(p, streamprom.LatencyBounds(bound/2, bound, 2*bound, 4*bound, 32*time.Second))
	want := `
# HELP stream_stage_latency_seconds Sampled time per element: the receipt-to-hand-off time of about one element in 64.
# TYPE stream_stage_latency_seconds histogram
stream_stage_latency_seconds_bucket{kind="drain",stage="drain#3",le="0.000524288"} 5
stream_stage_latency_seconds_bucket{kind="drain",stage="drain#3",le="0.001048576"} 5
stream_stage_latency_seconds_bucket{kind="drain",stage="drain#3",le="0.002097152"} 5
stream_stage_latency_seconds_bucket{kind="drain",stage="drain#3",le="0.004194304"} 5
stream_stage_latency_seconds_bucket{kind="drain",stage="drain#3",le="32"} 5
stream_stage_latency_seconds_bucket{kind="drain",stage="drain#3",le="+Inf"} 5
stream_stage_latency_seconds_sum{kind="drain",stage="drain#3"} 0
stream_stage_latency_seconds_count{kind="drain",stage="drain#3"} 5
stream_stage_latency_seconds_bucket{kind="map",stage="m",le="0.000524288"} 0
stream_stage_latency_seconds_bucket{kind="map",stage="m",le="0.001048576"} 2
stream_stage_latency_seconds_bucket{kind="map",stage="m",le="0.002097152"} 3
stream_stage_latency_seconds_bucket{kind="map",stage="m",le="0.004194304"} 4
stream_stage_latency_seconds_bucket{kind="map",stage="m",le="32"} 4
stream_stage_latency_seconds_bucket{kind="map",stage="m",le="+Inf"} 5
stream_stage_latency_seconds_sum{kind="map",stage="m"} 40.006097153
stream_stage_latency_seconds_count{kind="map",stage="m"} 5
stream_stage_latency_seconds_bucket{kind="slice",stage="in",le="0.000524288"} 5
stream_stage_latency_seconds_bucket{kind="slice",stage="in",le="0.001048576"} 5
stream_stage_latency_seconds_bucket{kind="slice",stage="in",le="0.002097152"} 5
stream_stage_latency_seconds_bucket{kind="slice",stage="in",le="0.004194304"} 5
stream_stage_latency_seconds_bucket{kind="slice",stage="in",le="32"} 5
stream_stage_latency_seconds_bucket{kind="slice",stage="in",le="+Inf"} 5
stream_stage_latency_seconds_sum{kind="slice",stage="in"} 0
stream_stage_latency_seconds_count{kind="slice",stage="in"} 5
`
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "stream_stage_latency_seconds"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// TestLatencyBoundsBetweenBuckets: a bound that is not one of the engine's
// counts the samples of the engine's buckets ending at or below it only.
func TestLatencyBoundsBetweenBuckets(t *testing.T) {
	p := latencyPipeline(t, time.Millisecond, 1100*time.Microsecond)
	c := streamprom.NewCollector(p, streamprom.LatencyBounds(time.Millisecond, 1200*time.Microsecond))
	want := `
# HELP stream_stage_latency_seconds Sampled time per element: the receipt-to-hand-off time of about one element in 64.
# TYPE stream_stage_latency_seconds histogram
stream_stage_latency_seconds_bucket{kind="drain",stage="drain#3",le="0.001"} 2
stream_stage_latency_seconds_bucket{kind="drain",stage="drain#3",le="0.0012"} 2
stream_stage_latency_seconds_bucket{kind="drain",stage="drain#3",le="+Inf"} 2
stream_stage_latency_seconds_sum{kind="drain",stage="drain#3"} 0
stream_stage_latency_seconds_count{kind="drain",stage="drain#3"} 2
stream_stage_latency_seconds_bucket{kind="map",stage="m",le="0.001"} 0
stream_stage_latency_seconds_bucket{kind="map",stage="m",le="0.0012"} 2
stream_stage_latency_seconds_bucket{kind="map",stage="m",le="+Inf"} 2
stream_stage_latency_seconds_sum{kind="map",stage="m"} 0.0021
stream_stage_latency_seconds_count{kind="map",stage="m"} 2
stream_stage_latency_seconds_bucket{kind="slice",stage="in",le="0.001"} 2
stream_stage_latency_seconds_bucket{kind="slice",stage="in",le="0.0012"} 2
stream_stage_latency_seconds_bucket{kind="slice",stage="in",le="+Inf"} 2
stream_stage_latency_seconds_sum{kind="slice",stage="in"} 0
stream_stage_latency_seconds_count{kind="slice",stage="in"} 2
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "stream_stage_latency_seconds"); err != nil {
		t.Error(err)
	}
}

func TestLatencyBoundsPanics(t *testing.T) {
	for _, bounds := range [][]time.Duration{{0}, {-time.Second}, {time.Second, time.Second}, {2 * time.Second, time.Second}} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(fmt.Sprint(r), "streamprom: LatencyBounds: ") {
					t.Errorf("LatencyBounds(%v) recovered %v, want a streamprom: panic", bounds, r)
				}
			}()
			streamprom.LatencyBounds(bounds...)
		}()
	}
}
