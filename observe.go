package stream

import (
	"context"
	"log/slog"
	"math/bits"
	"sync/atomic"
	"time"
)

// An Observer is told what happens in a pipeline's stages: starts and
// stops, element failures, retries, drops and panics. It is never called
// per element processed normally, so an observer costs nothing on the hot
// path. Observe is called from the stages' goroutines (StageStarted from
// the goroutine adding the stage), concurrently: it must be safe for
// concurrent use, and quick. It may call the pipeline's methods, such as
// [Pipeline.Stats].
type Observer interface {
	Observe(Event)
}

// ObserverFunc adapts a function to [Observer].
type ObserverFunc func(Event)

// Observe calls f(e).
func (f ObserverFunc) Observe(e Event) { f(e) }

// EventKind says what an [Event] reports.
type EventKind int

const (
	// StageStarted: the stage's goroutines are starting.
	StageStarted EventKind = iota + 1
	// StageStopped: the stage's last goroutine exited. Err is the stage's
	// reported error, or nil if it finished, was released or cancelled.
	StageStopped
	// ElementFailed: a user function failed for good, after any retries:
	// Err is its error. Either OnError skipped the element and the stage
	// goes on, or the stage fails with Err and StageStopped follows.
	ElementFailed
	// ElementRetried: a call failed with Err and will be retried; Attempt
	// is the number of the call that failed (1 for the first).
	ElementRetried
	// ElementDropped: Count elements were dropped (by an overflow policy,
	// for a released output, or received when the stage was done).
	ElementDropped
	// StagePanicked: a user function panicked; Err is the [*PanicError].
	StagePanicked
)

var eventNames = [...]string{"", "stage-started", "stage-stopped", "element-failed", "element-retried", "element-dropped", "stage-panicked"}

func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "EventKind(?)"
}

// Event is one thing an [Observer] is told about.
type Event struct {
	Kind      EventKind
	Stage     string // the stage's name
	StageKind string // the stage's kind: "map", "buffer", …
	Err       error
	Attempt   int   // ElementRetried
	Count     int64 // ElementDropped
}

// WithObserver sets the observer of one stage, overriding the pipeline's
// ([Pipeline.SetObserver]). A nil o panics.
func WithObserver(o Observer) Option {
	if isNilObserver(o) {
		panic("stream: WithObserver: nil Observer")
	}
	return optionFunc(func(c *config) { c.observer = o })
}

// SetObserver sets the observer of the stages added after it that have no
// [WithObserver] of their own. A nil o removes it.
func (p *Pipeline) SetObserver(o Observer) {
	checkPipeline(p)
	if o != nil && isNilObserver(o) {
		panic("stream: SetObserver: nil ObserverFunc")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.observer = o
}

// isNilObserver reports whether o is nil or a nil ObserverFunc.
func isNilObserver(o Observer) bool {
	f, isFunc := o.(ObserverFunc)
	return o == nil || isFunc && f == nil
}

// SlogObserver returns an Observer that logs every event to logger: stage
// starts and stops at Debug (a stop with an error at Error), retries and
// drops at Warn, failures and panics at Error.
func SlogObserver(logger *slog.Logger) Observer {
	if logger == nil {
		panic("stream: SlogObserver: nil logger")
	}
	return ObserverFunc(func(e Event) {
		level := slog.LevelDebug
		switch {
		case e.Kind == ElementRetried || e.Kind == ElementDropped:
			level = slog.LevelWarn
		case e.Kind == ElementFailed || e.Kind == StagePanicked || e.Err != nil:
			level = slog.LevelError
		}
		attrs := []slog.Attr{slog.String("stage", e.Stage), slog.String("kind", e.StageKind)}
		if e.Err != nil {
			attrs = append(attrs, slog.Any("err", e.Err))
		}
		if e.Kind == ElementRetried {
			attrs = append(attrs, slog.Int("attempt", e.Attempt))
		}
		if e.Kind == ElementDropped {
			attrs = append(attrs, slog.Int64("count", e.Count))
		}
		logger.LogAttrs(context.Background(), level, "stream: "+e.Kind.String(), attrs...)
	})
}

// notify tells the stage's observer, if any, about e.
func (s *stage) notify(e Event) {
	if s.observer == nil {
		return
	}
	e.Stage, e.StageKind = s.name, s.kind
	s.observer.Observe(e)
}

// drop counts n elements worker w dropped and tells the observer.
func (w *worker) drop(n int64) { w.s.dropped(w.c, n) }

// dropped counts n dropped elements in c, one of the stage's counters, and
// tells the observer.
func (s *stage) dropped(c *counters, n int64) {
	c.dropped.Add(n)
	s.notify(Event{Kind: ElementDropped, Count: n})
}

// Latency is sampled: one element in latencySample is timed (a clock read
// costs 25 to 50ns), so that timing
// costs a fraction of a nanosecond per element. Samples go to a histogram of
// power-of-two buckets: bucket i holds durations below 2^i µs.
const (
	latencySample  = 64
	latencyBuckets = 24 // up to 2^23 µs ≈ 8.4 s; the last bucket holds the rest
)

// latencyHist is one worker's histogram.
type latencyHist [latencyBuckets]atomic.Int64

func (h *latencyHist) add(d time.Duration) {
	us := uint64(d / time.Microsecond)
	i := min(bits.Len64(us), latencyBuckets-1)
	h[i].Add(1)
}

// LatencySummary summarises the sampled time a stage's workers spend on an
// element: the call of its function and the hand-off of its results (so a
// stage held up by a slow consumer shows it). Quantiles are upper bounds of
// power-of-two buckets (1µs, 2µs, 4µs, …).
type LatencySummary struct {
	Samples       int64 // elements timed: each worker's first, then one in 64
	P50, P90, P99 time.Duration
}

func summarise(hists []latencyHist) LatencySummary {
	var merged [latencyBuckets]int64
	var total int64
	for i := range hists {
		for b := range hists[i] {
			n := hists[i][b].Load()
			merged[b] += n
			total += n
		}
	}
	sum := LatencySummary{Samples: total}
	if total == 0 {
		return sum
	}
	quantile := func(q float64) time.Duration {
		rank := int64(q * float64(total))
		var seen int64
		for b, n := range merged {
			if seen += n; seen > rank {
				return time.Duration(1<<b) * time.Microsecond
			}
		}
		return time.Duration(1<<(latencyBuckets-1)) * time.Microsecond
	}
	sum.P50, sum.P90, sum.P99 = quantile(0.50), quantile(0.90), quantile(0.99)
	return sum
}
