package stream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// The sources of this file read an [io.Reader]: lines of text, JSON values
// one per line, CSV records. Each reads with a buffer bounded by
// [MaxLineLength] (default [DefaultMaxLineLength]), so an input without line
// breaks fails the pipeline with [ErrLineTooLong] instead of exhausting
// memory.
//
// The reader belongs to the caller: these sources never close it, and the
// caller must not read from it, or close it, before the pipeline has ended,
// unless to end a blocked read (below). When the pipeline ends early (an
// error, Stop, a consumer that released the output) the reader is left
// partly read.
//
// A Read in progress cannot be cancelled in general: the source notices
// that the pipeline is ending, or that its output was released, between
// reads. A reader with a SetReadDeadline(time.Time) error method (a
// net.Conn, an *os.File on a pipe) is interrupted: when the source's stage
// is done, the source sets a read deadline in the past, so a blocked Read
// returns at once (the deadline is left in place; reset it to read r
// again). Any other reader that can block for long keeps [Pipeline.Wait]
// waiting until its Read returns: close it (io.PipeReader.CloseWithError)
// when the pipeline's context is done, with context.AfterFunc(p.Context(),
// ...), and end the pipeline with [Pipeline.Stop] or an error rather than
// by releasing the source's output (a [First] or [Take] after it does not
// end the pipeline's context). A read error after the stage is done is not
// reported.

// DefaultMaxLineLength is the longest line, in bytes, that [Lines] and
// [JSONLines] accept, and the longest record [CSVRecords] accepts, when no
// [MaxLineLength] option is given: 64 KiB, as [bufio.Scanner].
const DefaultMaxLineLength = 64 << 10

// ErrLineTooLong fails a pipeline when [Lines], [JSONLines] or [CSVRecords]
// meets a line or record longer than its [MaxLineLength]. The error names
// the line.
var ErrLineTooLong = errors.New("stream: line too long")

// MaxLineLength sets the longest line, in bytes without its line ending,
// that [Lines] and [JSONLines] accept, and the longest record, in bytes with
// its line endings, that [CSVRecords] accepts; the default is
// [DefaultMaxLineLength]. A longer one fails the pipeline with
// [ErrLineTooLong] (blank lines before a CSV record count toward it). The
// source's buffer never grows beyond about n bytes.
// n < 1 panics; so does MaxLineLength on any other stage.
func MaxLineLength(n int) Option {
	if n < 1 {
		panic("stream: MaxLineLength: n must be at least 1")
	}
	return optionFunc(func(c *config) { c.maxLine = n; c.set |= usesMaxLine })
}

// Lines emits the lines of r, in order, without their line endings ("\n" or
// "\r\n"); a last line without a line ending is emitted too (a "\r" that
// ends the input is stripped, as bufio.ScanLines does), an empty input
// gives no line. The output closes at the end of r. A line longer than
// [MaxLineLength] fails the pipeline with [ErrLineTooLong], and an error
// from r fails it with that error; the lines before it have been emitted.
// Lines never closes r: the caller owns it, keeps it open until the
// pipeline has ended, and closes it after. A Read in progress is
// interrupted only if r has a SetReadDeadline method (see "Reading input"
// in the package doc). Like every source it starts one goroutine. A nil r
// panics.
func Lines(p *Pipeline, r io.Reader, opts ...Option) <-chan string {
	checkReader(r, "Lines")
	return readerSource(p, "lines", r, opts, func(_ context.Context, maxLine int, emit func(string) error) error {
		return scanLines(r, maxLine, func(_ int, line []byte) error {
			return emit(string(line))
		})
	})
}

// JSONLines decodes each line of r into a new T with [json.Unmarshal] and
// emits it, in order (the JSON Lines format: one JSON value per line). Lines
// that are empty or hold only white space are skipped. The output closes at
// the end of r. A line that does not decode into a T fails the pipeline
// with an error naming the line number and wrapping json's error; to skip
// bad lines instead, read [Lines] and decode in a [Map] with [OnError]. A
// line longer than [MaxLineLength] fails it with [ErrLineTooLong]. Like
// [Lines], JSONLines never closes r and starts one goroutine. A nil r panics.
func JSONLines[T any](p *Pipeline, r io.Reader, opts ...Option) <-chan T {
	checkReader(r, "JSONLines")
	return readerSource(p, "jsonlines", r, opts, func(_ context.Context, maxLine int, emit func(T) error) error {
		return scanLines(r, maxLine, func(n int, line []byte) error {
			if len(bytes.TrimSpace(line)) == 0 {
				return nil
			}
			var v T
			if err := json.Unmarshal(line, &v); err != nil {
				return fmt.Errorf("line %d: %w", n, err)
			}
			return emit(v)
		})
	})
}

// CSVRecords emits the records of the CSV text r holds, each as a new slice
// of fields, in order, read by an [encoding/csv.Reader]. setup, when not
// nil, configures that reader before the first read (Comma, Comment,
// FieldsPerRecord, LazyQuotes, TrimLeadingSpace); ReuseRecord is always
// off, since records are handed on. A header line is a record like any
// other. The output closes at the end of r. A malformed record fails the
// pipeline with the reader's [*encoding/csv.ParseError] (which names the
// line); a record longer than [MaxLineLength] bytes, its line endings
// included, fails it with [ErrLineTooLong]. Like [Lines], CSVRecords never
// closes r and starts one goroutine. A nil r panics.
func CSVRecords(p *Pipeline, r io.Reader, setup func(*csv.Reader), opts ...Option) <-chan []string {
	checkReader(r, "CSVRecords")
	return readerSource(p, "csv", r, opts, func(_ context.Context, maxLine int, emit func([]string) error) error {
		lr := &limitedRecordReader{r: r, max: int64(maxLine)}
		cr := csv.NewReader(lr)
		if setup != nil {
			setup(cr)
		}
		cr.ReuseRecord = false
		for n := 1; ; n++ {
			lr.start = cr.InputOffset()
			rec, err := cr.Read()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if errors.Is(err, ErrLineTooLong) {
				return fmt.Errorf("%w: record %d is longer than %d bytes", ErrLineTooLong, n, maxLine)
			}
			if err != nil {
				return err
			}
			if err := emit(rec); err != nil {
				return err
			}
		}
	})
}

// readerSource is source for the readers of this file, which also accept
// MaxLineLength; gen gets the line length to enforce.
func readerSource[T any](p *Pipeline, kind string, r io.Reader, opts []Option, gen func(ctx context.Context, maxLine int, emit func(T) error) error) <-chan T {
	checkPipeline(p)
	cfg := stageConfig(kind, opts, usesCapacity|usesMaxLine)
	maxLine := cfg.maxLine
	if maxLine == 0 {
		maxLine = DefaultMaxLineLength
	}
	return sourceStage(p, kind, cfg, func(ctx context.Context, _ *worker, emit func(T) error) error {
		if d, ok := r.(interface{ SetReadDeadline(time.Time) error }); ok {
			// End a blocked Read as soon as the stage is done.
			stop := context.AfterFunc(ctx, func() { _ = d.SetReadDeadline(time.Unix(1, 0)) })
			defer stop()
		}
		return gen(ctx, maxLine, emit)
	})
}

func checkReader(r io.Reader, op string) {
	if r == nil {
		panic("stream: " + op + ": nil reader")
	}
}

// scanLines calls fn with the number (from 1) and the text of each line of
// r, without its line ending. line is valid only during the call. A line
// longer than maxLine bytes ends the scan with ErrLineTooLong; the buffer
// never grows beyond maxLine+2 bytes (the line and "\r\n").
func scanLines(r io.Reader, maxLine int, fn func(n int, line []byte) error) error {
	sc := bufio.NewScanner(r)
	limit := maxLine + 2
	if limit < maxLine { // overflow: no practical limit
		limit = maxLine
	}
	sc.Buffer(make([]byte, 0, min(limit, 4096)), limit)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if len(line) > maxLine {
			return tooLong(n, maxLine)
		}
		if err := fn(n, line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return tooLong(n+1, maxLine)
		}
		return err
	}
	return nil
}

func tooLong(line, maxLine int) error {
	return fmt.Errorf("%w: line %d is longer than %d bytes", ErrLineTooLong, line, maxLine)
}

// limitedRecordReader feeds a csv.Reader and fails with ErrLineTooLong once
// the reader has taken more than max bytes since start, the input offset at
// which the current record began. The csv.Reader asks for more input only
// while the line it reads is incomplete, so a record of at most max bytes
// is always read whole, and a longer one fails before more than max bytes
// of it are buffered.
type limitedRecordReader struct {
	r     io.Reader
	max   int64
	start int64 // set before each record
	read  int64 // bytes handed to the csv.Reader so far
}

func (l *limitedRecordReader) Read(b []byte) (int, error) {
	room := l.max - (l.read - l.start)
	if room <= 0 {
		// The record already has max bytes and is incomplete, unless the
		// input ends here.
		var probe [1]byte
		n, err := io.ReadFull(l.r, probe[:])
		if n == 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
			return 0, io.EOF
		}
		if n == 0 && err != nil {
			return 0, err
		}
		return 0, ErrLineTooLong
	}
	if int64(len(b)) > room {
		b = b[:room]
	}
	n, err := l.r.Read(b)
	l.read += int64(n)
	return n, err
}
