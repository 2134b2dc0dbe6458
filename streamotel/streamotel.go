package streamotel

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/pipewright/stream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// ScopeName is the instrumentation scope of the histograms [NewProducer]
// produces, and the name to give the meter passed to [Register].
const ScopeName = "github.com/pipewright/stream/streamotel"

// An Option tunes [Register] and [NewProducer].
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	attrs  []attribute.KeyValue
	bounds []time.Duration
}

func newConfig(fn string, opts []Option) config {
	cfg := config{bounds: DefaultLatencyBounds()}
	for _, o := range opts {
		if o == nil {
			panic("streamotel: " + fn + ": nil Option")
		}
		o.apply(&cfg)
	}
	return cfg
}

// Attributes adds attributes with fixed values to every stage's attribute
// set, such as attribute.String("pipeline", "ingest"), so that several
// pipelines can be told apart: registered on one meter without, stages of
// two pipelines with the same name and kind share an attribute set and
// their values collide. Several Attributes options add up (for a key given
// twice, the last value wins). The keys "stage", "kind" and "q" are the
// package's own: one of them here panics.
func Attributes(kv ...attribute.KeyValue) Option {
	for _, a := range kv {
		switch a.Key {
		case "stage", "kind", "q":
			panic("streamotel: Attributes: the key " + strconv.Quote(string(a.Key)) + " is reserved")
		}
	}
	kv = append([]attribute.KeyValue(nil), kv...)
	return optionFunc(func(c *config) { c.attrs = append(c.attrs[:len(c.attrs):len(c.attrs)], kv...) })
}

// DefaultLatencyBounds returns the upper bounds of the latency histogram's
// buckets unless [LatencyBounds] says otherwise: every power of two of
// nanoseconds from 2^10ns (1.024µs) to 2^35ns (34.4s). The bucket above the
// last bound is implicit.
func DefaultLatencyBounds() []time.Duration {
	bounds := make([]time.Duration, 0, 26)
	for k := 10; k <= 35; k++ {
		bounds = append(bounds, time.Duration(1)<<k)
	}
	return bounds
}

// LatencyBounds replaces the upper bounds of the latency histogram's
// buckets. The engine keeps finer buckets whose bounds include every power
// of two of nanoseconds; a bound that is one of them gets an exact count,
// any other the count of the engine's buckets that end at or below it,
// which can leave out samples just below the bound. Bounds must be
// positive and increasing; anything else panics.
func LatencyBounds(bounds ...time.Duration) Option {
	for i, b := range bounds {
		if b <= 0 || i > 0 && b <= bounds[i-1] {
			panic("streamotel: LatencyBounds: bounds must be positive and increasing")
		}
	}
	bounds = append([]time.Duration(nil), bounds...)
	return optionFunc(func(c *config) { c.bounds = bounds })
}

// Register creates the observable counters and gauges of p's stages on
// meter (see the package documentation for their names) and a callback
// that reads [stream.Pipeline.Stats] once per collection. Unregister the
// returned registration when the pipeline is no longer of interest. The
// latency histograms are not instruments: see [NewProducer]. A nil p or
// meter panics; an error is the meter's.
func Register(meter metric.Meter, p *stream.Pipeline, opts ...Option) (metric.Registration, error) {
	if meter == nil || p == nil {
		panic("streamotel: Register: nil Meter or Pipeline")
	}
	cfg := newConfig("Register", opts)
	var errs []error
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := meter.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := meter.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	var (
		in       = counter("stream.stage.elements.in", "{element}", "Elements the stage received from its input.")
		out      = counter("stream.stage.elements.out", "{element}", "Elements the stage sent to its output(s).")
		failed   = counter("stream.stage.errors", "{element}", "Elements whose function failed, including skipped ones.")
		skipped  = counter("stream.stage.skipped", "{element}", "Failed elements skipped by an error policy.")
		dropped  = counter("stream.stage.dropped", "{element}", "Elements dropped by an overflow policy or a released output, or ticks missed.")
		retried  = counter("stream.stage.retries", "{retry}", "Retries made: calls beyond each element's first.")
		panics   = counter("stream.stage.panics", "{panic}", "Panics recovered in the stage's function.")
		queueLen = gauge("stream.stage.queue.length", "{element}", "Elements waiting in the stage's output channel(s).")
		queueCap = gauge("stream.stage.queue.capacity", "{element}", "Capacity of the stage's output channel(s).")
		busy     = gauge("stream.stage.busy_workers", "{goroutine}", "Goroutines of the stage not waiting for input: working, or blocked on a full output.")
		workers  = gauge("stream.stage.workers", "{goroutine}", "Goroutines of the stage (concurrent calls of its function).")
		limit    = gauge("stream.stage.worker_limit", "{goroutine}", "Current concurrency limit: AdaptiveWorkers' limit, else the workers.")
		done     = gauge("stream.stage.done", "1", "1 once every goroutine of the stage has exited, else 0.")
	)
	quantile, err := meter.Float64ObservableGauge("stream.stage.latency_quantile", metric.WithUnit("s"),
		metric.WithDescription("Quantile q of the sampled time per element: an upper bound, less than 12.5% above it."))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		stats := p.Stats()
		for i, label := range stageLabels(stats) {
			s := stats[i]
			set := metric.WithAttributeSet(stageAttributes(cfg.attrs, label, s.Kind))
			o.ObserveInt64(in, s.In, set)
			o.ObserveInt64(out, s.Out, set)
			o.ObserveInt64(failed, s.Errors, set)
			o.ObserveInt64(skipped, s.Skipped, set)
			o.ObserveInt64(dropped, s.Dropped, set)
			o.ObserveInt64(retried, s.Retried, set)
			o.ObserveInt64(panics, s.Panics, set)
			o.ObserveInt64(queueLen, int64(s.QueueLen), set)
			o.ObserveInt64(queueCap, int64(s.QueueCap), set)
			o.ObserveInt64(busy, int64(s.Busy), set)
			o.ObserveInt64(workers, int64(s.Workers), set)
			o.ObserveInt64(limit, int64(s.Limit), set)
			o.ObserveInt64(done, boolToInt(s.Done), set)
			for _, q := range quantiles {
				o.ObserveFloat64(quantile, q.get(s.Latency).Seconds(),
					metric.WithAttributeSet(stageAttributes(append(cfg.attrs[:len(cfg.attrs):len(cfg.attrs)], attribute.String("q", q.label)), label, s.Kind)))
			}
		}
		return nil
	}, in, out, failed, skipped, dropped, retried, panics, queueLen, queueCap, busy, workers, limit, done, quantile)
}

// quantiles are the latency quantiles exported, with their "q" values.
var quantiles = [...]struct {
	label string
	get   func(stream.LatencySummary) time.Duration
}{
	{"0.5", func(l stream.LatencySummary) time.Duration { return l.P50 }},
	{"0.9", func(l stream.LatencySummary) time.Duration { return l.P90 }},
	{"0.99", func(l stream.LatencySummary) time.Duration { return l.P99 }},
}

// Producer is a [sdkmetric.Producer] of the latency histograms of one
// pipeline's stages. Its Produce method is safe for concurrent use.
type Producer struct {
	p      *stream.Pipeline
	cfg    config
	bounds []float64
	start  time.Time
}

var _ sdkmetric.Producer = (*Producer)(nil)

// NewProducer returns a producer of the latency histograms of p's stages,
// to be passed to a reader with [sdkmetric.WithProducer]: the
// OpenTelemetry API has no asynchronous histogram, and a producer hands
// the SDK the engine's own bucket counts, where recording samples anew
// would lose them. Each collection reads [stream.Pipeline.Stats] once. The
// histograms are cumulative, from the producer's creation; a reader asking
// for delta temporality still gets them cumulative. A nil p panics.
func NewProducer(p *stream.Pipeline, opts ...Option) *Producer {
	if p == nil {
		panic("streamotel: NewProducer: nil Pipeline")
	}
	cfg := newConfig("NewProducer", opts)
	bounds := make([]float64, len(cfg.bounds))
	for i, b := range cfg.bounds {
		bounds[i] = b.Seconds()
	}
	return &Producer{p: p, cfg: cfg, bounds: bounds, start: time.Now()}
}

// Produce returns one histogram, "stream.stage.latency" in seconds, with a
// data point per stage: the count and sum of the sampled latencies and the
// engine's counts in each bucket.
func (pr *Producer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	stats := pr.p.Stats()
	now := time.Now()
	points := make([]metricdata.HistogramDataPoint[float64], len(stats))
	for i, label := range stageLabels(stats) {
		s := stats[i]
		counts := make([]uint64, len(pr.cfg.bounds)+1)
		var below int64
		for j, b := range pr.cfg.bounds {
			n := s.Latency.CountAtMost(b)
			counts[j] = uint64(n - below)
			below = n
		}
		counts[len(pr.cfg.bounds)] = uint64(s.Latency.Samples - below)
		points[i] = metricdata.HistogramDataPoint[float64]{
			Attributes:   stageAttributes(pr.cfg.attrs, label, s.Kind),
			StartTime:    pr.start,
			Time:         now,
			Count:        uint64(s.Latency.Samples),
			Bounds:       append([]float64(nil), pr.bounds...), // the data is the caller's
			BucketCounts: counts,
			Sum:          s.Latency.Sum.Seconds(),
		}
	}
	return []metricdata.ScopeMetrics{{
		Scope: instrumentation.Scope{Name: ScopeName},
		Metrics: []metricdata.Metrics{{
			Name:        "stream.stage.latency",
			Description: "Sampled time per element: the receipt-to-hand-off time of about one element in 64.",
			Unit:        "s",
			Data: metricdata.Histogram[float64]{
				DataPoints:  points,
				Temporality: metricdata.CumulativeTemporality,
			},
		}},
	}}, nil
}

func stageAttributes(attrs []attribute.KeyValue, stage, kind string) attribute.Set {
	kv := make([]attribute.KeyValue, 0, len(attrs)+2)
	kv = append(kv, attrs...)
	kv = append(kv, attribute.String("stage", stage), attribute.String("kind", kind))
	return attribute.NewSet(kv...)
}

// stageLabels returns the "stage" attribute of each stage: its name with
// invalid UTF-8 replaced by U+FFFD (an OTLP exporter cannot send it), and
// " (2)", " (3)", … added to a name and kind that an earlier stage already
// has once so repaired, so that no two stages share an attribute set.
func stageLabels(stats []stream.StageStats) []string {
	type key struct{ name, kind string }
	taken := make(map[key]bool, len(stats))
	labels := make([]string, len(stats))
	for i, s := range stats {
		base := strings.ToValidUTF8(s.Name, "\uFFFD")
		name := base
		for n := 2; taken[key{name, s.Kind}]; n++ {
			name = base + " (" + strconv.Itoa(n) + ")"
		}
		taken[key{name, s.Kind}] = true
		labels[i] = name
	}
	return labels
}

func boolToInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
