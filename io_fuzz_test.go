package stream_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
)

// Fuzz targets for the reader sources: for any input and any maximum line
// length, the output is what the standard library's own readers give, up to
// the first line (or record) longer than the maximum, and the pipeline fails
// with ErrLineTooLong exactly when there is one.

func FuzzLines(f *testing.F) {
	f.Add([]byte("a\nbb\r\nccc"), 2)
	f.Add([]byte(""), 1)
	f.Add([]byte("\n\n\r\n"), 1)
	f.Add([]byte("abc\r\r\n"), 4)
	f.Add([]byte(strings.Repeat("x", 5000)+"\n"), 4999)
	f.Fuzz(func(t *testing.T, data []byte, maxLine int) {
		if maxLine < 1 {
			wantStreamPanic(t, func() { stream.MaxLineLength(maxLine) })
			return
		}
		maxLine = min(maxLine, 1<<16)
		// The model: split at "\n", drop one "\r" before it, no line after
		// a final "\n".
		var want []string
		tooLong := false
		if len(data) > 0 {
			parts := strings.Split(string(data), "\n")
			if parts[len(parts)-1] == "" {
				parts = parts[:len(parts)-1]
			}
			for _, l := range parts {
				l = strings.TrimSuffix(l, "\r")
				if len(l) > maxLine {
					tooLong = true
					break
				}
				want = append(want, l)
			}
		}
		p := stream.New(context.Background())
		got, err := stream.Collect(p, stream.Lines(p, bytes.NewReader(data), stream.MaxLineLength(maxLine)))
		if tooLong {
			require.ErrorIs(t, err, stream.ErrLineTooLong)
		} else {
			require.NoError(t, err)
		}
		require.Equal(t, want, got)
	})
}

func FuzzJSONLines(f *testing.F) {
	f.Add([]byte("1\n\"a\"\n{\"k\":[1,2]}\n"), 100)
	f.Add([]byte("{\n}\n"), 100)
	f.Add([]byte("  \n\t\r\nnull"), 3)
	f.Fuzz(func(t *testing.T, data []byte, maxLine int) {
		maxLine = min(max(maxLine, 1), 1<<16)
		// The model: Lines, each non-blank one decoded on its own.
		var want []any
		var wantErr error
		p := stream.New(context.Background())
		lines, linesErr := stream.Collect(p, stream.Lines(p, bytes.NewReader(data), stream.MaxLineLength(maxLine)))
		for _, l := range lines {
			if strings.TrimSpace(l) == "" {
				continue
			}
			var v any
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				wantErr = err
				break
			}
			want = append(want, v)
		}
		if wantErr == nil {
			wantErr = linesErr
		}
		p = stream.New(context.Background())
		got, err := stream.Collect(p, stream.JSONLines[any](p, bytes.NewReader(data), stream.MaxLineLength(maxLine)))
		require.Equal(t, wantErr == nil, err == nil, "got %v, want %v", err, wantErr)
		if wantErr != nil {
			var se *stream.Error
			require.ErrorAs(t, err, &se, "a run-time error, reported as a stage error")
		}
		require.Equal(t, want, got)
	})
}

func FuzzCSVRecords(f *testing.F) {
	f.Add([]byte("a,b\nc,d\n"), 4)
	f.Add([]byte("a,\"b\nc\"\n"), 6)
	f.Add([]byte("a,\"b\nc\"\n"), 7)
	f.Add([]byte("\"unterminated\n"), 100)
	f.Add([]byte("a,b\nc\n"), 100)
	f.Add([]byte("\n\n\na"), 2)
	f.Fuzz(func(t *testing.T, data []byte, maxLine int) {
		maxLine = min(max(maxLine, 1), 1<<16)
		// The model: encoding/csv on its own, with the input size of each
		// record (from InputOffset, line endings and the blank lines before
		// it included; blank lines after the last record make an element
		// without fields).
		type rec struct {
			fields []string
			size   int64
		}
		var want []rec
		var wantErr error
		r := csv.NewReader(bytes.NewReader(data))
		for {
			start := r.InputOffset()
			fields, err := r.Read()
			size := r.InputOffset() - start
			if errors.Is(err, io.EOF) {
				if size > 0 { // blank lines after the last record
					want = append(want, rec{nil, size})
				}
				break
			}
			if err != nil {
				wantErr = err
				want = append(want, rec{nil, size})
				break
			}
			want = append(want, rec{fields, size})
		}
		p := stream.New(context.Background())
		got, err := stream.Collect(p, stream.CSVRecords(p, bytes.NewReader(data), nil, stream.MaxLineLength(maxLine)))
		require.LessOrEqual(t, len(got), len(want))
		for i, g := range got {
			require.Equal(t, want[i].fields, g, "record %d", i+1)
			require.LessOrEqual(t, want[i].size, int64(maxLine), "record %d is longer than the maximum, yet passed", i+1)
		}
		if errors.Is(err, stream.ErrLineTooLong) {
			require.Less(t, len(got), len(want), "too long, but csv read no further record")
			require.Greater(t, want[len(got)].size, int64(maxLine), "record %d fits, yet was too long", len(got)+1)
			return
		}
		// No record was too long: everything as encoding/csv.
		for i, w := range want {
			if w.fields != nil {
				require.LessOrEqual(t, w.size, int64(maxLine), "record %d is too long, yet passed", i+1)
			}
		}
		require.Equal(t, wantErr == nil, err == nil, "got %v, want %v", err, wantErr)
		records := 0
		for _, w := range want {
			if w.fields != nil {
				records++
			}
		}
		require.Len(t, got, records)
	})
}
