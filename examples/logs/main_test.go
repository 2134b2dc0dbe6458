package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pipewright/stream"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The pipeline's counts are those of a plain loop over the log; the
// malformed lines are skipped and counted; no request is late.
func TestCountsAgreeWithALoop(t *testing.T) {
	type key struct {
		minute time.Time
		status int
	}
	want := map[key]int{}
	malformed := 0
	for line := range strings.Lines(accessLog) {
		r, err := parse(strings.TrimSuffix(line, "\n"))
		if err != nil {
			malformed++
			continue
		}
		want[key{r.at.Truncate(time.Minute).UTC(), r.status}]++
	}
	require.Positive(t, malformed)

	db, stats, err := countStatuses(context.Background(), strings.NewReader(accessLog))
	require.NoError(t, err)
	got := map[key]int{}
	for _, r := range db.rows {
		got[key{r.minute, r.status}] += r.count
	}
	assert.Equal(t, want, got)

	byName := map[string]stream.StageStats{}
	for _, s := range stats {
		byName[s.Name] = s
	}
	assert.Equal(t, int64(malformed), byName["parse"].Skipped)
	assert.Zero(t, byName["window"].Dropped, "no request is late")
	assert.Equal(t, int64(len(db.rows)), byName["bulk"].In)
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(&out))
	assert.Contains(t, out.String(), "10:00    92 requests  200×61 201×1 204×4 301×6 304×2 400×4 404×4 500×5 503×5\n")
	assert.Contains(t, out.String(), "parse    map             480    467       13        0\n")
}
