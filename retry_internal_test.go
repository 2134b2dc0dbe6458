package stream

import (
	"math"
	"testing"
	"time"
)

// Item 7 of issue 11: the delay saturates at Max, whatever Max and the
// number of the retry; it never overflows to a negative or zero delay.
func TestRetryDelaySaturates(t *testing.T) {
	for _, r := range []RetryPolicy{
		{Initial: time.Millisecond, Max: math.MaxInt64, Multiplier: 2},
		{Initial: time.Millisecond, Max: math.MaxInt64, Multiplier: 2, Jitter: 1},
		{Initial: math.MaxInt64, Max: math.MaxInt64, Multiplier: 1e300},
		{Initial: time.Second, Max: time.Minute, Multiplier: 10},
	} {
		last := time.Duration(0)
		for n := 1; n <= 2000; n++ {
			d := r.delay(n)
			if d <= 0 || d > r.Max {
				t.Fatalf("%+v: delay(%d) = %v, want in (0, %v]", r, n, d, r.Max)
			}
			if r.Jitter == 0 && d < last {
				t.Fatalf("%+v: delay(%d) = %v < delay(%d) = %v", r, n, d, n-1, last)
			}
			last = d
		}
	}
}
