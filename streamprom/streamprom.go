// Package streamprom exports the statistics of a [stream.Pipeline] to
// Prometheus.
//
// [NewCollector] returns a [prometheus.Collector] that reads
// [stream.Pipeline.Stats] once per scrape and turns every [stream.StageStats]
// field into a metric labelled with the stage's name ("stage") and kind
// ("kind"). Element counts are counters, the rest are gauges:
//
//	stream_stage_elements_in_total      counter  elements received from the input
//	stream_stage_elements_out_total     counter  elements sent to the output(s)
//	stream_stage_errors_total           counter  elements whose function failed
//	stream_stage_skipped_total          counter  failed elements skipped by OnError
//	stream_stage_dropped_total          counter  elements dropped (Buffer, released outputs, missed ticks)
//	stream_stage_retries_total          counter  retries (calls beyond each element's first)
//	stream_stage_panics_total           counter  panics recovered
//	stream_stage_queue_length           gauge    elements waiting in the output channel(s)
//	stream_stage_queue_capacity         gauge    capacity of the output channel(s)
//	stream_stage_busy_workers           gauge    goroutines not waiting for input
//	stream_stage_workers                gauge    goroutines of the stage
//	stream_stage_worker_limit           gauge    concurrency limit (AdaptiveWorkers), else workers
//	stream_stage_done                   gauge    1 once every goroutine of the stage has exited
//	stream_stage_latency_seconds           histogram  sampled time per element (see below)
//	stream_stage_latency_quantile_seconds  gauge      its quantiles, label "q": 0.5, 0.9, 0.99
//
// Latency is measured by the engine on a sample of the elements (each
// worker's first, then one in 64; see [stream.LatencySummary] for what a
// source's or a Batch's latency is). The histogram's buckets are the
// engine's own counts read at fixed bounds, by default every power of two
// of nanoseconds from 2^10ns (1.024µs) to 2^35ns (34.4s) and +Inf
// ([DefaultLatencyBounds]; [LatencyBounds] changes them). Powers of two are
// bounds of the engine's buckets, so these counts are exact; _sum and
// _count are the sum and number of the samples. The histogram aggregates
// across stages and instances like any other (histogram_quantile over
// sum by (le)).
//
// The quantile gauges are kept beside it because they are more precise
// than what histogram_quantile can estimate from the exported bounds: the
// engine computes them from buckets eight times finer, each an upper bound
// of the exact nearest-rank quantile, less than 12.5% above it, while
// interpolating within a factor-of-two bucket can be off by far more. They
// are gauges with a "q" label rather than a summary because Prometheus
// does not allow a summary and a histogram under one name, and reserves
// the "quantile" label for summaries. Each is 0 before the first sample.
//
// A collector reads the pipeline only when scraped: it starts no goroutine
// and costs the pipeline nothing between scrapes. Counters of a running
// stage are published by its workers in small batches, so a scrape may lag
// the true count by a few dozen elements per worker; they are exact for an
// idle or finished stage. The pipeline may be scraped before, while and after
// it runs: stages added after registration appear at the next scrape.
//
// Stage names are unique in a pipeline, and so are the label values: invalid
// UTF-8 in a name is replaced by U+FFFD, and should two names become equal
// that way, the later stage is exported as "name (2)", "name (3)", … in the
// order the stages were added.
//
// To export several pipelines from one registry, give each collector a
// distinguishing constant label with [ConstLabels], or its own [Namespace].
//
// # Example
//
// Register a collector with a registry and serve the registry on /metrics:
//
//	p := stream.New(ctx)
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(streamprom.NewCollector(p, streamprom.ConstLabels(prometheus.Labels{"pipeline": "ingest"})))
//	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
//	lines := stream.FromSlice(p, input, stream.Name("lines"))
//	recs := stream.Map(p, lines, parse, stream.Name("parse"), stream.Workers(4))
//	err := stream.Drain(p, recs)
//
// A scrape while the job runs shows, among other lines:
//
//	stream_stage_elements_out_total{kind="map",pipeline="ingest",stage="parse"} 1536
//	stream_stage_queue_length{kind="slice",pipeline="ingest",stage="lines"} 64
//	stream_stage_busy_workers{kind="map",pipeline="ingest",stage="parse"} 4
//
// A collector for a pipeline that has ended keeps exporting its final
// counts; unregister it ([prometheus.Registerer.Unregister]) when the
// pipeline is no longer of interest.
package streamprom

import (
	"strconv"
	"strings"
	"time"

	"github.com/pipewright/stream"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultNamespace prefixes every metric name unless [Namespace] says
// otherwise.
const DefaultNamespace = "stream"

// An Option tunes a collector made by [NewCollector].
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	namespace   string
	constLabels prometheus.Labels
	bounds      []time.Duration
}

// DefaultLatencyBounds returns the upper bounds of the latency histogram's
// buckets unless [LatencyBounds] says otherwise: every power of two of
// nanoseconds from 2^10ns (1.024µs) to 2^35ns (34.4s). The +Inf bucket is
// implicit.
func DefaultLatencyBounds() []time.Duration {
	bounds := make([]time.Duration, 0, 26)
	for k := 10; k <= 35; k++ {
		bounds = append(bounds, time.Duration(1)<<k)
	}
	return bounds
}

// LatencyBounds replaces the upper bounds of the latency histogram's
// buckets (the +Inf bucket is implicit). The engine keeps finer buckets
// whose bounds include every power of two of nanoseconds; a bound that is
// one of them gets an exact count, any other bound the count of the
// engine's buckets that end at or below it, which can leave out samples
// just below the bound (so histogram_quantile errs upwards). Bounds must be
// positive and increasing; anything else panics.
func LatencyBounds(bounds ...time.Duration) Option {
	for i, b := range bounds {
		if b <= 0 || i > 0 && b <= bounds[i-1] {
			panic("streamprom: LatencyBounds: bounds must be positive and increasing")
		}
	}
	bounds = append([]time.Duration(nil), bounds...)
	return optionFunc(func(c *config) { c.bounds = bounds })
}

// Namespace replaces the "stream" prefix of every metric name: with
// Namespace("ingest") the counters are named "ingest_stage_elements_in_total"
// and so on. An empty namespace drops the prefix ("stage_elements_in_total").
func Namespace(ns string) Option {
	return optionFunc(func(c *config) { c.namespace = ns })
}

// ConstLabels adds labels with fixed values to every metric of the
// collector, such as {"pipeline": "ingest"}, so that several pipelines can
// be exported from one registry. The names "stage", "kind" and "q" are taken
// by the collector itself; using them makes registration fail. "le" is the
// latency histogram's bucket label: it panics, as the client library would
// otherwise expose it twice.
func ConstLabels(labels prometheus.Labels) Option {
	if _, ok := labels["le"]; ok {
		panic(`streamprom: ConstLabels: the label "le" is reserved for the latency histogram's buckets`)
	}
	return optionFunc(func(c *config) {
		c.constLabels = make(prometheus.Labels, len(labels))
		for k, v := range labels {
			c.constLabels[k] = v
		}
	})
}

// Collector is a [prometheus.Collector] for one pipeline. Its methods are
// safe for concurrent use, as Prometheus requires.
type Collector struct {
	p *stream.Pipeline

	in, out, errors, skipped, dropped, retried, panics *prometheus.Desc
	queueLen, queueCap, busy, workers, limit, done     *prometheus.Desc
	latency, quantile                                  *prometheus.Desc
	bounds                                             []time.Duration
}

// quantiles are the latency quantiles exported, with their "q" label values.
var quantiles = [...]struct {
	label string
	get   func(stream.LatencySummary) time.Duration
}{
	{"0.5", func(l stream.LatencySummary) time.Duration { return l.P50 }},
	{"0.9", func(l stream.LatencySummary) time.Duration { return l.P90 }},
	{"0.99", func(l stream.LatencySummary) time.Duration { return l.P99 }},
}

// NewCollector returns a collector of the statistics of p's stages, to be
// registered with a [prometheus.Registerer]. It reads [stream.Pipeline.Stats]
// once per scrape; see the package documentation for the metrics. A nil p
// panics.
func NewCollector(p *stream.Pipeline, opts ...Option) *Collector {
	if p == nil {
		panic("streamprom: NewCollector: nil Pipeline")
	}
	cfg := config{namespace: DefaultNamespace, bounds: DefaultLatencyBounds()}
	for _, o := range opts {
		if o == nil {
			panic("streamprom: nil Option")
		}
		o.apply(&cfg)
	}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(
			prometheus.BuildFQName(cfg.namespace, "stage", name),
			help,
			append([]string{"stage", "kind"}, labels...),
			cfg.constLabels,
		)
	}
	return &Collector{
		p:        p,
		in:       desc("elements_in_total", "Elements the stage received from its input."),
		out:      desc("elements_out_total", "Elements the stage sent to its output(s)."),
		errors:   desc("errors_total", "Elements whose function failed, including skipped ones."),
		skipped:  desc("skipped_total", "Failed elements skipped by an error policy."),
		dropped:  desc("dropped_total", "Elements dropped by an overflow policy or a released output, or ticks missed."),
		retried:  desc("retries_total", "Retries made: calls beyond each element's first."),
		panics:   desc("panics_total", "Panics recovered in the stage's function."),
		queueLen: desc("queue_length", "Elements waiting in the stage's output channel(s)."),
		queueCap: desc("queue_capacity", "Capacity of the stage's output channel(s)."),
		busy:     desc("busy_workers", "Goroutines of the stage not waiting for input: working, or blocked on a full output."),
		workers:  desc("workers", "Goroutines of the stage (concurrent calls of its function)."),
		limit:    desc("worker_limit", "Current concurrency limit: AdaptiveWorkers' limit, else the workers."),
		done:     desc("done", "1 once every goroutine of the stage has exited, else 0."),
		latency:  desc("latency_seconds", "Sampled time per element: the receipt-to-hand-off time of about one element in 64."),
		quantile: desc("latency_quantile_seconds", "Quantile q of the sampled time per element: an upper bound, less than 12.5% above it.", "q"),
		bounds:   cfg.bounds,
	}
}

// Describe sends the descriptors of every metric the collector exports.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.in, c.out, c.errors, c.skipped, c.dropped, c.retried, c.panics,
		c.queueLen, c.queueCap, c.busy, c.workers, c.limit, c.done,
		c.latency, c.quantile,
	} {
		ch <- d
	}
}

// Collect reads the pipeline's statistics once and sends them as metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	stats := c.p.Stats()
	names := stageLabels(stats)
	for i, s := range stats {
		stage := names[i]
		counter := func(d *prometheus.Desc, v int64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), stage, s.Kind)
		}
		gauge := func(d *prometheus.Desc, v int) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), stage, s.Kind)
		}
		counter(c.in, s.In)
		counter(c.out, s.Out)
		counter(c.errors, s.Errors)
		counter(c.skipped, s.Skipped)
		counter(c.dropped, s.Dropped)
		counter(c.retried, s.Retried)
		counter(c.panics, s.Panics)
		gauge(c.queueLen, s.QueueLen)
		gauge(c.queueCap, s.QueueCap)
		gauge(c.busy, s.Busy)
		gauge(c.workers, s.Workers)
		gauge(c.limit, s.Limit)
		gauge(c.done, boolToInt(s.Done))
		buckets := make(map[float64]uint64, len(c.bounds))
		for _, b := range c.bounds {
			buckets[b.Seconds()] = uint64(s.Latency.CountAtMost(b))
		}
		ch <- prometheus.MustNewConstHistogram(c.latency, uint64(s.Latency.Samples), s.Latency.Sum.Seconds(),
			buckets, stage, s.Kind)
		for _, q := range quantiles {
			ch <- prometheus.MustNewConstMetric(c.quantile, prometheus.GaugeValue,
				q.get(s.Latency).Seconds(), stage, s.Kind, q.label)
		}
	}
}

// stageLabels returns the "stage" label value of each stage: its name, with
// " (2)", " (3)", … added to a name and kind that an earlier stage already
// has, so that no two stages share a label set, and invalid UTF-8 replaced
// by U+FFFD, so that no label value makes the scrape fail.
func stageLabels(stats []stream.StageStats) []string {
	type key struct{ name, kind string }
	taken := make(map[key]bool, len(stats))
	labels := make([]string, len(stats))
	for i, s := range stats {
		base := strings.ToValidUTF8(s.Name, "\uFFFD") // Prometheus refuses invalid UTF-8
		name := base
		for n := 2; taken[key{name, s.Kind}]; n++ {
			name = base + " (" + strconv.Itoa(n) + ")"
		}
		taken[key{name, s.Kind}] = true
		labels[i] = name
	}
	return labels
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
