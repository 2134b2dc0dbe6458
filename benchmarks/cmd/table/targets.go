package main

import (
	"fmt"
	"io"
	"strings"
)

// The performance budget of the library (DESIGN.md, issue 7), checked on the
// medians of the run.
const (
	maxStageRatio   = 1.1       // a stage vs the hand-written fast path
	maxOrderedRatio = 1.2       // Ordered vs unordered
	maxChainRatio   = 0.8       // a chain of trivial stages vs the hand-written per-element chain
	maxLoneRatio    = 1.2       // a lone element's round trip vs the hand-written one
	maxHeapGrowth   = 4.0 * mib // peak heap at 10M over peak heap at 100k
	mib             = 1 << 20
)

func writeTargets(w io.Writer, res *results) {
	fmt.Fprintf(w, "### Targets\n\nChecked by the generator against the medians above.\n\n")
	writeTarget(w, fmt.Sprintf("each stage ≤ %.1f× the hand-written fast path (1 hop, 3 stages, parallel map)", maxStageRatio),
		stageChecks(res))
	writeTarget(w, fmt.Sprintf("Ordered ≤ %.1f× unordered", maxOrderedRatio), orderedChecks(res))
	writeTarget(w, fmt.Sprintf("a chain of trivial stages ≤ %.1f× the hand-written chain handing over one element at a time (3 and 6 stages)", maxChainRatio),
		ratioChecks(res, maxChainRatio, "Chain3", "Chain6"))
	writeTarget(w, fmt.Sprintf("a lone element through 5 idle stages ≤ %.1f× the hand-written round trip", maxLoneRatio),
		ratioChecks(res, maxLoneRatio, "LoneElement5"))
	writeTarget(w, "0 allocs/element for Generate, Map, Filter, Merge, FanOut, Buffer and the sinks", allocChecks(res))
	writeTarget(w, "memory flat: peak heap at 10M elements within 4 MiB of the peak at 100k", memoryChecks(res))
	writeTarget(w, "faster than every peer on every workload they share", peerChecks(res))
	fmt.Fprintln(w)
}

// maxListed is the number of cases beyond which a missed target lists only
// the cases that missed it.
const maxListed = 8

// check is one measured case of a target.
type check struct {
	what string
	ok   bool
}

func writeTarget(w io.Writer, target string, checks []check) {
	if len(checks) == 0 {
		fmt.Fprintf(w, "- not measured in this run: %s\n", target)
		return
	}
	var met, missed []string
	for _, c := range checks {
		if c.ok {
			met = append(met, c.what)
		} else {
			missed = append(missed, c.what+" ✗")
		}
	}
	switch {
	case len(missed) == 0 && len(checks) > maxListed:
		fmt.Fprintf(w, "- met — %s: in all %d cases\n", target, len(checks))
	case len(missed) == 0:
		fmt.Fprintf(w, "- met — %s: %s\n", target, strings.Join(met, "; "))
	case len(checks) > maxListed:
		// Long lists: name only the misses.
		fmt.Fprintf(w, "- **missed** — %s: met in %d of %d cases; missed in %s\n",
			target, len(met), len(checks), strings.Join(missed, "; "))
	default:
		fmt.Fprintf(w, "- **missed** — %s: %s\n", target, strings.Join(append(missed, met...), "; "))
	}
}

func label(b *benchmark, c *benchCase) string {
	if c.name == "" {
		return b.name
	}
	return b.name + " " + c.name
}

func stageChecks(res *results) []check {
	return ratioChecks(res, maxStageRatio, "OneHop", "Pipeline3", "ParallelMap")
}

// ratioChecks checks that stream takes at most limit times the baseline's
// time in every case of the named benchmarks.
func ratioChecks(res *results, limit float64, names ...string) []check {
	var checks []check
	for _, name := range names {
		b := res.benchmark(name)
		if b == nil {
			continue
		}
		for _, c := range b.cases {
			if r, ok := ratio(c.lib("stream"), c.lib(baseline)); ok {
				checks = append(checks, check{fmt.Sprintf("%s %.2f×", label(b, c), r), r <= limit})
			}
		}
	}
	return checks
}

func orderedChecks(res *results) []check {
	b := res.benchmark("OrderedMap")
	if b == nil {
		return nil
	}
	var checks []check
	for _, c := range b.cases {
		if r, ok := ratio(c.lib("stream-ordered"), c.lib("stream")); ok {
			checks = append(checks, check{fmt.Sprintf("%s %.2f×", c.name, r), r <= maxOrderedRatio})
		}
	}
	return checks
}

func allocChecks(res *results) []check {
	var checks []check
	for _, name := range []string{"OneHop", "Pipeline3", "ParallelMap", "OrderedMap", "FanOutMerge", "Buffer", "Chain3", "Chain6", "LoneElement5"} {
		b := res.benchmark(name)
		if b == nil {
			continue
		}
		for _, c := range b.cases {
			for _, e := range c.entries {
				if !strings.HasPrefix(e.lib, "stream") {
					continue
				}
				if v, ok := e.center(unitAllocs); ok {
					what := label(b, c)
					if e.lib != "stream" {
						what += " " + e.lib
					}
					checks = append(checks, check{fmt.Sprintf("%s %.0f", what, v), v == 0})
				}
			}
		}
	}
	return checks
}

func memoryChecks(res *results) []check {
	b := res.benchmark("Memory")
	if b == nil {
		return nil
	}
	var small, big *benchCase
	for _, c := range b.cases {
		switch c.name {
		case "n=100k":
			small = c
		case "n=10M":
			big = c
		}
	}
	if small == nil || big == nil {
		return nil
	}
	var checks []check
	for _, e := range big.entries {
		s := small.lib(e.lib)
		if s == nil {
			continue
		}
		hb, ok1 := e.center(unitHeap)
		hs, ok2 := s.center(unitHeap)
		if ok1 && ok2 {
			checks = append(checks, check{fmt.Sprintf("%s %+.2f MiB", e.lib, (hb-hs)/mib), hb-hs <= maxHeapGrowth})
		}
	}
	return checks
}

// peerChecks compares every peer with the library in each case they share:
// the ordered peers with stream-ordered, the others with stream.
func peerChecks(res *results) []check {
	var checks []check
	for _, b := range res.benchmarks {
		for _, c := range b.cases {
			for _, e := range c.entries {
				if strings.HasPrefix(e.lib, "hand-") || strings.HasPrefix(e.lib, "stream") {
					continue
				}
				ref := c.lib("stream-ordered")
				if ref == nil {
					ref = c.lib("stream")
				}
				r, ok := ratio(ref, e)
				if !ok {
					continue
				}
				checks = append(checks, check{fmt.Sprintf("%s vs %s %.2f×", label(b, c), e.lib, r), r <= 1})
			}
		}
	}
	return checks
}
