package main

import (
	"bytes"
	"fmt"
	"strings"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchmath"
)

// Units, as the benchmarks report them.
const (
	unitNs     = "ns/op" // per element: every benchmark pushes b.N elements
	unitAllocs = "allocs/op"
	unitBytes  = "B/op"
	unitHeap   = "peak-heap-B"
	unitRSS    = "peak-RSS-B"
	unitCPU    = "cpu-ns/op" // CPU time of the process per element, steadier than wall time on a shared machine
)

// baseline is the implementation every other is compared with.
const baseline = "hand-fastpath"

// entry is the summary of one implementation in one case of a benchmark.
type entry struct {
	lib   string
	stats map[string]benchmath.Summary // by unit
}

func (e *entry) center(unit string) (float64, bool) {
	s, ok := e.stats[unit]
	return s.Center, ok
}

// benchCase is one case of a benchmark (e.g. "work=1us/workers=2") with its
// implementations in the order they ran.
type benchCase struct {
	name    string
	entries []*entry
}

func (c *benchCase) lib(name string) *entry {
	for _, e := range c.entries {
		if e.lib == name {
			return e
		}
	}
	return nil
}

// benchmark is one Benchmark function's cases, in the order they ran.
type benchmark struct {
	name  string // without the "Benchmark" prefix
	cases []*benchCase
}

// results is a whole run, summarised.
type results struct {
	benchmarks []*benchmark
	config     map[string]string // goos, goarch, cpu, ...
}

func (r *results) benchmark(name string) *benchmark {
	for _, b := range r.benchmarks {
		if b.name == name {
			return b
		}
	}
	return nil
}

// parse reads go test -bench output and summarises every benchmark and unit
// as benchstat does: the median, with a 95% confidence interval that makes
// no assumption about the distribution.
func parse(raw []byte) (*results, error) {
	type key struct{ bench, kase, lib, unit string }
	samples := map[key][]float64{}
	res := &results{config: map[string]string{}}
	var order []key // first appearance of each bench/case/lib, unit ""
	seen := map[key]bool{}

	r := benchfmt.NewReader(bytes.NewReader(raw), "raw.txt")
	for r.Scan() {
		rec, ok := r.Result().(*benchfmt.Result)
		if !ok {
			continue // unit metadata, or a line that is not a result
		}
		for _, c := range rec.Config {
			res.config[c.Key] = string(c.Value)
		}
		bench, kase, lib, err := splitName(rec.Name)
		if err != nil {
			return nil, err
		}
		if k := (key{bench, kase, lib, ""}); !seen[k] {
			seen[k] = true
			order = append(order, k)
		}
		for _, v := range rec.Values {
			unit, value := v.Unit, v.Value
			if v.OrigUnit != "" {
				unit, value = v.OrigUnit, v.OrigValue
			}
			k := key{bench, kase, lib, unit}
			samples[k] = append(samples[k], value)
		}
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("no benchmark results")
	}

	for _, k := range order {
		b := res.benchmark(k.bench)
		if b == nil {
			b = &benchmark{name: k.bench}
			res.benchmarks = append(res.benchmarks, b)
		}
		var c *benchCase
		for _, bc := range b.cases {
			if bc.name == k.kase {
				c = bc
			}
		}
		if c == nil {
			c = &benchCase{name: k.kase}
			b.cases = append(b.cases, c)
		}
		e := &entry{lib: k.lib, stats: map[string]benchmath.Summary{}}
		for _, unit := range []string{unitNs, unitCPU, unitAllocs, unitBytes, unitHeap, unitRSS} {
			if vs := samples[key{k.bench, k.kase, k.lib, unit}]; len(vs) > 0 {
				sample := benchmath.NewSample(vs, &benchmath.DefaultThresholds)
				e.stats[unit] = benchmath.AssumeNothing.Summary(sample, 0.95)
			}
		}
		c.entries = append(c.entries, e)
	}
	return res, nil
}

// splitName splits "OneHop/work=1us/lib=stream-2" (as benchfmt gives it,
// "Benchmark" removed) into the benchmark, the case and the library.
func splitName(name benchfmt.Name) (bench, kase, lib string, err error) {
	base, parts := name.Parts()
	var caseParts []string
	for _, p := range parts {
		s := string(p)
		switch {
		case strings.HasPrefix(s, "-"): // GOMAXPROCS
		case strings.HasPrefix(s, "/lib="):
			lib = strings.TrimPrefix(s, "/lib=")
		default:
			caseParts = append(caseParts, strings.TrimPrefix(s, "/"))
		}
	}
	if lib == "" {
		return "", "", "", fmt.Errorf("benchmark %s has no lib= part", name)
	}
	return strings.TrimPrefix(string(base), "Benchmark"), strings.Join(caseParts, "/"), lib, nil
}
