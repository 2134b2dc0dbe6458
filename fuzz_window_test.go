package stream_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
)

// Fuzz targets of the stream-processing operators' numeric parameters, in
// the style of fuzz_test.go: invalid values panic with a "stream: "
// message; valid ones give what a reference model says, with no hang and
// no goroutine left (synctest bubbles).

func FuzzDistinct(f *testing.F) {
	f.Add(1, 100, 5, uint64(1))
	f.Add(3, 300, 13, uint64(2))
	f.Add(1000, 50, 1000, uint64(3))
	f.Add(0, 10, 3, uint64(4))  // memory 0
	f.Add(-5, 10, 3, uint64(5)) // memory -5
	f.Fuzz(func(t *testing.T, memory, n, keys int, seed uint64) {
		if memory < 1 {
			synctest.Test(t, func(t *testing.T) {
				p := stream.New(context.Background())
				defer p.Wait()
				defer p.Stop()
				wantStreamPanic(t, func() { stream.Distinct(p, stream.FromSlice(p, seq(1)), func(v int) int { return v }, memory) })
			})
			return
		}
		n, keys = fuzzLen(n), 1+int(uint(keys)%50)
		r := rand.New(rand.NewPCG(seed, 0))
		in := make([]int, n)
		for i := range in {
			in[i] = r.IntN(keys)
		}
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			got, err := collectWithin(t, p, stream.Distinct(p, stream.FromSlice(p, in), func(v int) int { return v }, memory))
			require.NoError(t, err)
			requireInts(t, distinctModel(in, min(memory, 1000)), got)
		})
	})
}

func FuzzZip(f *testing.F) {
	f.Add(10, 3, 0, 1)
	f.Add(0, 5, 2, 0)
	f.Add(300, 300, 8, 8)
	f.Fuzz(func(t *testing.T, na, nb, capA, capB int) {
		na, nb = fuzzLen(na), fuzzLen(nb)
		capA, capB = int(uint(capA)%9), int(uint(capB)%9)
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			a := stream.Map(p, stream.FromSlice(p, seq(na)), func(ctx context.Context, v int) (int, error) {
				fuzzNap(ctx, v, 3)
				return v, nil
			}, stream.Capacity(capA))
			b := stream.FromSlice(p, seq(nb), stream.Capacity(capB))
			got, err := collectWithin(t, p, stream.Zip(p, a, b, stream.Name("zip")))
			require.NoError(t, err)
			require.Len(t, got, min(na, nb))
			for i, pr := range got {
				require.Equal(t, stream.Pair[int, int]{i, i}, pr)
			}
		})
	})
}

// FuzzWindowReduce runs Tumbling, Sliding and Session windows in event
// time over random timestamps, keys and parameters, and compares the panes
// with a reference model: for Tumbling and Sliding, how many elements of
// each key fall in each window and which are late; for every windowing,
// that panes cover their elements, counts add up and drops are counted.
func FuzzWindowReduce(f *testing.F) {
	f.Add(uint8(0), 10, 0, 0, 0, 100, 3, uint64(1))
	f.Add(uint8(1), 10, 3, 5, 0, 200, 4, uint64(2))
	f.Add(uint8(2), 4, 0, 2, 0, 150, 2, uint64(3))
	f.Add(uint8(0), 7, 0, 100, 2, 300, 9, uint64(4)) // MaxPanes 2
	f.Add(uint8(1), 9, 9, 0, 1, 60, 5, uint64(5))
	f.Add(uint8(0), 0, 0, 0, 0, 10, 1, uint64(6))  // size 0
	f.Add(uint8(1), 5, 6, 0, 0, 10, 1, uint64(7))  // every > size
	f.Add(uint8(2), -3, 0, 0, 0, 10, 1, uint64(8)) // gap < 0
	f.Add(uint8(0), 5, 0, -1, 0, 10, 1, uint64(9)) // negative lateness
	f.Fuzz(func(t *testing.T, kind uint8, size, every, lateness, maxPanes, n, keys int, seed uint64) {
		kind %= 3
		const unit = time.Second
		var w stream.Windowing
		build := func() {
			switch kind {
			case 0:
				w = stream.Tumbling(time.Duration(size) * unit)
			case 1:
				w = stream.Sliding(time.Duration(size)*unit, time.Duration(every)*unit)
			default:
				w = stream.Session(time.Duration(size) * unit)
			}
		}
		if size < 1 || kind == 1 && (every < 1 || every > size) || lateness < 0 || maxPanes < 0 {
			synctest.Test(t, func(t *testing.T) {
				wantStreamPanic(t, func() {
					build()
					stream.EventTime(func(e ev) time.Time { return epoch.Add(e.at) }, time.Duration(lateness)*unit)
					if maxPanes < 0 {
						stream.MaxPanes(maxPanes)
					}
				})
			})
			return
		}
		size, every, lateness = 1+size%60, 1+every%60, lateness%100
		if kind == 1 && every > size {
			every = size
		}
		build()
		n, keys = fuzzLen(n), 1+int(uint(keys)%10)
		r := rand.New(rand.NewPCG(seed, 1))
		evs := make([]ev, n)
		for i := range evs {
			// timestamps wander forward, with jumps back
			evs[i] = ev{key: string(rune('a' + r.IntN(keys))), val: i, at: time.Duration(i/2+r.IntN(30)-10) * unit}
		}
		opts := []stream.Option{stream.Name("w"), stream.EventTime(func(e ev) time.Time { return epoch.Add(e.at) }, time.Duration(lateness)*unit)}
		if maxPanes > 0 {
			opts = append(opts, stream.MaxPanes(1+maxPanes%20))
		}
		var (
			mu   sync.Mutex
			late = map[int]bool{}
		)
		opts = append(opts, stream.OnDrop(func(e ev) {
			mu.Lock()
			late[e.val] = true
			mu.Unlock()
		}))
		// The aggregate lists the elements, to check where they went.
		type agg struct{ vals []int }
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			out := stream.WindowReduce(p, stream.FromSlice(p, evs), w, keyEv, agg{}, func(a agg, e ev) agg {
				a.vals = append(a.vals, e.val)
				return a
			}, opts...)
			panes, err := collectWithin(t, p, out)
			require.NoError(t, err)
			st := statsOf(t, p, "w")
			require.Equal(t, int64(len(late)), st.Dropped)
			var early int64
			got := map[paneID]int{}
			seen := map[int]int{}
			for _, pn := range panes {
				require.Equal(t, len(pn.Value.vals), pn.Count)
				require.Positive(t, pn.Count)
				if pn.Early {
					early++
				}
				for _, v := range pn.Value.vals {
					e := evs[v]
					require.Equal(t, e.key, pn.Key)
					at := epoch.Add(e.at)
					require.False(t, at.Before(pn.Start) || !at.Before(pn.End), "element at %v in pane [%v, %v)", e.at, pn.Start.Sub(epoch), pn.End.Sub(epoch))
					seen[v]++
				}
				if kind != 2 {
					require.Equal(t, time.Duration(size)*unit, pn.End.Sub(pn.Start))
					got[paneID{pn.Key, pn.Start.Sub(epoch)}] += pn.Count
				}
			}
			require.Equal(t, early, st.Early)
			if maxPanes == 0 {
				require.Zero(t, early)
			}
			for v := range evs {
				if late[v] {
					require.Zero(t, seen[v], "element %d was late and in a pane", v)
				} else if kind != 1 {
					require.Equal(t, 1, seen[v], "element %d", v)
				} else {
					require.Positive(t, seen[v], "element %d", v)
				}
			}
			if kind != 2 {
				wantPanes, wantLate := windowModel(evs, int64(size)*int64(unit), int64(every)*int64(unit), int64(lateness)*int64(unit), kind == 0)
				require.Equal(t, wantLate, late)
				require.Equal(t, wantPanes, got)
			}
		})
	})
}

type paneID struct {
	key   string
	start time.Duration
}

// windowModel is the reference for Tumbling and Sliding in event time:
// the number of elements per key and window, and the late elements.
func windowModel(evs []ev, size, every, lateness int64, tumbling bool) (map[paneID]int, map[int]bool) {
	if tumbling {
		every = size
	}
	panes := map[paneID]int{}
	late := map[int]bool{}
	mark := int64(-1 << 62)
	latest := mark
	for _, e := range evs {
		t := int64(e.at)
		if t > latest {
			latest = t
			mark = max(mark, t-lateness)
		}
		in := false
		// windows are aligned as time.Truncate aligns
		first := int64(epoch.Add(e.at).Truncate(time.Duration(every)).Sub(epoch))
		for start := first; start > t-size; start -= every {
			if start+size <= mark {
				break
			}
			in = true
			panes[paneID{e.key, time.Duration(start)}]++
		}
		if !in {
			late[e.val] = true
		}
	}
	return panes, late
}
