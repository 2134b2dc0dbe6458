package stream

import (
	"context"
	"log/slog"
	"math"
	"math/bits"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// An Observer is told what happens in a pipeline's stages: starts and
// stops, element failures, retries, drops and panics. It is never called
// per element processed normally, so an observer costs nothing on the hot
// path. Observe is called from the stages' goroutines (StageStarted from
// the goroutine adding the stage), concurrently: it must be safe for
// concurrent use, and quick, for the stage waits for it. It may call the
// pipeline's methods, such as [Pipeline.Stats] and [Pipeline.Stop], except
// [Pipeline.Wait] and the blocking sinks, which panic there (they would
// wait for the stage that waits for the observer).
//
// A panic in Observe, or a call of [runtime.Goexit], fails the pipeline
// like a panic in a stage's function: the stage whose event it was fails
// with a [*PanicError] (or [ErrGoexit]), unless an error came first — on
// StagePanicked the stage's own panic stays first. Such a panic is not
// counted in [StageStats].Panics, nor told to the observer. (Goexit still
// ends the goroutine it is called on: on StageStarted, the caller's own.)
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
	// ElementDropped: Count elements were dropped, each counted in
	// [StageStats].Dropped and passed to [OnDrop] (see "Drops" in the
	// package doc).
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

// notify tells the stage's observer, if any, about e. The observer is user
// code run on the pipeline's goroutines: a panic in it, or a call of
// runtime.Goexit, fails the stage as a panic in its function would (a
// [*PanicError], or [ErrGoexit]), but is neither counted in Panics nor told
// to the observer.
func (s *stage) notify(e Event) {
	if s.observer == nil {
		return
	}
	e.Stage, e.StageKind = s.name, s.kind
	returned := false
	defer func() {
		if !returned {
			s.fail(recovered(recover()))
		}
	}()
	s.observer.Observe(e)
	returned = true
}

// notifyStarted tells the observer that s starts. It is called on the
// goroutine adding the stage, which is marked meanwhile so that a Wait from
// the observer panics rather than waits for the stage it holds up.
func (s *stage) notifyStarted() {
	if s.observer == nil {
		return
	}
	id := goid()
	s.p.enter(id, "an Observer told StageStarted")
	defer s.p.leave(id)
	s.notify(Event{Kind: StageStarted})
}

// recovered turns what recover returned in a function that did not return
// normally into the error its stage fails with: a [*PanicError], or
// [ErrGoexit] when nothing was recovered.
func recovered(r any) error {
	if r == nil {
		return ErrGoexit
	}
	return &PanicError{Value: r, Stack: debug.Stack()}
}

// drop counts n elements worker w dropped and tells the observer.
func (w *worker) drop(n int64) {
	w.c.dropped.Add(n)
	w.s.notify(Event{Kind: ElementDropped, Count: n})
}

// callOnDrop calls f, which calls the stage's OnDrop function, one call at
// a time, and fails the stage if it panics or does not return: it may run
// outside the worker's own recovery (on a released output's drain).
func (s *stage) callOnDrop(f func()) {
	returned := false
	defer func() {
		if !returned {
			r := recover()
			s.dropMu.Unlock()
			s.abnormal(&s.counters[0], r) // not under the lock: it tells the observer
		}
	}()
	s.dropMu.Lock()
	f()
	s.dropMu.Unlock()
	returned = true
}

// Latency is sampled: one element in latencySample is timed (a clock read
// costs 25 to 50ns), so that timing costs a fraction of a nanosecond per
// element. Each worker times its first element, then one in latencySample.
//
// Samples go to a log-linear histogram kept per worker, so that recording
// one takes two uncontended atomic adds and no lock or allocation. Bucket 0
// holds durations <= 0 (a clock that did not move); then 8 buckets of 1ns
// each up to 8ns; then every power of two from 8ns to 2^63ns is split into
// 8 equal sub-buckets. A bucket holds the durations d with
// bound(b-1) < d <= bound(b), so its bound exceeds any duration in it by
// less than 1/8 of that duration (12.5%), and every power of two of
// nanoseconds is a bound. The range is the whole of time.Duration: nothing
// is capped.
const (
	latencySample  = 64
	latencySubBits = 3
	latencySubs    = 1 << latencySubBits                               // sub-buckets per power of two
	latencyBuckets = 1 + latencySubs + (63-latencySubBits)*latencySubs // 489
)

// latencyHist is one worker's histogram of sampled durations.
type latencyHist struct {
	counts [latencyBuckets]atomic.Int64
	sum    atomic.Int64 // nanoseconds, over every sample
	// used has bit b set once counts[b] is non-zero, so that Stats reads
	// the few buckets in use rather than all of them.
	used [latencyWords]atomic.Uint64
}

const latencyWords = (latencyBuckets + 63) / 64

func (h *latencyHist) add(d time.Duration) {
	b := latencyBucket(d)
	if h.counts[b].Add(1) == 1 {
		h.used[b/64].Or(1 << (b % 64))
	}
	h.sum.Add(int64(max(d, 0)))
}

// latencyBucket returns the index of the bucket holding d.
func latencyBucket(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	x := uint64(d - 1) // buckets are closed above: d = bound(b) is in b
	if x < latencySubs {
		return 1 + int(x)
	}
	k := bits.Len64(x) - 1 // 2^k <= x < 2^(k+1), k >= latencySubBits
	return 1 + (k-latencySubBits+1)<<latencySubBits + int(x>>(k-latencySubBits))&(latencySubs-1)
}

// latencyBound returns the largest duration bucket b holds.
func latencyBound(b int) time.Duration {
	if b == 0 {
		return 0
	}
	i := b - 1
	if i < latencySubs {
		return time.Duration(i + 1)
	}
	k := i>>latencySubBits + latencySubBits - 1
	sub := uint64(i & (latencySubs - 1))
	bound := uint64(1)<<k + (sub+1)<<(k-latencySubBits)
	return time.Duration(min(bound, math.MaxInt64)) // the last bucket ends at 2^63
}

// sampling counts an element about to be handled by w and reports whether
// it is one to time: each worker's first element, then one in
// latencySample. A stage that times an element calls time.Now() before it
// and w.timed(start) once it is handed off:
//
//	if w.sampling() {
//		start := time.Now()
//		err = step(v)
//		w.timed(start)
//	}
func (w *worker) sampling() bool {
	if !counting {
		return false
	}
	if w.untimed++; w.untimed < latencySample {
		return false
	}
	w.untimed = 0
	return true
}

// timed records the time since start as one latency sample of w.
func (w *worker) timed(start time.Time) {
	w.lat.add(time.Since(start))
}

// LatencySummary summarises the time a stage spends on an element, measured
// on a sample of the elements (each worker's first, then one in 64). What is
// timed depends on the stage:
//
//   - a stage with an input (Map, Filter, sinks, Merge, …): from the
//     element's receipt to the end of its hand-off, that is the call of the
//     stage's function and the sending of its results (so a stage held up by
//     a slow consumer shows it), but not the wait for input;
//   - a source: from the end of the previous element's hand-off (or the
//     source's start) to the end of this one's, that is producing the
//     element (FromSeq's iteration, Generate's function, Tick's wait for
//     the next tick) and handing it off;
//   - Batch: from the arrival of a batch's first element to the end of the
//     batch's hand-off, the longest any element of it waited; Samples
//     counts batches;
//   - WindowReduce: likewise from a pane's opening (its first element's
//     arrival) to the end of its hand-off; Samples counts panes;
//   - Zip: from the receipt of a pair's first element to the end of the
//     pair's hand-off, the wait for its second included;
//   - Values: the loop body's time on an element;
//   - [Pipeline.Go] handles no elements and reports no latency.
//
// Durations are kept in buckets whose bounds are at most 12.5% above any
// duration they hold (below 8ns, exact). Quantiles are nearest-rank and
// reported as the bound of the bucket holding them: P50 is the smallest
// bound that at least half of the samples do not exceed. So each quantile
// is an upper bound, less than 12.5% above the exact one.
type LatencySummary struct {
	Samples       int64         // elements timed
	P50, P90, P99 time.Duration // upper bounds of the quantiles; 0 without samples
	Sum           time.Duration // total of the timed durations

	// Buckets lists the non-empty buckets in increasing order of bound,
	// with cumulative counts: Buckets[i].Count samples took at most
	// Buckets[i].UpperBound. The last Count is Samples. Every power of two
	// of nanoseconds is a bucket bound, so [LatencySummary.CountAtMost] is
	// exact there, which lets an exporter use fixed bounds of its own.
	Buckets []LatencyBucket
}

// LatencyBucket is one bucket of a [LatencySummary]: Count samples
// (cumulative, from the first bucket) took at most UpperBound.
type LatencyBucket struct {
	UpperBound time.Duration
	Count      int64
}

// CountAtMost returns how many samples took at most d, as far as the
// buckets tell: exact when d is a bucket bound (every power of two of
// nanoseconds, every bound in Buckets), otherwise the samples in buckets
// whose whole range is at most d, which may leave out a few samples of the
// bucket that straddles d.
func (l LatencySummary) CountAtMost(d time.Duration) int64 {
	var n int64
	for _, b := range l.Buckets {
		if b.UpperBound > d {
			break
		}
		n = b.Count
	}
	return n
}

// summarise merges the workers' histograms.
func summarise(hists []latencyHist) LatencySummary {
	var (
		used [latencyWords]uint64 // buckets in use by any worker
		sum  LatencySummary
	)
	for i := range hists {
		sum.Sum += time.Duration(hists[i].sum.Load())
		for j := range used {
			used[j] |= hists[i].used[j].Load()
		}
	}
	nonEmpty := 0
	for _, word := range used {
		nonEmpty += bits.OnesCount64(word)
	}
	if nonEmpty == 0 {
		return sum
	}
	sum.Buckets = make([]LatencyBucket, 0, nonEmpty)
	for j, word := range used {
		for ; word != 0; word &= word - 1 {
			b := j*64 + bits.TrailingZeros64(word)
			for i := range hists {
				sum.Samples += hists[i].counts[b].Load()
			}
			sum.Buckets = append(sum.Buckets, LatencyBucket{UpperBound: latencyBound(b), Count: sum.Samples})
		}
	}
	sum.P50 = sum.quantile(500)
	sum.P90 = sum.quantile(900)
	sum.P99 = sum.quantile(990)
	return sum
}

// quantile returns the bound of the bucket holding the sample of rank
// ceil(perMille/1000 · Samples), counting from 1: the nearest-rank
// quantile, in integers so that no rounding moves a rank.
func (l LatencySummary) quantile(perMille int64) time.Duration {
	hi, lo := bits.Mul64(uint64(l.Samples), uint64(perMille))
	q, r := bits.Div64(hi, lo, 1000)
	rank := int64(q)
	if r != 0 {
		rank++
	}
	for _, b := range l.Buckets {
		if b.Count >= rank {
			return b.UpperBound
		}
	}
	return 0 // not reached: the last Count is Samples
}
