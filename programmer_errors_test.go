package stream_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
)

// TestOptionsApplyOnlyWhereDocumented gives every option to every stage
// that takes options: an option the stage's documentation does not list
// panics when the stage is built, with a "stream: " message that names the
// option; one it lists builds the stage. (Name applies
// everywhere; WithObserver too.) The package doc's "Programmer errors"
// lists this rule.
func TestOptionsApplyOnlyWhereDocumented(t *testing.T) {
	ms := time.Millisecond
	ts := func(v int) time.Time { return time.Unix(int64(v), 0) }
	options := []struct {
		name string // as the panic message names it
		opt  func() stream.Option
	}{
		{"Workers", func() stream.Option { return stream.Workers(2) }},
		{"Ordered", stream.Ordered},
		{"Capacity", func() stream.Option { return stream.Capacity(1) }},
		{"Timeout", func() stream.Option { return stream.Timeout(ms) }},
		{"Retry", func() stream.Option { return stream.Retry(stream.RetryPolicy{}) }},
		{"OnError", func() stream.Option { return stream.OnError(func(int, error) error { return nil }) }},
		{"AdaptiveWorkers", func() stream.Option { return stream.AdaptiveWorkers(1, 2, ms) }},
		{"OnDrop", func() stream.Option { return stream.OnDrop(func(int) {}) }},
		{"EventTime", func() stream.Option { return stream.EventTime(ts, 0) }},
		{"MaxPanes", func() stream.Option { return stream.MaxPanes(4) }},
		{"MaxLineLength", func() stream.Option { return stream.MaxLineLength(80) }},
		{"Name", func() stream.Option { return stream.Name("named") }},
		{"WithObserver", func() stream.Option { return stream.WithObserver(stream.ObserverFunc(func(stream.Event) {})) }},
	}
	ints := func(p *stream.Pipeline) <-chan int { return stream.FromSlice(p, seq(3)) }
	keep := func(context.Context, int) (bool, error) { return true, nil }
	sum := func(a, v int) int { return a + v }
	id := func(v int) int { return v }
	policies := []string{"Timeout", "Retry", "OnError", "AdaptiveWorkers"}
	window := []string{"EventTime", "MaxPanes"} // Idle: below, it needs EventTime
	stages := []struct {
		name  string
		takes []string // besides Name and WithObserver
		build func(p *stream.Pipeline, opts ...stream.Option)
	}{
		{"FromSlice", []string{"Capacity"}, func(p *stream.Pipeline, o ...stream.Option) { stream.FromSlice(p, seq(3), o...) }},
		{"FromSeq", []string{"Capacity"}, func(p *stream.Pipeline, o ...stream.Option) {
			stream.FromSeq(p, slices.Values(seq(3)), o...)
		}},
		{"FromSeq2", []string{"Capacity"}, func(p *stream.Pipeline, o ...stream.Option) {
			stream.FromSeq2(p, func(yield func(int, error) bool) {}, o...)
		}},
		{"Generate", []string{"Capacity"}, func(p *stream.Pipeline, o ...stream.Option) {
			stream.Generate(p, func(context.Context, func(int) error) error { return nil }, o...)
		}},
		{"Tick", []string{"Capacity"}, func(p *stream.Pipeline, o ...stream.Option) { stream.Tick(p, time.Hour, o...) }},
		{"Lines", []string{"Capacity", "MaxLineLength"}, func(p *stream.Pipeline, o ...stream.Option) {
			stream.Lines(p, strings.NewReader("a\nb\n"), o...)
		}},
		{"JSONLines", []string{"Capacity", "MaxLineLength"}, func(p *stream.Pipeline, o ...stream.Option) {
			stream.JSONLines[int](p, strings.NewReader("1\n2\n"), o...)
		}},
		{"CSVRecords", []string{"Capacity", "MaxLineLength"}, func(p *stream.Pipeline, o ...stream.Option) {
			stream.CSVRecords(p, strings.NewReader("a,b\n"), nil, o...)
		}},
		{"Map", append([]string{"Workers", "Ordered", "Capacity"}, policies...), func(p *stream.Pipeline, o ...stream.Option) {
			stream.Map(p, ints(p), double, o...)
		}},
		{"Filter", append([]string{"Workers", "Ordered", "Capacity"}, policies...), func(p *stream.Pipeline, o ...stream.Option) {
			stream.Filter(p, ints(p), keep, o...)
		}},
		{"FlatMap", append([]string{"Workers", "Ordered", "Capacity"}, policies...), func(p *stream.Pipeline, o ...stream.Option) {
			stream.FlatMap(p, ints(p), func(_ context.Context, v int, emit func(int) error) error { return emit(v) }, o...)
		}},
		{"ForEach", append([]string{"Workers"}, policies...), func(p *stream.Pipeline, o ...stream.Option) {
			stream.ForEach(p, ints(p), pitfallIgnore, o...)
		}},
		{"Split", append([]string{"Workers", "Capacity", "OnDrop"}, policies...), func(p *stream.Pipeline, o ...stream.Option) {
			stream.Split(p, ints(p), keep, o...)
		}},
		{"Flatten", []string{"Workers", "Ordered", "Capacity"}, func(p *stream.Pipeline, o ...stream.Option) {
			stream.Flatten(p, stream.FromSlice(p, [][]int{{1}}), o...)
		}},
		{"Take", []string{"Capacity"}, func(p *stream.Pipeline, o ...stream.Option) { stream.Take(p, ints(p), 1, o...) }},
		{"Batch", []string{"Capacity"}, func(p *stream.Pipeline, o ...stream.Option) { stream.Batch(p, ints(p), 2, 0, o...) }},
		{"Scan", []string{"Capacity"}, func(p *stream.Pipeline, o ...stream.Option) { stream.Scan(p, ints(p), 0, sum, o...) }},
		{"Distinct", []string{"Capacity"}, func(p *stream.Pipeline, o ...stream.Option) { stream.Distinct(p, ints(p), id, 4, o...) }},
		{"Throttle", []string{"Capacity"}, func(p *stream.Pipeline, o ...stream.Option) { stream.Throttle(p, ints(p), 1, 1, o...) }},
		{"Merge", []string{"Capacity"}, func(p *stream.Pipeline, o ...stream.Option) {
			stream.Merge(p, []<-chan int{ints(p), ints(p)}, o...)
		}},
		{"Zip", []string{"Capacity"}, func(p *stream.Pipeline, o ...stream.Option) { stream.Zip(p, ints(p), ints(p), o...) }},
		{"Broadcast", []string{"Capacity"}, func(p *stream.Pipeline, o ...stream.Option) { stream.Broadcast(p, ints(p), 2, o...) }},
		{"FanOut", []string{"Capacity", "OnDrop"}, func(p *stream.Pipeline, o ...stream.Option) { stream.FanOut(p, ints(p), 2, o...) }},
		{"Partition", []string{"Capacity", "OnDrop"}, func(p *stream.Pipeline, o ...stream.Option) {
			stream.Partition(p, ints(p), 2, id, o...)
		}},
		{"Buffer", []string{"OnDrop"}, func(p *stream.Pipeline, o ...stream.Option) {
			stream.Buffer(p, ints(p), 4, stream.DropOldest, o...)
		}},
		{"WindowReduce", append([]string{"Capacity", "OnDrop"}, window...), func(p *stream.Pipeline, o ...stream.Option) {
			stream.WindowReduce(p, ints(p), stream.Tumbling(time.Second), id, 0, sum, o...)
		}},
	}
	for _, st := range stages {
		for _, o := range options {
			applies := slices.Contains(st.takes, o.name) || o.name == "Name" || o.name == "WithObserver"
			t.Run(st.name+"/"+o.name, func(t *testing.T) {
				p := stream.New(context.Background())
				defer func() {
					p.Stop()
					require.NoError(t, p.Wait())
				}()
				r := catchPanic(func() { st.build(p, o.opt()) })
				if applies {
					require.Nil(t, r, "%s takes %s", st.name, o.name)
					return
				}
				require.NotNil(t, r, "%s does not take %s: want a panic", st.name, o.name)
				msg := fmt.Sprint(r)
				assert.True(t, strings.HasPrefix(msg, "stream: "), "panic %q does not start with \"stream: \"", msg)
				assert.Contains(t, msg, o.name, "the panic names the option")
				assert.Contains(t, msg, "does not apply")
			})
		}
	}
}

// TestProgrammerErrorsOfThePackageDoc: one case per kind of misuse the
// package doc's "Programmer errors" lists that no other test covers as
// such; each panics when the stage or option is created, with a
// "stream: " message saying what is wrong.
func TestProgrammerErrorsOfThePackageDoc(t *testing.T) {
	ts := func(v int) time.Time { return time.Unix(int64(v), 0) }
	sum := func(a, v int) int { return a + v }
	id := func(v int) int { return v }
	cases := []struct {
		give string
		want string // in the message
		call func(p *stream.Pipeline)
	}{
		{"AdaptiveWorkers with Ordered", "AdaptiveWorkers and Ordered do not go together", func(p *stream.Pipeline) {
			stream.Map(p, stream.FromSlice(p, seq(3)), double, stream.AdaptiveWorkers(1, 2, time.Second), stream.Ordered())
		}},
		{"Ordered with AdaptiveWorkers", "AdaptiveWorkers and Ordered do not go together", func(p *stream.Pipeline) {
			stream.Filter(p, stream.FromSlice(p, seq(3)), func(context.Context, int) (bool, error) { return true, nil },
				stream.Ordered(), stream.AdaptiveWorkers(1, 2, time.Second))
		}},
		{"Idle without EventTime", "Idle applies only with EventTime", func(p *stream.Pipeline) {
			stream.WindowReduce(p, stream.FromSlice(p, seq(3)), stream.Tumbling(time.Second), id, 0, sum, stream.Idle(time.Second))
		}},
		{"Idle on another stage", "does not apply", func(p *stream.Pipeline) {
			stream.Map(p, stream.FromSlice(p, seq(3)), double, stream.Idle(time.Second))
		}},
		{"OnError for another element type", "OnError takes func(int, error) error", func(p *stream.Pipeline) {
			stream.ForEach(p, stream.FromSlice(p, seq(3)), pitfallIgnore, stream.OnError(func(string, error) error { return nil }))
		}},
		{"OnDrop for another element type", "OnDrop takes func(int)", func(p *stream.Pipeline) {
			stream.FanOut(p, stream.FromSlice(p, seq(3)), 2, stream.OnDrop(func(string) {}))
		}},
		{"EventTime for another element type", "EventTime takes", func(p *stream.Pipeline) {
			stream.WindowReduce(p, stream.FromSlice(p, seq(3)), stream.Tumbling(time.Second), id, 0, sum,
				stream.EventTime(func(string) time.Time { return time.Time{} }, 0))
		}},
		{"EventTime of the right type", "", func(p *stream.Pipeline) {
			stream.WindowReduce(p, stream.FromSlice(p, seq(3)), stream.Tumbling(time.Second), id, 0, sum,
				stream.EventTime(ts, 0), stream.Idle(time.Second))
		}},
		{"a name already taken", `already named "twice"`, func(p *stream.Pipeline) {
			in := stream.FromSlice(p, seq(3), stream.Name("twice"))
			stream.Map(p, in, double, stream.Name("twice"))
		}},
		{"a caller's channel consumed twice", "already consumed", func(p *stream.Pipeline) {
			in := make(chan int)
			close(in)
			stream.ForEach(p, in, pitfallIgnore)
			stream.ForEach(p, in, pitfallIgnore)
		}},
		{"a stage's channel consumed twice", "already consumed", func(p *stream.Pipeline) {
			in := stream.FromSlice(p, seq(3))
			stream.ForEach(p, in, pitfallIgnore)
			stream.Map(p, in, double)
		}},
		{"Zip of one channel with itself", "twice", func(p *stream.Pipeline) {
			in := stream.FromSlice(p, seq(3))
			stream.Zip(p, in, in)
		}},
		{"Workers too large", "too large", func(*stream.Pipeline) { stream.Workers(1<<16 + 1) }},
		{"AdaptiveWorkers' max too large", "too large", func(*stream.Pipeline) { stream.AdaptiveWorkers(1, 1<<16+1, time.Second) }},
		{"FanOut to too many outputs", "too large", func(p *stream.Pipeline) { stream.FanOut(p, stream.FromSlice(p, seq(3)), 1<<16+1) }},
		{"a capacity too large", "too large", func(p *stream.Pipeline) {
			stream.Map(p, stream.FromSlice(p, seq(3)), double, stream.Capacity(1<<30+1))
		}},
	}
	for _, c := range cases {
		t.Run(c.give, func(t *testing.T) {
			p := stream.New(context.Background())
			defer func() {
				p.Stop()
				_ = p.Wait()
			}()
			r := catchPanic(func() { c.call(p) })
			if c.want == "" {
				require.Nil(t, r)
				return
			}
			require.NotNil(t, r, "want a panic")
			msg := fmt.Sprint(r)
			assert.True(t, strings.HasPrefix(msg, "stream: "), "panic %q does not start with \"stream: \"", msg)
			assert.Contains(t, msg, c.want)
		})
	}
}
