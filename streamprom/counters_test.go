package streamprom_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pipewright/stream"
	"github.com/pipewright/stream/streamprom"
)

// TestEachCounterExportsItsOwnStat: a stage whose counters all differ
// (errors, of which one skipped; retries; a panic elsewhere), so that a
// metric exporting the wrong field of StageStats shows. The golden file's
// pipeline has as many errors as skipped elements, which hid such a mix-up.
func TestEachCounterExportsItsOwnStat(t *testing.T) {
	var p *stream.Pipeline
	synctest.Test(t, func(t *testing.T) {
		p = stream.New(context.Background())
		errBad := errors.New("bad")
		flaky := stream.Map(p, stream.FromSlice(p, numbers(1, 10), stream.Name("numbers")), func(_ context.Context, v int) (int, error) {
			if v == 2 || v == 5 {
				return 0, errBad
			}
			return v, nil
		},
			stream.Name("flaky"),
			stream.Retry(stream.RetryPolicy{Attempts: 3, Initial: time.Millisecond, Jitter: -1}),
			stream.OnError(func(v int, err error) error {
				if v == 5 {
					return err // fails the pipeline
				}
				return nil // skips 2
			}),
		)
		if _, err := stream.Collect(p, flaky); !errors.Is(err, errBad) {
			t.Fatalf("Collect: %v, want %v", err, errBad)
		}
	})
	var st stream.StageStats
	for _, s := range p.Stats() {
		if s.Name == "flaky" {
			st = s
		}
	}
	if st.Errors != 2 || st.Skipped != 1 || st.Retried != 4 {
		t.Fatalf("the pipeline did not give distinct counters: %+v", st)
	}
	text := gatherText(t, streamprom.NewCollector(p))
	want := []sample{
		{"elements_in_total", "map", "flaky", float64(st.In)},
		{"elements_out_total", "map", "flaky", float64(st.Out)},
		{"errors_total", "map", "flaky", float64(st.Errors)},
		{"skipped_total", "map", "flaky", float64(st.Skipped)},
		{"retries_total", "map", "flaky", float64(st.Retried)},
		{"dropped_total", "map", "flaky", float64(st.Dropped)},
		{"panics_total", "map", "flaky", float64(st.Panics)},
	}
	if bad := mismatches(text, want); len(bad) > 0 {
		t.Errorf("%s\nscrape:\n%s", strings.Join(bad, "\n"), text)
	}
}
