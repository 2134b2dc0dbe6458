package main

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRun runs the program and compares its output with
// testdata/output.txt (regenerate it with go run . > testdata/output.txt
// after checking the change).
func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	want, err := os.ReadFile("testdata/output.txt")
	require.NoError(t, err)
	assert.Equal(t, string(want), out.String())
}

// TestCountsMatchAModel recomputes the per-minute counts, the late views and
// the sessions' total with plain loops over the data, in arrival order.
func TestCountsMatchAModel(t *testing.T) {
	views, err := parse(clicksCSV)
	require.NoError(t, err)
	r, err := analyse(context.Background(), views)
	require.NoError(t, err)

	type cell struct {
		minute time.Time
		page   string
	}
	want := map[cell]int{}
	var late int64
	var latest time.Time
	for _, v := range views {
		if v.at.After(latest) {
			latest = v.at
		}
		if !v.at.Truncate(minute).Add(minute).After(latest.Add(-lateness)) {
			late++ // its minute closed before it arrived
			continue
		}
		want[cell{v.at.Truncate(minute), v.page}]++
	}
	got := map[cell]int{}
	for _, pn := range r.perMinute {
		got[cell{pn.Start, pn.Key}] += pn.Value
	}
	assert.Equal(t, want, got)
	assert.Equal(t, late, r.late)
	assert.Positive(t, late, "the data has late views")

	total := 0
	for _, pn := range r.sessions {
		total += pn.Value.views
		assert.LessOrEqual(t, pn.End.Sub(pn.Start), 30*time.Minute)
	}
	assert.LessOrEqual(t, total, len(views))
	assert.Greater(t, total, len(views)-3, "a session view is late only if it is more than 30s behind")
	assert.Zero(t, r.topLate, "a minute's panes come together: none misses its top")
	assert.Len(t, r.tops, len(minutes(r)))
	for _, pn := range r.tops {
		assert.Positive(t, pn.Value.n)
	}
}

func minutes(r report) map[time.Time]bool {
	m := map[time.Time]bool{}
	for _, pn := range r.perMinute {
		m[pn.Start] = true
	}
	return m
}
