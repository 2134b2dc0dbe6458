package stream

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestLatencyBuckets checks the bucket layout against its promises for
// every bucket edge and 200,000 random durations: a duration lies in the
// bucket whose range holds it, closed above, the bound is less than 12.5%
// above it, bounds increase, every power of two of nanoseconds is a bound,
// and nothing is capped.
func TestLatencyBuckets(t *testing.T) {
	check := func(d time.Duration) {
		t.Helper()
		b := latencyBucket(d)
		if b < 0 || b >= latencyBuckets {
			t.Fatalf("bucket(%d) = %d, out of range", d, b)
		}
		bound := latencyBound(b)
		if d > bound {
			t.Fatalf("%d is in bucket %d whose bound %d is below it", d, b, bound)
		}
		if b > 0 && d <= latencyBound(b-1) {
			t.Fatalf("%d is in bucket %d but not above the previous bound %d", d, b, latencyBound(b-1))
		}
		if d > 0 && uint64(bound-d)*8 >= uint64(d) {
			t.Fatalf("bound %d of %d is 12.5%% or more above it", bound, d)
		}
	}
	for b := range latencyBuckets {
		if b > 0 && latencyBound(b) <= latencyBound(b-1) {
			t.Fatalf("bound %d = %d does not exceed bound %d = %d", b, latencyBound(b), b-1, latencyBound(b-1))
		}
		d := latencyBound(b)
		check(d)
		if latencyBucket(d) != b {
			t.Fatalf("bound %d of bucket %d lies in bucket %d", d, b, latencyBucket(d))
		}
		if d < math.MaxInt64 {
			check(d + 1)
		}
		check(d - 1)
	}
	for k := range 63 {
		d := time.Duration(1) << k
		if latencyBound(latencyBucket(d)) != d {
			t.Fatalf("2^%d ns is not a bucket bound", k)
		}
	}
	check(math.MinInt64)
	check(math.MaxInt64)
	if got := latencyBound(latencyBuckets - 1); got != math.MaxInt64 {
		t.Fatalf("the last bucket ends at %d, not at the largest duration", got)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		check(time.Duration(r.Int64() >> r.IntN(63)))
	}
}

// TestLatencyQuantileRanks checks nearest-rank quantiles on exact counts,
// including ranks that fall exactly on a bucket's last sample.
func TestLatencyQuantileRanks(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		name          string
		samples       []time.Duration
		p50, p90, p99 time.Duration // the exact nearest-rank quantiles
	}{
		{"one", []time.Duration{3 * ms}, 3 * ms, 3 * ms, 3 * ms},
		{"two", []time.Duration{ms, 2 * time.Second}, ms, 2 * time.Second, 2 * time.Second},
		{"nine and one", []time.Duration{ms, ms, ms, ms, ms, ms, ms, ms, ms, time.Minute}, ms, ms, time.Minute},
		{"five and five", []time.Duration{ms, ms, ms, ms, ms, 7 * ms, 7 * ms, 7 * ms, 7 * ms, 7 * ms}, ms, 7 * ms, 7 * ms},
		{"zero", []time.Duration{0, 0, 5 * ms}, 0, 5 * ms, 5 * ms},
	} {
		t.Run(c.name, func(t *testing.T) {
			hists := make([]latencyHist, 2)
			for i, d := range c.samples {
				hists[i%2].add(d)
			}
			s := summarise(hists)
			if s.Samples != int64(len(c.samples)) {
				t.Fatalf("Samples = %d, want %d", s.Samples, len(c.samples))
			}
			for _, q := range []struct {
				name       string
				got, exact time.Duration
			}{{"P50", s.P50, c.p50}, {"P90", s.P90, c.p90}, {"P99", s.P99, c.p99}} {
				if want := latencyBound(latencyBucket(q.exact)); q.got != want {
					t.Errorf("%s = %v, want %v, the bound of the bucket of %v", q.name, q.got, want, q.exact)
				}
			}
		})
	}
}

// TestLatencyAddAllocatesNothing: recording a sample allocates nothing.
func TestLatencyAddAllocatesNothing(t *testing.T) {
	var h latencyHist
	d := time.Duration(1)
	if n := testing.AllocsPerRun(1000, func() { h.add(d); d *= 3 }); n != 0 {
		t.Fatalf("add allocates %v times", n)
	}
}

// BenchmarkLatencyAdd measures recording one sample (done for one element
// in 64): the bucket's index, two atomic adds.
func BenchmarkLatencyAdd(b *testing.B) {
	var h latencyHist
	d := time.Duration(1)
	b.ReportAllocs()
	for b.Loop() {
		h.add(d)
		d = d*5 + 3
		if d > time.Hour {
			d = 1
		}
	}
}
