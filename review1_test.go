package stream

import (
	"context"
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// Zip's output closes as soon as either input closes, even while Zip waits
// for the other one (it used to wait for a's next element first: with a
// quiet a and an empty b, the pipeline hung).
func TestReviewZipOtherClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := New(context.Background())
		a := Generate(p, func(ctx context.Context, emit func(int) error) error {
			<-ctx.Done() // a quiet input: never sends, ends when released
			return nil
		})
		b := FromSlice(p, []int{})
		z := Zip(p, a, b, Name("zip"))
		got, err := Collect(p, z)
		if err != nil || len(got) != 0 {
			t.Fatalf("got %v, %v; want no pair, no error", got, err)
		}
		for _, st := range p.Stats() {
			if st.Name == "zip" && (st.In != 0 || st.Dropped != 0) {
				t.Errorf("zip: In %d Dropped %d, want 0 and 0", st.In, st.Dropped)
			}
		}
	})
}

// An element near either end of the timestamp range, with windows as long
// as an int64 allows, must land in its windows (they used to wrap and lose it).
func TestReviewWindowExtremeTimestamps(t *testing.T) {
	big := time.Duration(math.MaxInt64)
	for _, w := range []struct {
		name string
		win  Windowing
		n    int
	}{{"tumbling", Tumbling(big), 1}, {"sliding", Sliding(big, big/3), 3}, {"hour", Tumbling(time.Hour), 1}} {
		for _, ts0 := range []time.Time{time.Unix(minUnixSec, 0).UTC(), time.Unix(maxUnixSec, 999999999).UTC(), time.Unix(0, 0).UTC()} {
			p := New(context.Background())
			in := FromSlice(p, []time.Time{ts0})
			out := WindowReduce(p, in, w.win, func(time.Time) int { return 0 }, 0,
				func(a int, _ time.Time) int { return a + 1 }, EventTime(func(t time.Time) time.Time { return t }, 0))
			got, err := Collect(p, out)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) < w.n || len(got) > w.n+1 {
				t.Errorf("%s %v: got %d panes, want about %d", w.name, ts0, len(got), w.n)
			}
			for _, pn := range got {
				if pn.Count != 1 || ts0.Before(pn.Start) || !ts0.Before(pn.End) && pn.End.UnixNano() != math.MaxInt64 {
					t.Errorf("%s: element %v not in its window [%v, %v) count %d", w.name, ts0, pn.Start, pn.End, pn.Count)
				}
			}
		}
	}
}

func TestReviewGoexit(t *testing.T) {
	cases := map[string]func(p *Pipeline, in <-chan int, bad func()) func() error{
		"scan": func(p *Pipeline, in <-chan int, bad func()) func() error {
			o := Scan(p, in, 0, func(a, v int) int { bad(); return a })
			return func() error { return Drain(p, o) }
		},
		"distinct": func(p *Pipeline, in <-chan int, bad func()) func() error {
			o := Distinct(p, in, func(v int) int { bad(); return v }, 3)
			return func() error { return Drain(p, o) }
		},
		"split": func(p *Pipeline, in <-chan int, bad func()) func() error {
			y, n := Split(p, in, func(_ context.Context, v int) (bool, error) { bad(); return true, nil })
			return func() error { Drain(p, Merge(p, []<-chan int{y, n})); return p.Wait() }
		},
		"windowkey": func(p *Pipeline, in <-chan int, bad func()) func() error {
			o := WindowReduce(p, in, Tumbling(time.Second), func(v int) int { bad(); return v }, 0, func(a, v int) int { return a })
			return func() error { return Drain(p, o) }
		},
		"windowfn": func(p *Pipeline, in <-chan int, bad func()) func() error {
			o := WindowReduce(p, in, Session(time.Second), func(v int) int { return v }, 0, func(a, v int) int { bad(); return a })
			return func() error { return Drain(p, o) }
		},
		"windowts": func(p *Pipeline, in <-chan int, bad func()) func() error {
			o := WindowReduce(p, in, Sliding(time.Second, time.Millisecond), func(v int) int { return v }, 0, func(a, v int) int { return a },
				EventTime(func(int) time.Time { bad(); return time.Now() }, 0), Idle(time.Second))
			return func() error { return Drain(p, o) }
		},
		"any": func(p *Pipeline, in <-chan int, bad func()) func() error {
			return func() error { _, err := Any(p, in, func(int) bool { bad(); return false }); return err }
		},
		"all": func(p *Pipeline, in <-chan int, bad func()) func() error {
			return func() error { _, err := All(p, in, func(int) bool { bad(); return true }); return err }
		},
		"values": func(p *Pipeline, in <-chan int, bad func()) func() error {
			return func() error {
				done := make(chan struct{})
				go func() {
					defer close(done)
					defer func() { recover() }()
					for range Values(p, in) {
						bad()
					}
				}()
				<-done
				return p.Wait()
			}
		},
	}
	bads := map[string]func(){"panic": func() { panic("boom") }, "goexit": runtime.Goexit}
	for name, c := range cases {
		for bn, bad := range bads {
			t.Run(name+"/"+bn, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p := New(context.Background())
					in := FromSlice(p, []int{1, 2, 3, 4, 5})
					run := c(p, in, bad)
					err := run()
					if err == nil && !(name == "values") {
						t.Errorf("no error")
					}
					t.Log(err)
				})
			})
		}
	}
}

// With Idle, the watermark after a quiet spell is (latest − lateness) +
// (time since the latest element arrived), whether or not panes were open
// during the spell: an element arriving after it, behind that watermark, is
// late. (It was accepted when no pane had been open to keep the timer
// going, so lateness depended on other keys' panes.)
func TestReviewIdleWatermarkWithoutOpenPanes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := New(context.Background())
		start := time.Now()
		in := Generate(p, func(ctx context.Context, emit func(time.Time) error) error {
			if err := emit(start); err != nil { // pane [0, 1s), closed by Idle at 1s
				return err
			}
			time.Sleep(10 * time.Second) // watermark: 0 + 10s
			return emit(start.Add(5 * time.Second))
		})
		out := WindowReduce(p, in, Tumbling(time.Second), func(time.Time) int { return 0 }, 0,
			func(a int, _ time.Time) int { return a + 1 },
			EventTime(func(t time.Time) time.Time { return t }, 0), Idle(time.Second), Name("w"))
		got, err := Collect(p, out)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !got[0].Start.Equal(start) {
			t.Errorf("got %v, want only the pane of the first element", got)
		}
		for _, st := range p.Stats() {
			if st.Name == "w" && st.Dropped != 1 {
				t.Errorf("Dropped %d, want 1 (the late element)", st.Dropped)
			}
		}
	})
}

// The timestamp range EventTime accepts is exactly as ErrTimestamp's doc
// says: its first and last second pass, the seconds just outside fail.
func TestReviewTimestampRange(t *testing.T) {
	run := func(ts time.Time) error {
		p := New(context.Background())
		out := WindowReduce(p, FromSlice(p, []time.Time{ts}), Tumbling(time.Second), func(time.Time) int { return 0 }, 0,
			func(a int, _ time.Time) int { return a + 1 }, EventTime(func(t time.Time) time.Time { return t }, 0))
		_, err := Collect(p, out)
		return err
	}
	first := time.Date(1677, 9, 21, 0, 12, 45, 0, time.UTC)
	last := time.Date(2262, 4, 11, 23, 47, 15, 999999999, time.UTC)
	for _, ok := range []time.Time{first, last} {
		if err := run(ok); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
	for _, bad := range []time.Time{first.Add(-time.Nanosecond), last.Add(time.Nanosecond), {}} {
		if err := run(bad); !errors.Is(err, ErrTimestamp) {
			t.Errorf("%v: got %v, want ErrTimestamp", bad, err)
		}
	}
}

// A Values loop whose body panics releases in but does not wait for the
// pipeline (as its doc says): another branch still running does not keep
// the panic from reaching the caller.
func TestReviewValuesPanicDoesNotWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := New(context.Background())
		hold := make(chan struct{})
		p.Go("other", func(context.Context) error { <-hold; return nil })
		in := FromSlice(p, []int{1, 2, 3})
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			for range Values(p, in) {
				panic("body")
			}
		}()
		close(hold)
		if err := p.Wait(); err != nil {
			t.Error(err)
		}
	})
}

// A key not equal to itself (a float NaN, or a struct holding one) can
// never be found in a map, nor deleted from it: Distinct and WindowReduce
// must not store it, or their maps grow without bound.
func TestReviewNaNKeysBounded(t *testing.T) {
	l := newLRU[float64](4)
	for range 1000 {
		if l.saw(math.NaN()) {
			t.Fatal("a NaN key was seen before")
		}
	}
	if len(l.index) > 4 {
		t.Errorf("Distinct's memory holds %d keys, want at most 4", len(l.index))
	}
	for _, w := range []Windowing{Tumbling(time.Second), Session(time.Second)} {
		ws := &windows[int, float64, int]{win: w, key: func(int) float64 { return math.NaN() }, fn: func(a, _ int) int { return a + 1 },
			max: 2000, w: &worker{s: &stage{}, c: &counters{}},
			byWin: map[winKey[float64]]*pane[float64, int]{}, byKey: map[float64]*pane[float64, int]{}}
		for i := range 1000 {
			if _, err := ws.add(i, int64(i), math.MinInt64); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(ws.byWin) + len(ws.byKey); n > 0 {
			t.Errorf("WindowReduce's maps hold %d NaN-keyed panes, want none (they can never be found or deleted)", n)
		}
	}
}

// Lines strips a "\r" that ends the input, as its doc says.
func TestReviewLinesFinalCR(t *testing.T) {
	p := New(context.Background())
	got, err := Collect(p, Lines(p, strings.NewReader("a\r\nb\r")))
	if err != nil || len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("got %q, %v", got, err)
	}
}
