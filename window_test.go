package stream_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
)

// Exact panes of every windowing, in processing time (fake time under
// testing/synctest) and in event time.

// ev is an element of the window tests: a key, a value, and an event time
// as an offset from the bubble's epoch.
type ev struct {
	key string
	val int
	at  time.Duration
}

// epoch is the fake clock's start in a synctest bubble: midnight UTC,
// 2000-01-01, so windows of whole seconds and minutes start on it.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// gotPane is a pane as a test compares it: times as offsets from epoch,
// and when it was received (fake time since epoch).
type gotPane struct {
	key        string
	start, end time.Duration
	sum, count int
	early      bool
	at         time.Duration
}

func sumEv(acc int, e ev) int { return acc + e.val }
func keyEv(e ev) string       { return e.key }

// collectPanes reads panes, stamping each with its arrival in fake time.
func collectPanes(out <-chan stream.Pane[string, int]) func() []gotPane {
	var (
		mu  sync.Mutex
		got []gotPane
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for pn := range out {
			mu.Lock()
			got = append(got, gotPane{pn.Key, pn.Start.Sub(epoch), pn.End.Sub(epoch), pn.Value, pn.Count, pn.Early, time.Since(epoch)})
			mu.Unlock()
		}
	}()
	return func() []gotPane {
		<-done
		return got
	}
}

// feedAt sends each element when the fake clock reaches its time, then
// sleeps until closeAt and closes in.
func feedAt(in chan<- ev, evs []ev, closeAt time.Duration) {
	for _, e := range evs {
		time.Sleep(time.Until(epoch.Add(e.at)))
		in <- e
	}
	time.Sleep(time.Until(epoch.Add(closeAt)))
	close(in)
}

const s = time.Second

func TestWindowProcessingTime(t *testing.T) {
	tests := []struct {
		name    string
		w       stream.Windowing
		evs     []ev
		closeAt time.Duration
		want    []gotPane
	}{
		{
			name: "tumbling: boundaries and per key",
			w:    stream.Tumbling(10 * s),
			evs:  []ev{{"a", 1, 0}, {"b", 2, 3 * s}, {"a", 3, 7 * s}, {"a", 4, 10 * s}, {"b", 5, 19 * s}, {"a", 6, 20 * s}},
			// [0,10) closes at 10, before the element that arrives then;
			// [10,20) at 20; [20,30) when the input closes, at 25.
			closeAt: 25 * s,
			want: []gotPane{
				{"a", 0, 10 * s, 4, 2, false, 10 * s},
				{"b", 0, 10 * s, 2, 1, false, 10 * s},
				{"a", 10 * s, 20 * s, 4, 1, false, 20 * s},
				{"b", 10 * s, 20 * s, 5, 1, false, 20 * s},
				{"a", 20 * s, 30 * s, 6, 1, false, 25 * s},
			},
		},
		{
			name: "sliding: overlap",
			w:    stream.Sliding(10*s, 5*s),
			evs:  []ev{{"a", 1, 1 * s}, {"a", 10, 7 * s}, {"a", 100, 12 * s}},
			// 1s is in [-5,5) and [0,10); 7s in [0,10) and [5,15); 12s in
			// [5,15) and [10,20).
			closeAt: 16 * s,
			want: []gotPane{
				{"a", -5 * s, 5 * s, 1, 1, false, 5 * s},
				{"a", 0, 10 * s, 11, 2, false, 10 * s},
				{"a", 5 * s, 15 * s, 110, 2, false, 15 * s},
				{"a", 10 * s, 20 * s, 100, 1, false, 16 * s},
			},
		},
		{
			name: "sliding: every does not divide size",
			w:    stream.Sliding(10*s, 4*s),
			evs:  []ev{{"a", 1, 9 * s}},
			// 9s is in [0,10), [4,14) and [8,18): starts 0, 4, 8.
			closeAt: 30 * s,
			want: []gotPane{
				{"a", 0, 10 * s, 1, 1, false, 10 * s},
				{"a", 4 * s, 14 * s, 1, 1, false, 14 * s},
				{"a", 8 * s, 18 * s, 1, 1, false, 18 * s},
			},
		},
		{
			name: "session: gap per key",
			w:    stream.Session(5 * s),
			evs:  []ev{{"a", 1, 0}, {"b", 2, 1 * s}, {"a", 3, 3 * s}, {"a", 4, 7 * s}, {"b", 5, 10 * s}, {"a", 6, 20 * s}},
			// a: 0, 3, 7 (each within 5s of the last) → [0,12); b: 1 →
			// [1,6); b: 10 → [10,15); a: 20 → [20,25), emitted at close.
			closeAt: 22 * s,
			want: []gotPane{
				{"b", 1 * s, 6 * s, 2, 1, false, 6 * s},
				{"a", 0, 12 * s, 8, 3, false, 12 * s},
				{"b", 10 * s, 15 * s, 5, 1, false, 15 * s},
				{"a", 20 * s, 25 * s, 6, 1, false, 22 * s},
			},
		},
		{
			name: "session: exactly gap apart starts a new one",
			w:    stream.Session(5 * s),
			evs:  []ev{{"a", 1, 0}, {"a", 2, 5 * s}},
			// the first session ends at 5s and closes then, before the
			// element arriving at 5s.
			closeAt: 20 * s,
			want: []gotPane{
				{"a", 0, 5 * s, 1, 1, false, 5 * s},
				{"a", 5 * s, 10 * s, 2, 1, false, 10 * s},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				require.Equal(t, epoch, time.Now().UTC(), "the bubble's clock starts at the epoch")
				p := stream.New(context.Background())
				in := make(chan ev)
				panes := collectPanes(stream.WindowReduce(p, in, tt.w, keyEv, 0, sumEv, stream.Name("w")))
				go feedAt(in, tt.evs, tt.closeAt)
				got := panes()
				require.NoError(t, p.Wait())
				assert.Equal(t, tt.want, got)
				st := statsOf(t, p, "w")
				assert.Equal(t, int64(len(tt.evs)), st.In)
				assert.Equal(t, int64(len(tt.want)), st.Out)
				assert.Zero(t, st.Dropped)
			})
		})
	}
}

// TestWindowEventTime: windows follow the elements' timestamps; the
// watermark is the latest minus lateness; late elements are dropped and
// counted exactly, in Stats, OnDrop and the Observer.
func TestWindowEventTime(t *testing.T) {
	const m = time.Minute
	tests := []struct {
		name     string
		w        stream.Windowing
		lateness time.Duration
		evs      []ev
		want     []gotPane // at is not compared
		late     []int     // the values dropped
	}{
		{
			name:     "tumbling with lateness",
			w:        stream.Tumbling(m),
			lateness: 30 * s,
			evs: []ev{
				{"a", 1, 10 * s}, {"a", 2, 50 * s}, {"b", 4, 40 * s},
				{"a", 8, m + 5*s},   // watermark 0:35
				{"a", 16, 20 * s},   // on time: [0,1m) ends after 0:35
				{"b", 32, m + 40*s}, // watermark 1:10: closes [0,1m)
				{"a", 64, 59 * s},   // late: [0,1m) closed
				{"b", 128, m + 20*s},
				{"c", 256, 0}, // late
				{"c", 512, 2*m + 30*s},
			},
			want: []gotPane{
				{"a", 0, m, 1 + 2 + 16, 3, false, 0},
				{"b", 0, m, 4, 1, false, 0},
				// at close, in order of end, then of opening
				{"a", m, 2 * m, 8, 1, false, 0},
				{"b", m, 2 * m, 32 + 128, 2, false, 0},
				{"c", 2 * m, 3 * m, 512, 1, false, 0},
			},
			late: []int{64, 256},
		},
		{
			name: "tumbling without lateness: the boundary",
			w:    stream.Tumbling(m),
			evs:  []ev{{"a", 1, 0}, {"a", 2, m - 1}, {"a", 4, m}, {"a", 8, m - 1}},
			// the element at 1m moves the watermark to 1m: [0,1m) closes,
			// so the last one is late.
			want: []gotPane{{"a", 0, m, 3, 2, false, 0}, {"a", m, 2 * m, 4, 1, false, 0}},
			late: []int{8},
		},
		{
			name: "sliding: an element goes into its open windows only",
			w:    stream.Sliding(m, 30*s),
			evs:  []ev{{"a", 1, 10 * s}, {"a", 2, 45 * s}, {"a", 4, 20 * s}},
			// 0:45 closes [-30s,30s); 0:20 then goes into [0,1m) only.
			want: []gotPane{
				{"a", -30 * s, 30 * s, 1, 1, false, 0},
				{"a", 0, m, 7, 3, false, 0},
				{"a", 30 * s, 90 * s, 2, 1, false, 0},
			},
		},
		{
			name:     "session in event time",
			w:        stream.Session(10 * s),
			lateness: 5 * s,
			evs: []ev{
				{"a", 1, 100 * s}, {"a", 2, 95 * s}, // joins, extends back: [95,110)
				{"a", 4, 130 * s},  // watermark 125: closes [95,110); new [130,140)
				{"a", 8, 105 * s},  // late: its session would end at 115 <= 125
				{"a", 16, 121 * s}, // within gap of [130,140): joins, [121,140)
			},
			want: []gotPane{
				{"a", 95 * s, 110 * s, 3, 2, false, 0},
				{"a", 121 * s, 140 * s, 20, 2, false, 0},
			},
			late: []int{8},
		},
		{
			name:     "session in event time: exactly gap after the last starts a new one",
			w:        stream.Session(10 * s),
			lateness: time.Minute, // the first session is still open
			evs:      []ev{{"a", 1, 0}, {"a", 2, 10 * s}, {"a", 4, 19 * s}},
			want: []gotPane{
				{"a", 0, 10 * s, 1, 1, false, 0},
				{"a", 10 * s, 29 * s, 6, 2, false, 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu     sync.Mutex
				late   []int
				events int64
			)
			p := stream.New(context.Background())
			p.SetObserver(stream.ObserverFunc(func(e stream.Event) {
				if e.Kind == stream.ElementDropped {
					mu.Lock()
					events += e.Count
					mu.Unlock()
				}
			}))
			out := stream.WindowReduce(p, stream.FromSlice(p, tt.evs), tt.w, keyEv, 0, sumEv, stream.Name("w"),
				stream.EventTime(func(e ev) time.Time { return epoch.Add(e.at) }, tt.lateness),
				stream.OnDrop(func(e ev) { late = append(late, e.val) }))
			panes, err := stream.Collect(p, out)
			require.NoError(t, err)
			var got []gotPane
			for _, pn := range panes {
				got = append(got, gotPane{pn.Key, pn.Start.Sub(epoch), pn.End.Sub(epoch), pn.Value, pn.Count, pn.Early, 0})
			}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.late, late)
			st := statsOf(t, p, "w")
			assert.Equal(t, int64(len(tt.late)), st.Dropped)
			assert.Equal(t, int64(len(tt.late)), events)
			assert.Equal(t, int64(len(tt.evs)), st.In)
		})
	}
}

// TestWindowEventTimeQuiet: an event-time stream that goes quiet keeps its
// last window open (until the input closes); with Idle, the watermark
// advances with the clock and the window closes.
func TestWindowEventTimeQuiet(t *testing.T) {
	const m = time.Minute
	run := func(t *testing.T, opts ...stream.Option) ([]gotPane, func() error) {
		p := stream.New(context.Background())
		in := make(chan ev)
		opts = append(opts, stream.EventTime(func(e ev) time.Time { return epoch.Add(e.at) }, 5*s))
		panes := collectPanes(stream.WindowReduce(p, in, stream.Tumbling(m), keyEv, 0, sumEv, opts...))
		in <- ev{"a", 1, 10 * s} // at clock 0, event time 0:10
		time.Sleep(time.Hour)
		close(in)
		got := panes()
		return got, p.Wait
	}
	t.Run("without Idle the pane waits for the input to close", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			got, wait := run(t)
			require.NoError(t, wait())
			assert.Equal(t, []gotPane{{"a", 0, m, 1, 1, false, time.Hour}}, got)
		})
	})
	t.Run("with Idle the watermark moves with the clock", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			got, wait := run(t, stream.Idle(10*s))
			require.NoError(t, wait())
			// Quiet for 10s: the watermark is 0:10 − 5s + quiet; it
			// reaches 1:00 after 55s of quiet.
			assert.Equal(t, []gotPane{{"a", 0, m, 1, 1, false, 55 * s}}, got)
		})
	})
}

// TestWindowIdleAfterAJump: after a quiet spell the timer waits for the
// watermark to reach the next end, far away; an element that moves the
// watermark close to it must bring the next check forward.
func TestWindowIdleAfterAJump(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const h = time.Hour
		p := stream.New(context.Background())
		in := make(chan ev)
		panes := collectPanes(stream.WindowReduce(p, in, stream.Tumbling(h), keyEv, 0, sumEv,
			stream.EventTime(func(e ev) time.Time { return epoch.Add(e.at) }, 0), stream.Idle(10*s)))
		in <- ev{"a", 1, 10 * s} // clock 0
		// At clock 10s the stream is idle: the watermark follows the clock
		// from 0:00:20, and would reach 1:00:00 at clock 59m50s.
		time.Sleep(20 * s)
		in <- ev{"a", 2, 59 * time.Minute} // clock 20s: watermark 0:59:00
		// Quiet again from clock 20s: idle at 30s, the watermark reaches
		// 1:00:00 60s after the element, at clock 80s.
		time.Sleep(2 * h)
		close(in)
		require.NoError(t, p.Wait())
		assert.Equal(t, []gotPane{{"a", 0, h, 3, 2, false, 80 * s}}, panes())
	})
}

// TestWindowMaxPanes: beyond MaxPanes the pane that would close first is
// emitted early, flagged and counted; nothing is lost.
func TestWindowMaxPanes(t *testing.T) {
	const m = time.Minute
	evs := []ev{{"a", 1, 0}, {"b", 2, 1 * s}, {"c", 4, 2 * s}, {"a", 8, 3 * s}, {"a", 16, m}}
	p := stream.New(context.Background())
	out := stream.WindowReduce(p, stream.FromSlice(p, evs), stream.Tumbling(m), keyEv, 0, sumEv, stream.Name("w"), stream.MaxPanes(2),
		stream.EventTime(func(e ev) time.Time { return epoch.Add(e.at) }, 0))
	panes, err := stream.Collect(p, out)
	require.NoError(t, err)
	var got []gotPane
	for _, pn := range panes {
		got = append(got, gotPane{pn.Key, pn.Start.Sub(epoch), pn.End.Sub(epoch), pn.Value, pn.Count, pn.Early, 0})
	}
	assert.Equal(t, []gotPane{
		{"a", 0, m, 1, 1, true, 0}, // c needs a third pane: a's goes early
		{"b", 0, m, 2, 1, true, 0}, // a again needs one: b's goes
		{"c", 0, m, 4, 1, false, 0},
		{"a", 0, m, 8, 1, false, 0},
		{"a", m, 2 * m, 16, 1, false, 0},
	}, got)
	st := statsOf(t, p, "w")
	assert.Equal(t, int64(2), st.Early)
	assert.Zero(t, st.Dropped)
}

// TestWindowCancelDiscardsOpenPanes: Stop ends a window stage waiting on
// its timer and input at once; open panes are not emitted.
func TestWindowCancelDiscardsOpenPanes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(context.Background())
		in := make(chan ev, 1)
		in <- ev{"a", 1, 0}
		panes := collectPanes(stream.WindowReduce(p, in, stream.Tumbling(time.Hour), keyEv, 0, sumEv))
		require.NoError(t, waitEndsAtOnce(t, p, p.Stop))
		assert.Empty(t, panes())
	})
}

func TestWindowPanicsAtConstruction(t *testing.T) {
	p := stream.New(context.Background())
	defer p.Stop()
	in := make(chan ev)
	ts := stream.EventTime(func(e ev) time.Time { return epoch.Add(e.at) }, 0)
	for name, f := range map[string]func(){
		"zero windowing":    func() { stream.WindowReduce(p, in, stream.Windowing{}, keyEv, 0, sumEv) },
		"nil key":           func() { stream.WindowReduce[ev, string](p, in, stream.Tumbling(s), nil, 0, sumEv) },
		"nil fn":            func() { stream.WindowReduce[ev, string, int](p, in, stream.Tumbling(s), keyEv, 0, nil) },
		"Idle without time": func() { stream.WindowReduce(p, in, stream.Tumbling(s), keyEv, 0, sumEv, stream.Idle(s)) },
		"EventTime of another type": func() {
			stream.WindowReduce(p, make(chan int), stream.Tumbling(s), func(int) int { return 0 }, 0, func(a, v int) int { return a }, ts)
		},
		"Workers":          func() { stream.WindowReduce(p, in, stream.Tumbling(s), keyEv, 0, sumEv, stream.Workers(2)) },
		"EventTime on Map": func() { stream.Map(p, in, func(_ context.Context, e ev) (ev, error) { return e, nil }, ts) },
		"Tumbling(0)":      func() { stream.Tumbling(0) },
		"Sliding(1s, 2s)":  func() { stream.Sliding(s, 2*s) },
		"Sliding(1s, 0)":   func() { stream.Sliding(s, 0) },
		"Sliding(1h, 1ns)": func() { stream.Sliding(time.Hour, 1) }, // 3.6e12 windows per element
		"Session(-1)":      func() { stream.Session(-1) },
		"MaxPanes(0)":      func() { stream.MaxPanes(0) },
		"Idle(0)":          func() { stream.Idle(0) },
		"negative lateness": func() {
			stream.EventTime(func(e ev) time.Time { return epoch }, -1)
		},
		"nil ts": func() { stream.EventTime[ev](nil, 0) },
	} {
		assert.PanicsWithValue(t, panicMessage(f), f, name)
		msg, _ := panicMessage(f).(string)
		assert.Regexp(t, `^stream: `, msg, name)
	}
}

// panicMessage returns what f panics with.
func panicMessage(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

// TestWindowAlignedToZeroTime: windows start where time.Truncate puts
// them, even for sizes that do not divide a day.
func TestWindowAlignedToZeroTime(t *testing.T) {
	for _, size := range []time.Duration{7 * 24 * time.Hour, 13 * time.Second, 7 * time.Millisecond, time.Minute} {
		at := time.Date(2026, 12, 1, 10, 17, 33, 123456789, time.UTC)
		p := stream.New(context.Background())
		out := stream.WindowReduce(p, stream.FromSlice(p, []time.Time{at}), stream.Tumbling(size),
			func(time.Time) int { return 0 }, 0, func(a int, _ time.Time) int { return a + 1 },
			stream.EventTime(func(t time.Time) time.Time { return t }, 0))
		panes, err := stream.Collect(p, out)
		require.NoError(t, err)
		require.Len(t, panes, 1)
		assert.True(t, at.Truncate(size).Equal(panes[0].Start), "size %v: start %v, want %v", size, panes[0].Start, at.Truncate(size))
		assert.True(t, panes[0].End.Equal(panes[0].Start.Add(size)))
	}
}

// TestWindowBadTimestamp: a timestamp outside what the stage can hold (the
// zero time of a missing timestamp) fails the pipeline with a clear error,
// instead of landing in some pane.
func TestWindowBadTimestamp(t *testing.T) {
	for _, bad := range []time.Time{{}, time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)} {
		p := stream.New(context.Background())
		evs := []time.Time{epoch, bad, epoch}
		out := stream.WindowReduce(p, stream.FromSlice(p, evs), stream.Tumbling(time.Minute),
			func(time.Time) int { return 0 }, 0, func(n int, _ time.Time) int { return n + 1 },
			stream.EventTime(func(t time.Time) time.Time { return t }, 0), stream.Name("w"))
		_, err := stream.Collect(p, out)
		require.ErrorIs(t, err, stream.ErrTimestamp)
		var se *stream.Error
		require.ErrorAs(t, err, &se)
		assert.Equal(t, "w", se.Stage)
	}
}
