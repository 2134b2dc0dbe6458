package stream_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
)

func TestLines(t *testing.T) {
	tests := []struct {
		name string
		give string
		want []string
	}{
		{"an empty input gives no line", "", nil},
		{"a line ending in a newline", "a\n", []string{"a"}},
		{"a last line without a newline is emitted", "a\nb", []string{"a", "b"}},
		{"CRLF endings are removed", "a\r\nb\r\n", []string{"a", "b"}},
		{"empty lines are lines", "\n\nx\n", []string{"", "", "x"}},
		{"a lone CR inside a line stays", "a\rb\n", []string{"a\rb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := stream.New(context.Background())
			got, err := stream.Collect(p, stream.Lines(p, strings.NewReader(tt.give)))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestLinesMaxLineLength(t *testing.T) {
	t.Run("a line of exactly the maximum passes, with either line ending", func(t *testing.T) {
		p := stream.New(context.Background())
		got, err := stream.Collect(p, stream.Lines(p, strings.NewReader("abcd\nefgh\r\nijkl"), stream.MaxLineLength(4)))
		require.NoError(t, err)
		assert.Equal(t, []string{"abcd", "efgh", "ijkl"}, got)
	})
	for _, give := range []string{"ab\nabcde\nab\n", "ab\nabcde\r\nab\n", "ab\nabcde", "ab\nabcdefghijklmnop\n"} {
		t.Run("a longer line fails the pipeline and names the line: "+strings.ReplaceAll(give, "\n", `\n`), func(t *testing.T) {
			p := stream.New(context.Background())
			got, err := stream.Collect(p, stream.Lines(p, strings.NewReader(give), stream.MaxLineLength(4), stream.Name("in")))
			require.ErrorIs(t, err, stream.ErrLineTooLong)
			var se *stream.Error
			require.ErrorAs(t, err, &se)
			assert.Equal(t, "in", se.Stage)
			assert.Contains(t, err.Error(), "line 2 is longer than 4 bytes")
			assert.Equal(t, []string{"ab"}, got, "the lines before it were emitted")
		})
	}
}

// endless is a reader of an infinite line: it counts what it hands out.
type endless struct{ read atomic.Int64 }

func (e *endless) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = 'x'
	}
	e.read.Add(int64(len(b)))
	return len(b), nil
}

func TestLinesWithoutLineBreakNeverBuffersMoreThanTheMaximum(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []stream.Option
		max  int64
	}{
		{"default maximum", nil, stream.DefaultMaxLineLength},
		{"MaxLineLength(100)", []stream.Option{stream.MaxLineLength(100)}, 100},
		{"MaxLineLength(1<<20)", []stream.Option{stream.MaxLineLength(1 << 20)}, 1 << 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := new(endless)
			p := stream.New(context.Background())
			err := stream.Drain(p, stream.Lines(p, r, tt.opts...))
			require.ErrorIs(t, err, stream.ErrLineTooLong)
			assert.LessOrEqual(t, r.read.Load(), tt.max+2, "read no more than the line and its ending")
		})
	}
}

func TestJSONLinesAndCSVRecordsBoundedToo(t *testing.T) {
	t.Run("JSONLines", func(t *testing.T) {
		r := new(endless)
		p := stream.New(context.Background())
		err := stream.Drain(p, stream.JSONLines[int](p, r, stream.MaxLineLength(1000)))
		require.ErrorIs(t, err, stream.ErrLineTooLong)
		assert.LessOrEqual(t, r.read.Load(), int64(1002))
	})
	t.Run("CSVRecords", func(t *testing.T) {
		r := new(endless)
		p := stream.New(context.Background())
		err := stream.Drain(p, stream.CSVRecords(p, r, nil, stream.MaxLineLength(1000)))
		require.ErrorIs(t, err, stream.ErrLineTooLong)
		assert.LessOrEqual(t, r.read.Load(), int64(1001), "the record and one byte to tell it goes on")
	})
}

// failingReader returns its text, then err.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(b []byte) (int, error) {
	n, err := f.r.Read(b)
	if errors.Is(err, io.EOF) {
		return n, f.err
	}
	return n, err
}

var errDisk = errors.New("disk on fire")

func TestReaderErrorFailsThePipeline(t *testing.T) {
	t.Run("Lines", func(t *testing.T) {
		p := stream.New(context.Background())
		got, err := stream.Collect(p, stream.Lines(p, &failingReader{strings.NewReader("a\nb\n"), errDisk}))
		require.ErrorIs(t, err, errDisk)
		assert.Equal(t, []string{"a", "b"}, got, "the lines before the error were emitted")
	})
	t.Run("JSONLines", func(t *testing.T) {
		p := stream.New(context.Background())
		got, err := stream.Collect(p, stream.JSONLines[string](p, &failingReader{strings.NewReader("\"a\"\n\"b\"\n"), errDisk}))
		require.ErrorIs(t, err, errDisk)
		assert.Equal(t, []string{"a", "b"}, got)
	})
	t.Run("CSVRecords", func(t *testing.T) {
		p := stream.New(context.Background())
		got, err := stream.Collect(p, stream.CSVRecords(p, &failingReader{strings.NewReader("a\nb\n"), errDisk}, nil))
		require.ErrorIs(t, err, errDisk)
		assert.Equal(t, [][]string{{"a"}, {"b"}}, got)
	})
}

// closeRecorder is a reader that remembers whether it was closed.
type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestReadersAreNeverClosed(t *testing.T) {
	for _, tt := range []struct {
		name string
		src  func(p *stream.Pipeline, r io.Reader)
	}{
		{"Lines", func(p *stream.Pipeline, r io.Reader) { stream.Drain(p, stream.Lines(p, r)) }},
		{"JSONLines", func(p *stream.Pipeline, r io.Reader) { stream.Drain(p, stream.JSONLines[int](p, r)) }},
		{"CSVRecords", func(p *stream.Pipeline, r io.Reader) { stream.Drain(p, stream.CSVRecords(p, r, nil)) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &closeRecorder{Reader: strings.NewReader("1\n2\n")}
			tt.src(stream.New(context.Background()), r)
			assert.False(t, r.closed)
		})
	}
}

// lineSource is an endless reader of short lines.
type lineSource struct{ lines atomic.Int64 }

func (l *lineSource) Read(b []byte) (int, error) {
	n := 0
	for n+2 <= len(b) {
		b[n], b[n+1] = '7', '\n'
		n += 2
		l.lines.Add(1)
	}
	return n, nil
}

func TestLinesStopsWhenReleased(t *testing.T) {
	r := new(lineSource)
	p := stream.New(context.Background())
	got, err := stream.Collect(p, stream.Take(p, stream.Lines(p, r), 3))
	require.NoError(t, err)
	assert.Equal(t, []string{"7", "7", "7"}, got)
	assert.Less(t, r.lines.Load(), int64(10000), "the source stopped reading soon after Take let go")
}

// A reader with SetReadDeadline (a net.Conn) is interrupted when the
// source's output is released: First returns although no more data comes.
func TestBlockedReadWithDeadlineEndsWhenTheSourceIsReleased(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	go func() { _, _ = server.Write([]byte("first\nsec")) }() // then nothing more
	p := stream.New(context.Background())
	first, err := stream.First(p, stream.Lines(p, client))
	require.NoError(t, err, "the read error after the stage ended is not reported")
	assert.Equal(t, "first", first)
}

// The pattern the doc gives for a blocking reader without deadlines: close
// it when the pipeline's context is done, and end the pipeline with Stop.
func TestBlockedReadEndsWhenTheReaderIsClosedWithThePipeline(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	p := stream.New(context.Background())
	stop := context.AfterFunc(p.Context(), func() { pr.CloseWithError(context.Canceled) })
	defer stop()
	var got []string
	stream.ForEach(p, stream.Lines(p, pr), func(_ context.Context, line string) error {
		got = append(got, line)
		p.Stop()
		return nil
	})
	go func() { _, _ = pw.Write([]byte("first\n")) }()
	require.NoError(t, p.Wait())
	assert.Equal(t, []string{"first"}, got)
}

type jsonEvent struct {
	ID   int    `json:"id"`
	Kind string `json:"kind"`
}

func TestJSONLines(t *testing.T) {
	t.Run("decodes each line, skipping blank ones", func(t *testing.T) {
		give := "{\"id\":1,\"kind\":\"a\"}\n\n  \t\r\n{\"id\":2,\"kind\":\"b\"}\r\n{\"id\":3}"
		p := stream.New(context.Background())
		got, err := stream.Collect(p, stream.JSONLines[jsonEvent](p, strings.NewReader(give)))
		require.NoError(t, err)
		assert.Equal(t, []jsonEvent{{1, "a"}, {2, "b"}, {3, ""}}, got)
	})
	t.Run("a bad line fails the pipeline, naming the line", func(t *testing.T) {
		give := "{\"id\":1}\n{\"id\":2}\n{\"id\":\n{\"id\":4}\n"
		p := stream.New(context.Background())
		got, err := stream.Collect(p, stream.JSONLines[jsonEvent](p, strings.NewReader(give)))
		var syntax *json.SyntaxError
		require.ErrorAs(t, err, &syntax)
		assert.Contains(t, err.Error(), "line 3")
		assert.Equal(t, []jsonEvent{{ID: 1}, {ID: 2}}, got)
	})
	t.Run("a value of the wrong type fails it too", func(t *testing.T) {
		p := stream.New(context.Background())
		_, err := stream.Collect(p, stream.JSONLines[int](p, strings.NewReader("1\n\"two\"\n")))
		var typeErr *json.UnmarshalTypeError
		require.ErrorAs(t, err, &typeErr)
		assert.Contains(t, err.Error(), "line 2")
	})
}

func TestCSVRecords(t *testing.T) {
	t.Run("records in order, quoted fields across lines", func(t *testing.T) {
		give := "name,note\nada,\"first\nprogrammer\"\r\nbob,\"say \"\"hi\"\"\"\n"
		p := stream.New(context.Background())
		got, err := stream.Collect(p, stream.CSVRecords(p, strings.NewReader(give), nil))
		require.NoError(t, err)
		assert.Equal(t, [][]string{{"name", "note"}, {"ada", "first\nprogrammer"}, {"bob", `say "hi"`}}, got)
	})
	t.Run("setup configures the reader", func(t *testing.T) {
		give := "# comment\na;b\nc;d;e\n"
		p := stream.New(context.Background())
		got, err := stream.Collect(p, stream.CSVRecords(p, strings.NewReader(give), func(r *csv.Reader) {
			r.Comma, r.Comment, r.FieldsPerRecord = ';', '#', -1
			r.ReuseRecord = true // ignored: records are handed on
		}))
		require.NoError(t, err)
		assert.Equal(t, [][]string{{"a", "b"}, {"c", "d", "e"}}, got)
	})
	t.Run("a malformed record fails the pipeline with csv's ParseError", func(t *testing.T) {
		p := stream.New(context.Background())
		got, err := stream.Collect(p, stream.CSVRecords(p, strings.NewReader("a,b\nc,d,e\n"), nil))
		var parse *csv.ParseError
		require.ErrorAs(t, err, &parse)
		assert.Equal(t, 2, parse.Line)
		assert.Equal(t, [][]string{{"a", "b"}}, got)
	})
	t.Run("a record of exactly the maximum passes", func(t *testing.T) {
		for _, give := range []string{"ab,c\n", "ab,c", "ab,c\nab,c\n"} {
			p := stream.New(context.Background())
			got, err := stream.Collect(p, stream.CSVRecords(p, strings.NewReader(give), nil, stream.MaxLineLength(5)))
			require.NoError(t, err, give)
			assert.Equal(t, []string{"ab", "c"}, got[0])
		}
	})
	t.Run("a longer record fails, even one of many short lines", func(t *testing.T) {
		for _, give := range []string{"a,b\nabc,d\n", "a,b\n\"a\nb\nc\nd\"\n"} {
			p := stream.New(context.Background())
			got, err := stream.Collect(p, stream.CSVRecords(p, strings.NewReader(give), nil, stream.MaxLineLength(5)))
			require.ErrorIs(t, err, stream.ErrLineTooLong, give)
			assert.Contains(t, err.Error(), "record 2 is longer than 5 bytes")
			assert.Equal(t, [][]string{{"a", "b"}}, got)
		}
	})
}

func TestReaderSourcesProgrammerErrors(t *testing.T) {
	p := stream.New(context.Background())
	defer p.Wait()
	wantStreamPanic(t, func() { stream.MaxLineLength(0) })
	wantStreamPanic(t, func() { stream.Lines(p, nil) })
	wantStreamPanic(t, func() { stream.JSONLines[int](p, nil) })
	wantStreamPanic(t, func() { stream.CSVRecords(p, nil, nil) })
	wantStreamPanic(t, func() { stream.Lines(p, strings.NewReader(""), stream.Workers(2)) })
	wantStreamPanic(t, func() {
		stream.Map(p, stream.FromSlice(p, []int{1}), double, stream.MaxLineLength(10))
	})
	wantStreamPanic(t, func() { stream.FromSlice(p, []int{1}, stream.MaxLineLength(10)) })
}

// As an adversary: extreme maxima, and user code that panics or exits its
// goroutine inside a source.
func TestReaderSourcesAdversarial(t *testing.T) {
	t.Run("the largest maximum", func(t *testing.T) {
		p := stream.New(context.Background())
		lines, err := stream.Collect(p, stream.Lines(p, strings.NewReader("a\nb"), stream.MaxLineLength(math.MaxInt)))
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b"}, lines)
		p = stream.New(context.Background())
		n, err := stream.Count(p, stream.CSVRecords(p, strings.NewReader(strings.Repeat("a,b\n", 5000)), nil, stream.MaxLineLength(math.MaxInt)))
		require.NoError(t, err)
		assert.Equal(t, 5000, n)
	})
	t.Run("a panic in CSVRecords' setup fails the pipeline", func(t *testing.T) {
		p := stream.New(context.Background())
		_, err := stream.Collect(p, stream.CSVRecords(p, strings.NewReader("a\n"), func(*csv.Reader) { panic("boom") }))
		var pe *stream.PanicError
		require.ErrorAs(t, err, &pe)
	})
	t.Run("a panic in a JSON decoder fails the pipeline", func(t *testing.T) {
		p := stream.New(context.Background())
		_, err := stream.Collect(p, stream.JSONLines[panicky](p, strings.NewReader("1\n")))
		var pe *stream.PanicError
		require.ErrorAs(t, err, &pe)
	})
	t.Run("runtime.Goexit in setup fails the pipeline, never hangs it", func(t *testing.T) {
		p := stream.New(context.Background())
		_, err := stream.Collect(p, stream.CSVRecords(p, strings.NewReader("a\n"), func(*csv.Reader) { runtime.Goexit() }))
		require.Error(t, err)
	})
	t.Run("a reader that panics fails the pipeline", func(t *testing.T) {
		p := stream.New(context.Background())
		err := stream.Drain(p, stream.Lines(p, panickyReader{}))
		var pe *stream.PanicError
		require.ErrorAs(t, err, &pe)
	})
}

type panicky struct{}

func (*panicky) UnmarshalJSON([]byte) error { panic("decoder boom") }

type panickyReader struct{}

func (panickyReader) Read([]byte) (int, error) { panic("read boom") }
