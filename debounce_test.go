package stream_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
)

// debounced is an element Debounce emitted, with when (fake time since the
// epoch).
type debounced struct {
	v  int
	at time.Duration
}

// runDebounce feeds v at epoch+at[v] for each v, closes the input at
// closeAt, and returns what Debounce(quiet) emitted and when.
func runDebounce(t *testing.T, quiet time.Duration, at []time.Duration, closeAt time.Duration) ([]debounced, stream.StageStats) {
	p := stream.New(context.Background())
	in := make(chan int)
	out := stream.Debounce(p, in, quiet, stream.Name("debounce"))
	go func() {
		for v, a := range at {
			time.Sleep(time.Until(epoch.Add(a)))
			in <- v
		}
		time.Sleep(time.Until(epoch.Add(closeAt)))
		close(in)
	}()
	var got []debounced
	for v := range out {
		got = append(got, debounced{v, time.Since(epoch)})
	}
	require.NoError(t, p.Wait())
	return got, statsOf(t, p, "debounce")
}

func TestDebounce(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		at      []time.Duration
		closeAt time.Duration
		want    []debounced
	}{
		{"bursts", []time.Duration{0, 1 * ms, 2 * ms, 10 * ms, 30 * ms, 33 * ms}, 50 * ms,
			[]debounced{{2, 7 * ms}, {3, 15 * ms}, {5, 38 * ms}}},
		{"the waiting element goes out when the input closes", []time.Duration{0, 1 * ms}, 3 * ms,
			[]debounced{{1, 3 * ms}}},
		{"quiet exactly reached before the next", []time.Duration{0, 6 * ms}, 20 * ms,
			[]debounced{{0, 5 * ms}, {1, 11 * ms}}},
		{"empty", nil, 5 * ms, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				got, st := runDebounce(t, 5*ms, tt.at, tt.closeAt)
				assert.Equal(t, tt.want, got)
				assert.Equal(t, int64(len(tt.at)), st.In)
				assert.Equal(t, int64(len(tt.want)), st.Out)
				assert.Zero(t, st.Dropped)
			})
		})
	}
}

func TestDebounceStopDiscardsWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(context.Background())
		in := make(chan int, 1)
		in <- 1
		out := stream.Debounce(p, in, time.Hour)
		require.NoError(t, waitEndsAtOnce(t, p, p.Stop))
		_, ok := <-out
		assert.False(t, ok, "the waiting element is discarded")
	})
}

// FuzzDebounce: for any quiet and gaps, Debounce emits exactly the
// elements followed by a gap of at least quiet (and the last), each quiet
// after its arrival (the last: at quiet, or when the input closes).
func FuzzDebounce(f *testing.F) {
	f.Add(5, 50, uint64(1))
	f.Add(1, 300, uint64(2))
	f.Add(40, 100, uint64(3))
	f.Add(0, 10, uint64(4))  // quiet 0
	f.Add(-7, 10, uint64(5)) // negative quiet
	f.Fuzz(func(t *testing.T, quietMs, n int, seed uint64) {
		if quietMs <= 0 {
			synctest.Test(t, func(t *testing.T) {
				p := stream.New(context.Background())
				defer p.Wait()
				defer p.Stop()
				wantStreamPanic(t, func() { stream.Debounce(p, stream.FromSlice(p, seq(1)), time.Duration(quietMs)*time.Millisecond) })
			})
			return
		}
		n = fuzzLen(n)
		// Gaps are whole milliseconds and quiet ends on a half, so that a
		// timer and an arrival never fall on the same instant.
		quiet := time.Duration(1+quietMs%50)*time.Millisecond - time.Millisecond/2
		r := rand.New(rand.NewPCG(seed, 2))
		at := make([]time.Duration, n)
		var now time.Duration
		for i := range at {
			now += time.Duration(r.IntN(60)) * time.Millisecond
			at[i] = now
		}
		closeAt := now + time.Duration(r.IntN(80))*time.Millisecond
		var want []debounced
		for i := range at {
			switch {
			case i+1 < n && at[i+1]-at[i] > quiet:
				want = append(want, debounced{i, at[i] + quiet})
			case i+1 == n:
				want = append(want, debounced{i, min(at[i]+quiet, closeAt)})
			}
		}
		synctest.Test(t, func(t *testing.T) {
			got, _ := runDebounce(t, quiet, at, closeAt)
			assert.Equal(t, want, got)
		})
	})
}
