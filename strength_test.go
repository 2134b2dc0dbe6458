package stream_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
)

// The tests of this file each say plainly one promise that a mutation of
// the library once broke without any test noticing (issue 18): each was
// seen failing on its mutant, which its comment names.

// peakCounter tracks how many calls are in flight and the most there ever
// were.
type peakCounter struct{ cur, peak atomic.Int64 }

func (c *peakCounter) enter() {
	cur := c.cur.Add(1)
	for {
		old := c.peak.Load()
		if cur <= old || c.peak.CompareAndSwap(old, cur) {
			return
		}
	}
}

func (c *peakCounter) leave() { c.cur.Add(-1) }

// TestOrderedWorkersRunConcurrently: Ordered keeps the order without giving
// up the concurrency it was asked for: with Workers(n), Ordered() there are
// n calls in flight at once. Every call takes 1ms of fake time, so every
// worker that has an element is in its call at the same instant.
//
// Mutant: the dispatcher gives every element to the same worker (handOut
// tries only jobs[0]); the order stays right, the peak is 1.
func TestOrderedWorkersRunConcurrently(t *testing.T) {
	type stage = func(p *stream.Pipeline, in <-chan int, body func(), opts ...stream.Option) <-chan int
	stages := []struct {
		name string
		add  stage
	}{
		{"Map", func(p *stream.Pipeline, in <-chan int, body func(), opts ...stream.Option) <-chan int {
			return stream.Map(p, in, func(_ context.Context, v int) (int, error) { body(); return v, nil }, opts...)
		}},
		{"Filter", func(p *stream.Pipeline, in <-chan int, body func(), opts ...stream.Option) <-chan int {
			return stream.Filter(p, in, func(_ context.Context, v int) (bool, error) { body(); return true, nil }, opts...)
		}},
		{"FlatMap", func(p *stream.Pipeline, in <-chan int, body func(), opts ...stream.Option) <-chan int {
			return stream.FlatMap(p, in, func(_ context.Context, v int, emit func(int) error) error { body(); return emit(v) }, opts...)
		}},
	}
	for _, st := range stages {
		for _, n := range []int{2, 4, 8} {
			t.Run(fmt.Sprintf("%s/workers=%d", st.name, n), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p := stream.New(t.Context())
					var calls peakCounter
					out := st.add(p, stream.FromSlice(p, seq(20*n)), func() {
						calls.enter()
						defer calls.leave()
						time.Sleep(time.Millisecond)
					}, stream.Workers(n), stream.Ordered())
					got, err := stream.Collect(p, out)
					require.NoError(t, err)
					require.Equal(t, seq(20*n), got, "in input order")
					assert.EqualValues(t, n, calls.peak.Load(), "calls in flight at once")
				})
			})
		}
	}
}
