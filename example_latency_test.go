package stream_test

import (
	"fmt"
	"time"

	"github.com/pipewright/stream"
)

// CountAtMost reads the cumulative buckets of a latency summary: exactly at
// a bucket bound (every power of two of nanoseconds is one), and as a lower
// bound elsewhere. Here two samples took at most 2^20ns (1.05ms), a third
// at most 3.15ms.
func ExampleLatencySummary_CountAtMost() {
	l := stream.LatencySummary{
		Samples: 3,
		Buckets: []stream.LatencyBucket{
			{UpperBound: 1 << 20, Count: 2},
			{UpperBound: 3145728, Count: 3},
		},
	}
	fmt.Println(l.CountAtMost(1<<20), l.CountAtMost(1<<22), l.CountAtMost(time.Millisecond))
	// Output: 2 3 0
}
