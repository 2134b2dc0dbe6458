// Metrics runs one small pipeline and prints, for every stage, each value
// of its Stats() beside the same value as exported by streamprom
// (Prometheus) and by streamotel (OpenTelemetry), read back from a
// Prometheus registry and an OpenTelemetry manual reader. A value that
// differs between the three is marked with "≠" and makes the program exit
// with status 1.
//
//	go run .            # from examples/metrics
//
// The pipeline: numbers (slice, 1..200) → parse (map, sleeps 1, 2, 4 or 8 ms
// by quarter of the input, fails 10, 20, … twice, retries once and skips
// them) → even (filter) →
// latest (buffer 3, drops the newest) → caller, who reads after the end.
// The test of this program runs the same pipeline under testing/synctest,
// where every value is exact, and compares the whole table with a golden
// file.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/pipewright/stream"
	"github.com/pipewright/stream/streamotel"
	"github.com/pipewright/stream/streamprom"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func main() {
	p := stream.New(context.Background())
	prom, otel, err := exporters(p)
	if err != nil {
		log.Fatal(err)
	}
	if err := run(p); err != nil {
		log.Fatal(err)
	}
	ok, err := compare(os.Stdout, p, prom, otel)
	if err != nil {
		log.Fatal(err)
	}
	if !ok {
		os.Exit(1)
	}
}

var errBad = errors.New("bad element")

// run builds the pipeline on p, runs it to its end and reads the buffer.
func run(p *stream.Pipeline) error {
	nums := make([]int, 200)
	for i := range nums {
		nums[i] = i + 1
	}
	in := stream.FromSlice(p, nums, stream.Name("numbers"), stream.Capacity(4))
	parsed := stream.Map(p, in, func(_ context.Context, v int) (int, error) {
		time.Sleep(time.Millisecond << ((v - 1) / 64)) // 1, 2, 4, 8 ms
		if v%10 == 0 {
			return 0, errBad
		}
		return v, nil
	}, stream.Name("parse"), stream.Capacity(4),
		stream.Retry(stream.RetryPolicy{Attempts: 2, Initial: time.Millisecond, Jitter: -1}),
		stream.OnError(func(int, error) error { return nil }))
	even := stream.Filter(p, parsed, func(_ context.Context, v int) (bool, error) {
		return v%2 == 0, nil
	}, stream.Name("even"), stream.Capacity(4))
	latest := stream.Buffer(p, even, 3, stream.DropNewest, stream.Name("latest"))
	// Read only once every stage upstream of the buffer has ended, so that
	// what the buffer drops does not depend on timing.
	for st := statsByName(p.Stats()); !st["even"].Done; st = statsByName(p.Stats()) {
		time.Sleep(time.Millisecond)
	}
	for range latest {
	}
	return p.Wait()
}

func statsByName(stats []stream.StageStats) map[string]stream.StageStats {
	m := make(map[string]stream.StageStats, len(stats))
	for _, s := range stats {
		m[s.Name] = s
	}
	return m
}

// exporters registers p with a Prometheus registry and an OpenTelemetry
// meter provider whose manual reader has streamotel's producer.
func exporters(p *stream.Pipeline) (*prometheus.Registry, *sdkmetric.ManualReader, error) {
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(streamprom.NewCollector(p)); err != nil {
		return nil, nil, err
	}
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(streamotel.NewProducer(p)))
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	if _, err := streamotel.Register(provider.Meter(streamotel.ScopeName), p); err != nil {
		return nil, nil, err
	}
	return reg, reader, nil
}

// row is one value of one stage, as Stats, Prometheus and OpenTelemetry
// give it.
type row struct {
	field, prom, otel string
	stats, pv, ov     float64
}

// compare reads p.Stats(), gathers prom and collects otel once each, and
// writes one table per stage. It reports whether every value agrees.
func compare(w io.Writer, p *stream.Pipeline, prom *prometheus.Registry, otel *sdkmetric.ManualReader) (bool, error) {
	stats := p.Stats()
	families, err := prom.Gather()
	if err != nil {
		return false, err
	}
	var rm metricdata.ResourceMetrics
	if err := otel.Collect(context.Background(), &rm); err != nil {
		return false, err
	}
	pv := promValues(families)
	ov := otelValues(rm)
	ok := true
	for _, s := range stats {
		fmt.Fprintf(w, "stage %s (%s)\n", s.Name, s.Kind)
		fmt.Fprintf(w, "  %-24s %12s   %-52s %12s   %-40s %12s\n", "Stats()", "", "Prometheus", "", "OpenTelemetry", "")
		for _, r := range rows(s) {
			key := s.Name + "|"
			r.pv, r.ov = lookup(pv, key+r.prom), lookup(ov, key+r.otel)
			mark := " "
			if r.pv != r.stats || r.ov != r.stats {
				mark, ok = "≠", false
			}
			fmt.Fprintf(w, "%s %-24s %12s   %-52s %12s   %-40s %12s\n", mark, r.field, num(r.stats), r.prom, num(r.pv), r.otel, num(r.ov))
		}
	}
	return ok, nil
}

// rows lists the values of s to compare, with the name of each in the two
// exports. Durations are in seconds. The histogram rows are the default
// bounds at which the cumulative count changes, and +Inf.
func rows(s stream.StageStats) []row {
	rs := []row{
		{"In", "stream_stage_elements_in_total", "stream.stage.elements.in", float64(s.In), 0, 0},
		{"Out", "stream_stage_elements_out_total", "stream.stage.elements.out", float64(s.Out), 0, 0},
		{"Errors", "stream_stage_errors_total", "stream.stage.errors", float64(s.Errors), 0, 0},
		{"Skipped", "stream_stage_skipped_total", "stream.stage.skipped", float64(s.Skipped), 0, 0},
		{"Dropped", "stream_stage_dropped_total", "stream.stage.dropped", float64(s.Dropped), 0, 0},
		{"Retried", "stream_stage_retries_total", "stream.stage.retries", float64(s.Retried), 0, 0},
		{"Panics", "stream_stage_panics_total", "stream.stage.panics", float64(s.Panics), 0, 0},
		{"QueueLen", "stream_stage_queue_length", "stream.stage.queue.length", float64(s.QueueLen), 0, 0},
		{"QueueCap", "stream_stage_queue_capacity", "stream.stage.queue.capacity", float64(s.QueueCap), 0, 0},
		{"Busy", "stream_stage_busy_workers", "stream.stage.busy_workers", float64(s.Busy), 0, 0},
		{"Workers", "stream_stage_workers", "stream.stage.workers", float64(s.Workers), 0, 0},
		{"Limit", "stream_stage_worker_limit", "stream.stage.worker_limit", float64(s.Limit), 0, 0},
		{"Done", "stream_stage_done", "stream.stage.done", float64(boolToInt(s.Done)), 0, 0},
		{"Latency.P50", `stream_stage_latency_quantile_seconds{q="0.5"}`, `stream.stage.latency_quantile{q="0.5"}`, s.Latency.P50.Seconds(), 0, 0},
		{"Latency.P90", `stream_stage_latency_quantile_seconds{q="0.9"}`, `stream.stage.latency_quantile{q="0.9"}`, s.Latency.P90.Seconds(), 0, 0},
		{"Latency.P99", `stream_stage_latency_quantile_seconds{q="0.99"}`, `stream.stage.latency_quantile{q="0.99"}`, s.Latency.P99.Seconds(), 0, 0},
		{"Latency.Samples", "stream_stage_latency_seconds_count", "stream.stage.latency count", float64(s.Latency.Samples), 0, 0},
		{"Latency.Sum", "stream_stage_latency_seconds_sum", "stream.stage.latency sum", s.Latency.Sum.Seconds(), 0, 0},
	}
	prev := int64(-1)
	for _, b := range streamprom.DefaultLatencyBounds() {
		n := s.Latency.CountAtMost(b)
		if n == prev {
			continue
		}
		prev = n
		le := strconv.FormatFloat(b.Seconds(), 'g', -1, 64)
		rs = append(rs, row{"CountAtMost(" + b.String() + ")",
			`stream_stage_latency_seconds_bucket{le="` + le + `"}`, `stream.stage.latency le=` + le, float64(n), 0, 0})
	}
	rs = append(rs, row{"Samples (+Inf)", `stream_stage_latency_seconds_bucket{le="+Inf"}`, "stream.stage.latency le=+Inf", float64(s.Latency.Samples), 0, 0})
	return rs
}

// promValues indexes every sample of families by "stage|name{extra}", where
// extra is the label q or le, if any.
func promValues(families []*dto.MetricFamily) map[string]float64 {
	m := map[string]float64{}
	for _, mf := range families {
		for _, met := range mf.GetMetric() {
			var stage, q string
			for _, l := range met.GetLabel() {
				switch l.GetName() {
				case "stage":
					stage = l.GetValue()
				case "q":
					q = `{q="` + l.GetValue() + `"}`
				}
			}
			key := stage + "|" + mf.GetName()
			switch {
			case met.Counter != nil:
				m[key] = met.Counter.GetValue()
			case met.Gauge != nil:
				m[key+q] = met.Gauge.GetValue()
			case met.Histogram != nil:
				h := met.Histogram
				m[key+"_count"] = float64(h.GetSampleCount())
				m[key+"_sum"] = h.GetSampleSum()
				for _, b := range h.GetBucket() {
					le := strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)
					m[key+`_bucket{le="`+le+`"}`] = float64(b.GetCumulativeCount())
				}
				m[key+`_bucket{le="+Inf"}`] = float64(h.GetSampleCount())
			}
		}
	}
	return m
}

// otelValues indexes every data point of rm by "stage|name{q}", and a
// histogram's count, sum and cumulative counts by "stage|name count",
// "… sum" and "… le=bound".
func otelValues(rm metricdata.ResourceMetrics) map[string]float64 {
	m := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, met := range sm.Metrics {
			switch d := met.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					stage, _ := p.Attributes.Value("stage")
					m[stage.AsString()+"|"+met.Name] = float64(p.Value)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					stage, _ := p.Attributes.Value("stage")
					m[stage.AsString()+"|"+met.Name] = float64(p.Value)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					stage, _ := p.Attributes.Value("stage")
					q, _ := p.Attributes.Value("q")
					m[stage.AsString()+"|"+met.Name+`{q="`+q.AsString()+`"}`] = p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					stage, _ := p.Attributes.Value("stage")
					key := stage.AsString() + "|" + met.Name
					m[key+" count"] = float64(p.Count)
					m[key+" sum"] = p.Sum
					var cum uint64
					for i, n := range p.BucketCounts {
						cum += n
						le := "+Inf"
						if i < len(p.Bounds) {
							le = strconv.FormatFloat(p.Bounds[i], 'g', -1, 64)
						}
						m[key+" le="+le] = float64(cum)
					}
				}
			}
		}
	}
	return m
}

// lookup returns m[key], or NaN (which equals nothing) when it is missing.
func lookup(m map[string]float64, key string) float64 {
	if v, ok := m[key]; ok {
		return v
	}
	return math.NaN()
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
