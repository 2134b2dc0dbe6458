package stream_test

import (
	"context"
	"fmt"
	"time"

	"github.com/pipewright/stream"
)

// Examples of the stream-processing operators: windows, Scan, Distinct,
// Split, Zip and the sinks Count, Any, All, Values.

// click is a page view with its own timestamp.
type click struct {
	page string
	at   time.Time
}

// at10 returns 10:00 UTC plus d, on a fixed day.
func at10(d time.Duration) time.Time {
	return time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC).Add(d)
}

func ExampleWindowReduce() {
	clicks := []click{
		{"/home", at10(5 * time.Second)},
		{"/docs", at10(20 * time.Second)},
		{"/home", at10(50 * time.Second)},
		{"/home", at10(70 * time.Second)},
		{"/docs", at10(40 * time.Second)}, // 30s late, within the 45s allowed
		{"/home", at10(130 * time.Second)},
		{"/docs", at10(55 * time.Second)}, // too late: 10:01 has closed
	}
	p := stream.New(context.Background())
	views := stream.WindowReduce(p, stream.FromSlice(p, clicks), stream.Tumbling(time.Minute),
		func(c click) string { return c.page },
		0, func(n int, _ click) int { return n + 1 },
		stream.EventTime(func(c click) time.Time { return c.at }, 45*time.Second),
		stream.Name("views"))
	panes, err := stream.Collect(p, views)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, pn := range panes {
		fmt.Printf("%s-%s %-5s %d\n", pn.Start.Format("15:04"), pn.End.Format("15:04"), pn.Key, pn.Value)
	}
	for _, st := range p.Stats() {
		if st.Name == "views" {
			fmt.Println("late:", st.Dropped)
		}
	}
	// Output:
	// 10:00-10:01 /home 2
	// 10:00-10:01 /docs 2
	// 10:01-10:02 /home 1
	// 10:02-10:03 /home 1
	// late: 1
}

func ExampleTumbling() {
	w := stream.Tumbling(time.Minute) // 10:00-10:01, 10:01-10:02, …
	p := stream.New(context.Background())
	times := []time.Time{at10(0), at10(59 * time.Second), at10(60 * time.Second)}
	out := stream.WindowReduce(p, stream.FromSlice(p, times), w,
		func(time.Time) string { return "all" }, 0, func(n int, _ time.Time) int { return n + 1 },
		stream.EventTime(func(t time.Time) time.Time { return t }, 0))
	panes, _ := stream.Collect(p, out)
	for _, pn := range panes {
		fmt.Println(pn.Start.Format("15:04:05"), pn.End.Format("15:04:05"), pn.Count)
	}
	// Output:
	// 10:00:00 10:01:00 2
	// 10:01:00 10:02:00 1
}

func ExampleSliding() {
	// Windows of a minute, one starting every 30s: each element is in two.
	w := stream.Sliding(time.Minute, 30*time.Second)
	p := stream.New(context.Background())
	times := []time.Time{at10(40 * time.Second)}
	out := stream.WindowReduce(p, stream.FromSlice(p, times), w,
		func(time.Time) string { return "all" }, 0, func(n int, _ time.Time) int { return n + 1 },
		stream.EventTime(func(t time.Time) time.Time { return t }, 0))
	panes, _ := stream.Collect(p, out)
	for _, pn := range panes {
		fmt.Println(pn.Start.Format("15:04:05"), pn.End.Format("15:04:05"), pn.Count)
	}
	// Output:
	// 10:00:00 10:01:00 1
	// 10:00:30 10:01:30 1
}

func ExampleSession() {
	type visit struct {
		user string
		at   time.Time
	}
	visits := []visit{
		{"ann", at10(0)}, {"bob", at10(time.Minute)}, {"ann", at10(4 * time.Minute)},
		{"ann", at10(20 * time.Minute)}, // more than 10 minutes later: a new session
	}
	p := stream.New(context.Background())
	sessions := stream.WindowReduce(p, stream.FromSlice(p, visits), stream.Session(10*time.Minute),
		func(v visit) string { return v.user }, 0, func(n int, _ visit) int { return n + 1 },
		stream.EventTime(func(v visit) time.Time { return v.at }, 0))
	panes, _ := stream.Collect(p, sessions)
	for _, pn := range panes {
		// A session ends gap after its last element.
		fmt.Printf("%s %s-%s %d visits\n", pn.Key, pn.Start.Format("15:04"), pn.End.Format("15:04"), pn.Value)
	}
	// Output:
	// bob 10:01-10:11 1 visits
	// ann 10:00-10:14 2 visits
	// ann 10:20-10:30 1 visits
}

func ExampleEventTime() {
	// Readings with their own times, out of order by up to 10s.
	type reading struct {
		at time.Time
		v  float64
	}
	rs := []reading{{at10(50 * time.Second), 1}, {at10(62 * time.Second), 2}, {at10(55 * time.Second), 3}, {at10(75 * time.Second), 4}, {at10(58 * time.Second), 5}}
	p := stream.New(context.Background())
	out := stream.WindowReduce(p, stream.FromSlice(p, rs), stream.Tumbling(time.Minute),
		func(reading) int { return 0 }, 0.0, func(sum float64, r reading) float64 { return sum + r.v },
		stream.EventTime(func(r reading) time.Time { return r.at }, 10*time.Second),
		stream.OnDrop(func(r reading) { fmt.Println("late:", r.at.Format("15:04:05")) }))
	panes, _ := stream.Collect(p, out)
	for _, pn := range panes {
		fmt.Println(pn.Start.Format("15:04"), pn.Value)
	}
	// Output:
	// late: 10:00:58
	// 10:00 4
	// 10:01 6
}

func ExampleIdle() {
	// A feed that goes quiet: with Idle, its last window closes after
	// 50ms of quiet plus what is left of the window in event time (at most
	// 10ms here), instead of when the feed closes.
	p := stream.New(context.Background())
	feed := make(chan time.Time, 1)
	feed <- time.Now()
	out := stream.WindowReduce(p, feed, stream.Tumbling(10*time.Millisecond),
		func(time.Time) int { return 0 }, 0, func(n int, _ time.Time) int { return n + 1 },
		stream.EventTime(func(t time.Time) time.Time { return t }, 0),
		stream.Idle(50*time.Millisecond))
	pn := <-out // while feed is still open
	fmt.Println(pn.Count, pn.End.Sub(pn.Start))
	close(feed)
	fmt.Println(p.Wait())
	// Output:
	// 1 10ms
	// <nil>
}

func ExampleMaxPanes() {
	// At most two open panes: a third key makes the oldest pane go early.
	p := stream.New(context.Background())
	keys := []string{"a", "b", "c"}
	out := stream.WindowReduce(p, stream.FromSlice(p, keys), stream.Tumbling(time.Hour),
		func(k string) string { return k }, 0, func(n int, _ string) int { return n + 1 },
		stream.MaxPanes(2), stream.Name("w"))
	panes, _ := stream.Collect(p, out)
	for _, pn := range panes {
		fmt.Println(pn.Key, pn.Early)
	}
	fmt.Println("early:", p.Stats()[1].Early)
	// Output:
	// a true
	// b false
	// c false
	// early: 1
}

func ExampleScan() {
	p := stream.New(context.Background())
	totals := stream.Scan(p, stream.FromSlice(p, []int{3, 1, 4, 1, 5}), 0, func(sum, v int) int { return sum + v })
	got, err := stream.Collect(p, totals)
	fmt.Println(got, err)
	// Output: [3 4 8 9 14] <nil>
}

func ExampleDistinct() {
	p := stream.New(context.Background())
	words := stream.FromSlice(p, []string{"to", "be", "or", "not", "to", "be"})
	got, err := stream.Collect(p, stream.Distinct(p, words, func(w string) string { return w }, 100))
	fmt.Println(got, err)
	// Output: [to be or not] <nil>
}

func ExampleSplit() {
	p := stream.New(context.Background())
	small, big := stream.Split(p, stream.FromSlice(p, []int{5, 50, 7, 70}),
		func(_ context.Context, v int) (bool, error) { return v < 10, nil })
	// Both outputs must be read: here one by a stage, one by Collect.
	var bigs []int
	stream.ForEach(p, big, func(_ context.Context, v int) error {
		bigs = append(bigs, v)
		return nil
	})
	smalls, err := stream.Collect(p, small)
	fmt.Println(smalls, bigs, err)
	// Output: [5 7] [50 70] <nil>
}

func ExampleZip() {
	p := stream.New(context.Background())
	names := stream.FromSlice(p, []string{"ann", "bob", "cid"})
	ages := stream.FromSlice(p, []int{31, 42})
	pairs, err := stream.Collect(p, stream.Zip(p, names, ages))
	fmt.Println(pairs, err)
	// Output: [{ann 31} {bob 42}] <nil>
}

func ExampleCount() {
	p := stream.New(context.Background())
	evens := stream.Filter(p, stream.FromSlice(p, []int{1, 2, 3, 4, 5, 6}),
		func(_ context.Context, v int) (bool, error) { return v%2 == 0, nil })
	n, err := stream.Count(p, evens)
	fmt.Println(n, err)
	// Output: 3 <nil>
}

func ExampleAny() {
	p := stream.New(context.Background())
	// Any stops the (infinite) source at the first match.
	naturals := stream.Generate(p, func(_ context.Context, emit func(int) error) error {
		for i := 0; ; i++ {
			if err := emit(i); err != nil {
				return err
			}
		}
	})
	found, err := stream.Any(p, naturals, func(v int) bool { return v*v > 1000 })
	fmt.Println(found, err)
	// Output: true <nil>
}

func ExampleAll() {
	p := stream.New(context.Background())
	ok, err := stream.All(p, stream.FromSlice(p, []string{"a.go", "b.go", "c.txt"}),
		func(name string) bool { return len(name) > 3 && name[len(name)-3:] == ".go" })
	fmt.Println(ok, err)
	// Output: false <nil>
}

func ExampleValues() {
	p := stream.New(context.Background())
	squares := stream.Map(p, stream.FromSlice(p, []int{1, 2, 3, 4, 5}),
		func(_ context.Context, v int) (int, error) { return v * v, nil })
	for v, err := range stream.Values(p, squares) {
		if err != nil {
			fmt.Println(err)
			return
		}
		if v > 10 {
			break // releases squares: the pipeline stops
		}
		fmt.Println(v)
	}
	fmt.Println(p.Wait())
	// Output:
	// 1
	// 4
	// 9
	// <nil>
}

func ExampleDebounce() {
	// A search box: only the query typed last, once typing pauses (here:
	// when the input closes, before a whole minute of quiet) is searched.
	p := stream.New(context.Background())
	typed := make(chan string)
	queries := stream.Debounce(p, typed, time.Minute)
	go func() {
		for _, q := range []string{"g", "go", "gol", "gola", "golang"} {
			typed <- q
		}
		close(typed)
	}()
	got, err := stream.Collect(p, queries)
	fmt.Println(got, err)
	// Output: [golang] <nil>
}

// A collecting, unkeyed window is WindowReduce with one key and a fold that
// appends: its memory is what the fold keeps, so bound it. Here each
// minute keeps its first two log lines and counts the rest.
func ExampleWindowReduce_collect() {
	type line struct {
		at  time.Time
		msg string
	}
	lines := []line{
		{at10(1 * time.Second), "start"}, {at10(2 * time.Second), "load"}, {at10(3 * time.Second), "ready"},
		{at10(61 * time.Second), "request"},
	}
	const keep = 2
	p := stream.New(context.Background())
	out := stream.WindowReduce(p, stream.FromSlice(p, lines), stream.Tumbling(time.Minute),
		func(line) struct{} { return struct{}{} }, // one key: unkeyed
		[]string(nil), func(first []string, l line) []string {
			if len(first) < keep {
				first = append(first, l.msg) // a new slice per pane: init is nil
			}
			return first
		},
		stream.EventTime(func(l line) time.Time { return l.at }, 0))
	panes, _ := stream.Collect(p, out)
	for _, pn := range panes {
		fmt.Println(pn.Start.Format("15:04"), pn.Value, "of", pn.Count)
	}
	// Output:
	// 10:00 [start load] of 3
	// 10:01 [request] of 1
}
