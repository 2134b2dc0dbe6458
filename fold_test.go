package stream_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
)

// Tests of Scan, Distinct, Split, Zip and the sinks Count, Any, All, Values.

func TestScan(t *testing.T) {
	p := stream.New(context.Background())
	sums := stream.Scan(p, stream.FromSlice(p, []int{1, 2, 3, 4}), 10, func(acc, v int) int { return acc + v }, stream.Name("sum"))
	got, err := stream.Collect(p, sums)
	require.NoError(t, err)
	assert.Equal(t, []int{11, 13, 16, 20}, got)
	st := statsOf(t, p, "sum")
	assert.Equal(t, stream.StageStats{Name: "sum", Kind: "scan", In: 4, Out: 4}, trimStats(st))

	p = stream.New(context.Background())
	got, err = stream.Collect(p, stream.Scan(p, stream.FromSlice(p, []int(nil)), 0, func(acc, v int) int { return acc + v }))
	require.NoError(t, err)
	assert.Empty(t, got)
}

// trimStats keeps the counters a test compares exactly.
func trimStats(s stream.StageStats) stream.StageStats {
	return stream.StageStats{Name: s.Name, Kind: s.Kind, In: s.In, Out: s.Out, Errors: s.Errors,
		Skipped: s.Skipped, Dropped: s.Dropped, Retried: s.Retried, Panics: s.Panics, Early: s.Early}
}

func TestScanPanicFailsPipeline(t *testing.T) {
	p := stream.New(context.Background())
	out := stream.Scan(p, stream.FromSlice(p, seq(100)), 0, func(acc, v int) int {
		if v == 3 {
			panic("boom")
		}
		return acc + v
	})
	_, err := stream.Collect(p, out)
	var pe *stream.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "boom", pe.Value)
}

func TestDistinct(t *testing.T) {
	tests := []struct {
		name   string
		in     []int
		memory int
		want   []int
	}{
		{"all remembered", []int{1, 2, 1, 3, 2, 4, 1}, 10, []int{1, 2, 3, 4}},
		{"memory 1 removes runs", []int{1, 1, 2, 2, 1, 1, 3}, 1, []int{1, 2, 1, 3}},
		// memory 2: after 1,2,3 the least recently seen key, 1, is forgotten.
		{"least recent forgotten", []int{1, 2, 3, 1, 3, 2}, 2, []int{1, 2, 3, 1, 2}},
		// a repeat refreshes: 1 seen again stays, 2 is forgotten instead.
		{"repeat refreshes", []int{1, 2, 1, 3, 1, 2}, 2, []int{1, 2, 3, 2}},
		{"empty", nil, 3, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := stream.New(context.Background())
			got, err := stream.Collect(p, stream.Distinct(p, stream.FromSlice(p, tt.in), func(v int) int { return v }, tt.memory, stream.Name("d")))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			st := statsOf(t, p, "d")
			assert.Equal(t, int64(len(tt.in)), st.In)
			assert.Equal(t, int64(len(tt.want)), st.Out)
			assert.Zero(t, st.Dropped)
		})
	}
}

// TestDistinctMatchesModel checks Distinct's LRU against a slice model on
// random input, for several memory sizes.
func TestDistinctMatchesModel(t *testing.T) {
	for memory := 1; memory <= 9; memory++ {
		in := make([]int, 2000)
		for i := range in {
			in[i] = (i*7919 + i*i*31) % 13
		}
		p := stream.New(context.Background())
		got, err := stream.Collect(p, stream.Distinct(p, stream.FromSlice(p, in), func(v int) int { return v }, memory))
		require.NoError(t, err)
		assert.Equal(t, distinctModel(in, memory), got, "memory %d", memory)
	}
}

func distinctModel(in []int, memory int) []int {
	var recent, out []int // recent: most recent first
	for _, v := range in {
		i := indexOf(recent, v)
		if i >= 0 {
			recent = append(recent[:i], recent[i+1:]...)
		} else {
			out = append(out, v)
		}
		recent = append([]int{v}, recent...)
		if len(recent) > memory {
			recent = recent[:memory]
		}
	}
	return out
}

func indexOf(s []int, v int) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func TestSplit(t *testing.T) {
	p := stream.New(context.Background())
	even, odd := stream.Split(p, stream.FromSlice(p, seq(10)), func(_ context.Context, v int) (bool, error) { return v%2 == 0, nil }, stream.Name("split"))
	odds := make(chan []int, 1)
	go func() {
		var got []int
		for v := range odd {
			got = append(got, v)
		}
		odds <- got
	}()
	evens, err := stream.Collect(p, even)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 2, 4, 6, 8}, evens)
	assert.Equal(t, []int{1, 3, 5, 7, 9}, <-odds)
	assert.Equal(t, stream.StageStats{Name: "split", Kind: "split", In: 10, Out: 10}, trimStats(statsOf(t, p, "split")))
}

func TestSplitError(t *testing.T) {
	errBad := errors.New("bad")
	p := stream.New(context.Background())
	yes, no := stream.Split(p, stream.FromSlice(p, seq(10)), func(_ context.Context, v int) (bool, error) {
		if v == 5 {
			return false, errBad
		}
		return true, nil
	}, stream.Name("split"))
	stream.ForEach(p, no, func(context.Context, int) error { return nil })
	_, err := stream.Collect(p, yes)
	require.ErrorIs(t, err, errBad)
	var se *stream.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "split", se.Stage)
}

// TestSplitOnErrorSkips: OnError applies to Split's predicate.
func TestSplitOnErrorSkips(t *testing.T) {
	p := stream.New(context.Background())
	yes, no := stream.Split(p, stream.FromSlice(p, seq(6)), func(_ context.Context, v int) (bool, error) {
		if v == 3 {
			return false, errors.New("bad")
		}
		return v < 3, nil
	}, stream.Name("split"), stream.OnError(func(int, error) error { return nil }))
	stream.ForEach(p, no, func(context.Context, int) error { return nil })
	got, err := stream.Collect(p, yes)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 1, 2}, got)
	st := statsOf(t, p, "split")
	assert.Equal(t, int64(1), st.Skipped)
	assert.Equal(t, int64(5), st.Out)
}

// TestSplitReleasedBranch: when one output is released, what goes there
// is dropped and counted, and the other output gets all its elements.
func TestSplitReleasedBranch(t *testing.T) {
	var drops []int
	p := stream.New(context.Background())
	yes, no := stream.Split(p, stream.FromSlice(p, seq(1000)), func(_ context.Context, v int) (bool, error) { return v%2 == 0, nil },
		stream.Name("split"), stream.Capacity(0), stream.OnDrop(func(v int) { drops = append(drops, v) }))
	first := stream.Take(p, no, 1)
	var firstNo []int
	p.Go("first", func(context.Context) error {
		for v := range first {
			firstNo = append(firstNo, v)
		}
		return nil
	})
	evens, err := stream.Collect(p, yes)
	require.NoError(t, err)
	assert.Len(t, evens, 500)
	assert.Equal(t, []int{1}, firstNo)
	st := statsOf(t, p, "split")
	assert.Equal(t, int64(len(drops)), st.Dropped)
	assert.Equal(t, int64(1000), st.In)
	assert.Equal(t, int64(501), st.Out)
	assert.Equal(t, st.In, st.Out+st.Dropped)
}

func TestZip(t *testing.T) {
	p := stream.New(context.Background())
	pairs := stream.Zip(p, stream.FromSlice(p, []int{1, 2, 3}), stream.FromSlice(p, []string{"a", "b", "c", "d", "e"}), stream.Name("zip"))
	got, err := stream.Collect(p, pairs)
	require.NoError(t, err)
	assert.Equal(t, []stream.Pair[int, string]{{1, "a"}, {2, "b"}, {3, "c"}}, got)
	st := statsOf(t, p, "zip")
	assert.Equal(t, int64(3), st.Out)
	// a closes first: an element of b received before Zip saw the close
	// (if any) is dropped and counted.
	assert.LessOrEqual(t, st.Dropped, int64(1))
	assert.Equal(t, 2*st.Out+st.Dropped, st.In, "every element received is paired or dropped")

	// b closes first: an element of a received before Zip saw b close (if
	// any: Zip watches both inputs) is dropped and counted.
	p = stream.New(context.Background())
	pairs = stream.Zip(p, stream.FromSlice(p, []int{1, 2, 3}), stream.FromSlice(p, []string{"a"}), stream.Name("zip"))
	got, err = stream.Collect(p, pairs)
	require.NoError(t, err)
	assert.Equal(t, []stream.Pair[int, string]{{1, "a"}}, got)
	st = statsOf(t, p, "zip")
	assert.LessOrEqual(t, st.Dropped, int64(1))
	assert.Equal(t, 2*st.Out+st.Dropped, st.In, "every element received is paired or dropped")
}

// TestZipStopsInfiniteInput: when one input ends, Zip releases the other,
// and an infinite source behind it stops.
func TestZipStopsInfiniteInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stopped := make(chan struct{})
		p := stream.New(context.Background())
		pairs := stream.Zip(p, stream.Generate(p, infinite(stopped)), stream.FromSlice(p, []string{"a", "b"}))
		got, err := stream.Collect(p, pairs)
		require.NoError(t, err)
		assert.Equal(t, []stream.Pair[int, string]{{0, "a"}, {1, "b"}}, got)
		<-stopped
	})
}

func TestCountAnyAll(t *testing.T) {
	p := stream.New(context.Background())
	n, err := stream.Count(p, stream.FromSlice(p, seq(42)))
	require.NoError(t, err)
	assert.Equal(t, 42, n)

	for _, tt := range []struct {
		name          string
		in            []int
		wantAny, want bool // Any(v > 5), All(v < 10)
	}{
		{"empty", nil, false, true},
		{"none big, all small", []int{1, 2, 3}, false, true},
		{"one big", []int{1, 7, 3}, true, true},
		{"one too big", []int{1, 7, 30}, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := stream.New(context.Background())
			got, err := stream.Any(p, stream.FromSlice(p, tt.in), func(v int) bool { return v > 5 })
			require.NoError(t, err)
			assert.Equal(t, tt.wantAny, got)
			p = stream.New(context.Background())
			got, err = stream.All(p, stream.FromSlice(p, tt.in), func(v int) bool { return v < 10 })
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestAnyAllStopInfiniteSource: Any and All release their input at the
// answer, so an infinite source stops and they return.
func TestAnyAllStopInfiniteSource(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stopped := make(chan struct{})
		p := stream.New(context.Background())
		got, err := stream.Any(p, stream.Generate(p, infinite(stopped)), func(v int) bool { return v == 1000 })
		require.NoError(t, err)
		assert.True(t, got)
		<-stopped

		stopped = make(chan struct{})
		p = stream.New(context.Background())
		got, err = stream.All(p, stream.Generate(p, infinite(stopped)), func(v int) bool { return v < 1000 })
		require.NoError(t, err)
		assert.False(t, got)
		<-stopped
	})
}

func TestAnyAllErrors(t *testing.T) {
	errBad := errors.New("bad")
	src := func(p *stream.Pipeline) <-chan int {
		return stream.Generate(p, func(_ context.Context, emit func(int) error) error {
			for i := range 3 {
				if err := emit(i); err != nil {
					return err
				}
			}
			return errBad
		})
	}
	p := stream.New(context.Background())
	got, err := stream.All(p, src(p), func(int) bool { return true })
	require.ErrorIs(t, err, errBad)
	assert.False(t, got, "All of a failed stream is false")
	p = stream.New(context.Background())
	got, err = stream.Any(p, src(p), func(int) bool { return false })
	require.ErrorIs(t, err, errBad)
	assert.False(t, got)
	p = stream.New(context.Background())
	_, err = stream.Any(p, stream.FromSlice(p, seq(3)), func(int) bool { panic("pred") })
	var pe *stream.PanicError
	require.ErrorAs(t, err, &pe)
}

func TestValues(t *testing.T) {
	p := stream.New(context.Background())
	var got []int
	for v, err := range stream.Values(p, stream.FromSlice(p, seq(5))) {
		require.NoError(t, err)
		got = append(got, v)
	}
	assert.Equal(t, seq(5), got)
	require.NoError(t, p.Wait())
	st := p.Stats()
	assert.Equal(t, "values", st[len(st)-1].Kind)
	assert.Equal(t, int64(5), st[len(st)-1].In)
	assert.True(t, st[len(st)-1].Done)
}

func TestValuesError(t *testing.T) {
	errBad := errors.New("bad")
	p := stream.New(context.Background())
	out := stream.Map(p, stream.FromSlice(p, seq(10)), func(_ context.Context, v int) (int, error) {
		if v == 3 {
			return 0, errBad
		}
		return v, nil
	})
	var got []int
	var errs []error
	for v, err := range stream.Values(p, out) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		got = append(got, v)
	}
	// Elements in flight when the pipeline fails are discarded: a prefix.
	assert.Subset(t, []int{0, 1, 2}, got)
	assert.Equal(t, seq(len(got)), append([]int{}, got...))
	require.Len(t, errs, 1)
	require.ErrorIs(t, errs[0], errBad)
}

// TestValuesBreakStopsInfiniteSource is the issue's "Values with break on
// an infinite source": the loop returns, the source stops, and nothing is
// left running (the bubble, and goleak in TestMain, check that).
func TestValuesBreakStopsInfiniteSource(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stopped := make(chan struct{})
		p := stream.New(context.Background())
		doubled := stream.Map(p, stream.Generate(p, infinite(stopped)), double)
		var got []int
		for v, err := range stream.Values(p, doubled) {
			require.NoError(t, err)
			got = append(got, v)
			if len(got) == 3 {
				break
			}
		}
		assert.Equal(t, []int{0, 2, 4}, got)
		select {
		case <-stopped:
		default:
			t.Fatal("the source still runs after the loop ended")
		}
		require.NoError(t, p.Wait())
	})
}

// TestValuesPanicInLoopReleases: a panic in the loop's body still releases
// the input, so the pipeline can end.
func TestValuesPanicInLoopReleases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stopped := make(chan struct{})
		p := stream.New(context.Background())
		func() {
			defer func() { assert.Equal(t, "body", recover()) }()
			for range stream.Values(p, stream.Generate(p, infinite(stopped))) {
				panic("body")
			}
		}()
		require.NoError(t, p.Wait())
		<-stopped
	})
}

// TestValuesGoexitInLoop: runtime.Goexit in the body (t.FailNow does it)
// releases the input too.
func TestValuesGoexitInLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stopped := make(chan struct{})
		p := stream.New(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range stream.Values(p, stream.Generate(p, infinite(stopped))) {
				runtime.Goexit()
			}
		}()
		<-done
		require.NoError(t, p.Wait())
		<-stopped
	})
}

// TestValuesStopEndsLoop: Stop ends a loop blocked on an idle input.
func TestValuesStopEndsLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(context.Background())
		in := make(chan int)
		loopDone := make(chan struct{})
		go func() {
			defer close(loopDone)
			for _, err := range stream.Values(p, in) {
				assert.NoError(t, err)
			}
		}()
		synctest.Wait()
		p.Stop()
		<-loopDone
		require.NoError(t, p.Wait())
	})
}
