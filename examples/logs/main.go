// Logs counts the status codes of an embedded web access log per minute:
// it reads the log with Lines, parses each line with two workers (skipping
// malformed lines with OnError: they are counted, not fatal), counts the
// status codes in one-minute tumbling windows in event time (the time of
// each request, with 5 s allowed for lines written out of order), writes
// the per-minute counts in bulk (Batch), and prints the table and the
// pipeline's Stats.
//
//	go run ./examples/logs
package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pipewright/stream"
)

//go:embed access.log
var accessLog string

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "logs:", err)
		os.Exit(1)
	}
}

// request is one parsed line of the log.
type request struct {
	at     time.Time
	status int
}

// row is what the bulk writer stores: one status code's count in one minute.
type row struct {
	minute time.Time
	status int
	count  int
}

// store is the simulated database the counts are written to in bulk.
type store struct {
	rows   []row
	writes int
}

func (s *store) writeBulk(rows []row) {
	s.writes++
	s.rows = append(s.rows, rows...)
}

func run(w io.Writer) error {
	db, stats, err := countStatuses(context.Background(), strings.NewReader(accessLog))
	if err != nil {
		return err
	}
	printTable(w, db.rows)
	fmt.Fprintf(w, "\n%d rows written in %d bulk writes\n\n", len(db.rows), db.writes)
	fmt.Fprintf(w, "%-8s %-12s %6s %6s %8s %8s\n", "stage", "kind", "in", "out", "skipped", "dropped")
	for _, s := range stats {
		fmt.Fprintf(w, "%-8s %-12s %6d %6d %8d %8d\n", s.Name, s.Kind, s.In, s.Out, s.Skipped, s.Dropped)
	}
	return nil
}

// countStatuses runs the pipeline over log and returns what it stored and
// the pipeline's Stats.
func countStatuses(ctx context.Context, log io.Reader) (*store, []stream.StageStats, error) {
	p := stream.New(ctx)
	lines := stream.Lines(p, log, stream.Name("read"))

	// A malformed line is skipped: OnError returns nil. It is counted in the
	// stage's Errors and Skipped.
	requests := stream.Map(p, lines, func(_ context.Context, line string) (request, error) {
		return parse(line)
	}, stream.Name("parse"), stream.Workers(2), stream.Ordered(),
		stream.OnError(func(string, error) error { return nil }))

	// One pane per status code and minute, in event time: a window closes
	// when a request 5 s past its end has been seen. A request older than
	// that would be late: dropped and counted.
	panes := stream.WindowReduce(p, requests, stream.Tumbling(time.Minute),
		func(r request) int { return r.status }, 0,
		func(n int, _ request) int { return n + 1 },
		stream.EventTime(func(r request) time.Time { return r.at }, 5*time.Second),
		stream.Name("window"))

	rows := stream.Map(p, panes, func(_ context.Context, pane stream.Pane[int, int]) (row, error) {
		return row{minute: pane.Start, status: pane.Key, count: pane.Value}, nil
	}, stream.Name("row"))

	// Bulk writes of up to 16 rows, or whatever is there after 100 ms.
	bulks := stream.Batch(p, rows, 16, 100*time.Millisecond, stream.Name("bulk"))
	db := &store{}
	stream.ForEach(p, bulks, func(_ context.Context, rows []row) error {
		db.writeBulk(rows) // one worker: no lock needed
		return nil
	}, stream.Name("write"))

	err := p.Wait()
	return db, p.Stats(), err
}

var errMalformed = errors.New("malformed log line")

// parse reads a line of the common log format:
//
//	10.0.0.1 - - [01/Dec/2026:10:00:01 +0000] "GET / HTTP/1.1" 200 512
func parse(line string) (request, error) {
	open, end := strings.IndexByte(line, '['), strings.IndexByte(line, ']')
	if open < 0 || end < open {
		return request{}, fmt.Errorf("%w: no time: %q", errMalformed, line)
	}
	at, err := time.Parse("02/Jan/2006:15:04:05 -0700", line[open+1:end])
	if err != nil {
		return request{}, fmt.Errorf("%w: %w", errMalformed, err)
	}
	q := strings.LastIndexByte(line, '"')
	fields := strings.Fields(line[q+1:])
	if q < 0 || len(fields) != 2 {
		return request{}, fmt.Errorf("%w: no status: %q", errMalformed, line)
	}
	status, err := strconv.Atoi(fields[0])
	if err != nil {
		return request{}, fmt.Errorf("%w: status: %w", errMalformed, err)
	}
	return request{at: at, status: status}, nil
}

// printTable prints one line per minute: each status code with its count.
func printTable(w io.Writer, rows []row) {
	slices.SortFunc(rows, func(a, b row) int {
		if c := a.minute.Compare(b.minute); c != 0 {
			return c
		}
		return a.status - b.status
	})
	for i := 0; i < len(rows); {
		j := i
		var cells []string
		total := 0
		for ; j < len(rows) && rows[j].minute.Equal(rows[i].minute); j++ {
			cells = append(cells, fmt.Sprintf("%d×%d", rows[j].status, rows[j].count))
			total += rows[j].count
		}
		fmt.Fprintf(w, "%s  %4d requests  %s\n", rows[i].minute.Format("15:04"), total, strings.Join(cells, " "))
		i = j
	}
}
