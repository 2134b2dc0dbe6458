// Progress runs a stream job for a few seconds and shows, live on stderr,
// where it spends its time and what it drops, from the pipeline's Stats.
//
// The job ingests sensor readings generated in code: it parses them (four
// workers, skipping malformed lines), keeps only the latest readings when
// the enrich stage falls behind (a Buffer that drops the oldest), enriches
// each with a slow simulated lookup (two workers), and stores them in batches. Every
// -every (500ms) it prints one line per stage: throughput in and out since
// the last print, output queue fill, busy workers, drops, errors and median
// latency. At the end it prints a summary and the pipeline's Mermaid graph
// to stdout.
//
// The source generates readings for -duration; the job then has -drain to
// store the readings still in flight, after which it stops the pipeline
// (what is still in flight is discarded). A run never lasts longer than
// -duration plus -drain, whatever -rate.
//
//	go run ./examples/progress                  # about 3 s
//	go run ./examples/progress -duration 300ms  # quick
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pipewright/stream"
)

func main() {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "progress:", err)
		os.Exit(1)
	}
}

// run parses args, runs the job, prints the live status to status and the
// summary and graph to out.
func run(ctx context.Context, args []string, out, status io.Writer) error {
	flags := flag.NewFlagSet("progress", flag.ContinueOnError)
	flags.SetOutput(status)
	duration := flags.Duration("duration", 3*time.Second, "how long the source generates readings")
	drain := flags.Duration("drain", time.Second, "how long the job may take after -duration to store the readings in flight before it stops")
	every := flags.Duration("every", 500*time.Millisecond, "interval between status prints")
	perSecond := flags.Float64("rate", 20000, "readings generated per second (positive, finite)")
	if err := flags.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if *duration <= 0 || *every <= 0 || *drain < 0 {
		return errors.New("-duration and -every must be positive, -drain not negative")
	}
	if !(*perSecond > 0) || math.IsInf(*perSecond, 0) {
		return fmt.Errorf("-rate must be positive and finite, not %v", *perSecond)
	}

	start := time.Now()
	p := stream.New(ctx)
	totals := build(p, *duration, *perSecond) // the stages start running here
	// Bound the run: Stop once -drain has passed after the source's end.
	deadline := time.AfterFunc(*duration+*drain, p.Stop)
	defer deadline.Stop()
	stop := make(chan struct{})
	printed := make(chan struct{})
	go func() { // owned: run waits for it below
		defer close(printed)
		report(status, p, start, *every, stop)
	}()
	err := p.Wait()
	close(stop)
	<-printed

	summary(out, p, totals, time.Since(start))
	fmt.Fprintln(out)
	fmt.Fprint(out, p.Graph())
	return err
}

// reading is one parsed sensor reading.
type reading struct {
	sensor int
	seq    int64
	value  float64
	site   string // set by enrich
}

// sites is the reference data enrich looks up: read-only, so safe for its
// workers without a lock.
var sites = []string{"north", "south", "east", "west", "roof", "cellar"}

// totals is what the store stage computes; one worker writes it, and main
// reads it after Wait.
type totals struct {
	batches, readings int
	sum               float64
}

// build adds the job's stages to p:
//
//	readings → throttle → parse ×4 → latest (Buffer, DropOldest) → enrich ×2 → batch → store
func build(p *stream.Pipeline, duration time.Duration, perSecond float64) *totals {
	lines := stream.Generate(p, func(ctx context.Context, emit func(string) error) error {
		start := time.Now()
		for seq := int64(0); time.Since(start) < duration; seq++ {
			if err := emit(line(seq)); err != nil {
				return err // the pipeline is ending
			}
		}
		return nil
	}, stream.Name("readings"))

	paced := stream.Throttle(p, lines, perSecond, 100, stream.Name("pace"))

	// A malformed line is skipped (counted in Errors and Skipped), not fatal.
	parsed := stream.Map(p, paced, func(_ context.Context, s string) (reading, error) {
		return parse(s)
	}, stream.Name("parse"), stream.Workers(4),
		stream.OnError(func(string, error) error { return nil }))

	// enrich cannot keep up with the source: rather than slow the sensors
	// down, keep the 256 latest readings and drop the oldest.
	latest := stream.Buffer(p, parsed, 256, stream.DropOldest, stream.Name("latest"))

	enriched := stream.Map(p, latest, func(ctx context.Context, r reading) (reading, error) {
		if err := lookup(ctx); err != nil {
			return r, err
		}
		r.site = sites[r.sensor%len(sites)]
		return r, nil
	}, stream.Name("enrich"), stream.Workers(2))

	batches := stream.Batch(p, enriched, 100, 50*time.Millisecond, stream.Name("batch"))

	t := new(totals)
	stream.ForEach(p, batches, func(ctx context.Context, b []reading) error {
		if err := pause(ctx, time.Millisecond); err != nil { // a simulated write
			return err
		}
		t.batches++
		t.readings += len(b)
		for _, r := range b {
			t.sum += r.value
		}
		return nil
	}, stream.Name("store"))
	return t
}

// line returns reading seq as the sensors send it: "sensor,seq,value".
// One line in 997 is malformed.
func line(seq int64) string {
	sensor := seq % 40
	value := 20 + float64((seq*7919)%1000)/100
	if seq%997 == 996 {
		return fmt.Sprintf("%d;%d;%.2f", sensor, seq, value)
	}
	return fmt.Sprintf("%d,%d,%.2f", sensor, seq, value)
}

var errMalformed = errors.New("malformed reading")

func parse(s string) (reading, error) {
	f := strings.Split(s, ",")
	if len(f) != 3 {
		return reading{}, fmt.Errorf("%w: %q", errMalformed, s)
	}
	sensor, err1 := strconv.Atoi(f[0])
	seq, err2 := strconv.ParseInt(f[1], 10, 64)
	value, err3 := strconv.ParseFloat(f[2], 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return reading{}, fmt.Errorf("%w: %q: %w", errMalformed, s, err)
	}
	return reading{sensor: sensor, seq: seq, value: value}, nil
}

// lookup simulates a call to a slow service: 500µs, or more where timers
// are coarse.
func lookup(ctx context.Context) error {
	return pause(ctx, 500*time.Microsecond)
}

// pause waits for d or until ctx is done; its timer is stopped either way.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// report prints the status of every stage to w every interval, and once
// more when stop is closed. On a terminal it redraws the status in place;
// elsewhere (a file, a pipe, CI) it appends one block per interval.
func report(w io.Writer, p *stream.Pipeline, start time.Time, interval time.Duration, stop <-chan struct{}) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	redraw := isTerminal(w)
	prev, prevAt := p.Stats(), start
	drawn := 0
	eol := "\n"
	if redraw {
		eol = "\x1b[K\n" // clear what is left of the previous, longer line
	}
	show := func(now time.Time) {
		cur := p.Stats()
		if redraw && drawn > 0 {
			fmt.Fprintf(w, "\x1b[%dA", drawn) // back to the first line of the last block
		}
		drawn = status(w, prev, cur, now.Sub(prevAt), now.Sub(start), eol)
		prev, prevAt = cur, now
	}
	for {
		select {
		case <-stop:
			show(time.Now()) // the final state, even for a job shorter than interval
			return
		case now := <-ticker.C:
			show(now)
		}
	}
}

// status writes one header line and one line per stage, and returns how
// many lines it wrote, each ended by eol. Rates are over the interval since
// prev.
func status(w io.Writer, prev, cur []stream.StageStats, interval, elapsed time.Duration, eol string) int {
	fmt.Fprintf(w, "%6.1fs %-8s %-8s %8s %8s  %-18s %5s %8s %6s %8s%s",
		elapsed.Seconds(), "stage", "kind", "in/s", "out/s", "queue", "busy", "dropped", "errors", "p50", eol)
	for i, s := range cur {
		var before stream.StageStats
		if i < len(prev) {
			before = prev[i]
		}
		fmt.Fprintf(w, "        %-8s %-8s %8.0f %8.0f  %-18s %2d/%-2d %8d %6d %s%s",
			s.Name, s.Kind,
			perSecond(s.In-before.In, interval), perSecond(s.Out-before.Out, interval),
			queue(s.QueueLen, s.QueueCap), s.Busy, s.Limit, s.Dropped, s.Errors, latency(s.Latency, s.Latency.P50), eol)
	}
	return len(cur) + 1
}

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// latency formats a quantile of l right-aligned in 8 columns, or "-" while
// l has no sample (a stage times each worker's first element, then one in
// 64; sources and Batch are timed too, see stream.LatencySummary). The
// quantile is an upper bound; it is rounded up to three significant
// digits, so it stays one ("1.179648ms" shows as "1.18ms"). It counts
// runes, not bytes as %8s does, so that "µs" lines up.
func latency(l stream.LatencySummary, q time.Duration) string {
	s := "-"
	if l.Samples > 0 {
		s = roundUp3(q).String()
	}
	return strings.Repeat(" ", max(0, 8-utf8.RuneCountInString(s))) + s
}

// roundUp3 rounds d up to three significant digits.
func roundUp3(d time.Duration) time.Duration {
	unit := time.Duration(1)
	for d/unit >= 1000 {
		unit *= 10
	}
	return (d + unit - 1) / unit * unit
}

// queue draws a queue's fill as a bar and a fraction: "[####    ] 32/64".
func queue(n, capacity int) string {
	const width = 8
	if capacity == 0 {
		return "-"
	}
	full := min(width, (n*width+capacity-1)/capacity)
	return fmt.Sprintf("[%s%s] %d/%d", strings.Repeat("#", full), strings.Repeat(" ", width-full), n, capacity)
}

// isTerminal reports whether w is a character device, where redrawing in
// place with ANSI escapes works.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// summary writes the job's result and every stage's totals.
func summary(w io.Writer, p *stream.Pipeline, t *totals, elapsed time.Duration) {
	stats := p.Stats()
	var generated, dropped, skipped int64
	for _, s := range stats {
		switch s.Name {
		case "readings":
			generated = s.Out
		case "latest":
			dropped = s.Dropped
		case "parse":
			skipped = s.Skipped
		}
	}
	mean := 0.0
	if t.readings > 0 {
		mean = t.sum / float64(t.readings)
	}
	fmt.Fprintf(w, "done in %.2fs: %d readings generated, %d malformed skipped, %d dropped by latest, %d stored in %d batches (mean value %.2f)\n\n",
		elapsed.Seconds(), generated, skipped, dropped, t.readings, t.batches, mean)
	fmt.Fprintf(w, "%-8s %-8s %7s %8s %8s %9s %7s %8s %9s %9s\n",
		"stage", "kind", "workers", "in", "out", "in/s", "errors", "dropped", "p50", "p99")
	for _, s := range stats {
		fmt.Fprintf(w, "%-8s %-8s %7d %8d %8d %9.0f %7d %8d %s  %s\n",
			s.Name, s.Kind, s.Workers, s.In, s.Out, perSecond(s.In, elapsed), s.Errors, s.Dropped, latency(s.Latency, s.Latency.P50), latency(s.Latency, s.Latency.P99))
	}
}
