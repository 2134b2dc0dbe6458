package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// descriptions say in one line what each benchmark does.
var descriptions = map[string]string{
	"OneHop":       "A source goroutine sends the elements to a consumer: one channel hop.",
	"Pipeline3":    "Source → map v+1 → keep the even → map v+1 → consumer: three stages, four hops.",
	"ParallelMap":  "Source → map with 2 or 4 workers → consumer; trivial work (v+1) or about 1 µs of CPU work per element; results in completion order.",
	"OrderedMap":   "Map with 4 workers (2 in `workers=2`), results in input order: `stream-ordered` is Map with `Ordered()`, `conc` is conc's `stream`, `rill` is rill's `OrderedMap`. `hand-fastpath` and `stream` are the same map unordered, for reference. Skewed: one element in 100 (chosen by a hash of its index) is ten times slower.",
	"Batch":        "Source → batches of 100 → consumer. `stream` has no time limit, as the others; `stream-maxwait` has one of 1 s.",
	"FanOutMerge":  "Source → 4 branches, each element to exactly one → merged into one consumer.",
	"Buffer":       "Source → a stage holding up to 1024 elements (`Buffer` with `Block`; a hand-written relay with a channel of that capacity) → consumer.",
	"Timeout":      "Source → map v+1 → consumer, every call with a deadline of its own: `hand-*` call `context.WithTimeout(1s)` per element, `stream-timeout` is Map with `Timeout(1s)`, `stream` the same Map without it, for reference.",
	"Chain3":       "Source → map v+1 → keep all → map v+1 → consumer: three trivial stages, one worker each, where a stage's time goes to handing elements on. `hand-*` hand over one element at a time.",
	"Chain6":       "Source → six trivial stages (map v+1 and keep all, alternately, one worker each) → consumer. `hand-*` hand over one element at a time.",
	"LoneElement5": "One element at a time through an idle pipeline: the caller hands element i to the source and sends i+1 only once i came out of the consumer, through five map v+1 stages; time per element is the round trip. `stream` is a `Generate` reading the caller's channel, five `Map`s and a `ForEach` handing each element back.",
	"Memory":       "A fast source → 3 maps → a consumer doing about 160 ns of CPU work per element, at 100k and 10M elements per run; peak heap (runtime/metrics) and peak RSS (VmHWM) of the process while it runs.",
}

type header struct {
	command string
	date    string
	elapsed time.Duration
	library string
	goVer   string
	load    [2]string // one-minute load average before and after the run
}

func writeMarkdown(w io.Writer, res *results, h header) {
	fmt.Fprintf(w, "Generated on %s by `%s` (%s), library at %s, %s.  \n",
		h.date, h.command, h.elapsed, h.library, h.goVer)
	var machine []string
	for _, k := range []string{"goos", "goarch", "cpu"} {
		if v := res.config[k]; v != "" {
			machine = append(machine, k+": "+v)
		}
	}
	fmt.Fprintf(w, "Machine: %s, GOMAXPROCS %s", strings.Join(machine, ", "), gomaxprocs(res))
	if h.load[0] != "" {
		fmt.Fprintf(w, ", load average %s before the run and %s after", h.load[0], h.load[1])
	}
	fmt.Fprint(w, ". The machine was shared with other work while it ran: numbers are noisy, so compare within one run. ")
	fmt.Fprintf(w, "Each cell is the median of the runs with its 95%% confidence interval (benchstat's statistics); "+
		"allocs and B per element are as `testing` reports them, rounded down per element. "+
		"CPU ns/element is the CPU time the whole process spent per element (all goroutines), which varies much less than wall time on a shared machine. "+
		"The last column is the median time over that of `hand-fastpath` in the same case.\n\n")
	for _, b := range res.benchmarks {
		writeBenchmark(w, b)
	}
	writeTargets(w, res)
}

func gomaxprocs(res *results) string {
	if v := res.config[".procs"]; v != "" {
		return v
	}
	return "2"
}

func writeBenchmark(w io.Writer, b *benchmark) {
	fmt.Fprintf(w, "### %s\n\n", b.name)
	if d := descriptions[b.name]; d != "" {
		fmt.Fprintf(w, "%s\n\n", d)
	}
	extra := extraUnits(b)
	cols := []string{"case", "lib", "ns/element", "CPU ns/element", "allocs/element", "B/element"}
	for _, u := range extra {
		cols = append(cols, strings.TrimSuffix(strings.ReplaceAll(u, "-", " "), " B"))
	}
	cols = append(cols, "× "+baseline)
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(cols, " | "), strings.Repeat("---|", len(cols)))
	for _, c := range b.cases {
		base := c.lib(baseline)
		for i, e := range c.entries {
			kase := ""
			if i == 0 {
				kase = c.name
			}
			lib := e.lib
			if strings.HasPrefix(lib, "stream") {
				lib = "**" + lib + "**"
			}
			row := []string{kase, lib, nsCell(e), cpuCell(e), countCell(e, unitAllocs), countCell(e, unitBytes)}
			for _, u := range extra {
				row = append(row, mibCell(e, u))
			}
			row = append(row, ratioCell(e, base))
			fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
		}
	}
	fmt.Fprintln(w)
}

// extraUnits are the memory units some entry of b reports.
func extraUnits(b *benchmark) []string {
	var units []string
	for _, u := range []string{unitHeap, unitRSS} {
	cases:
		for _, c := range b.cases {
			for _, e := range c.entries {
				if _, ok := e.stats[u]; ok {
					units = append(units, u)
					break cases
				}
			}
		}
	}
	return units
}

func nsCell(e *entry) string {
	s, ok := e.stats[unitNs]
	if !ok {
		return ""
	}
	return formatNs(s.Center) + " ± " + s.PctRangeString()
}

// cpuCell is the median CPU time per element, or "" where the run did not
// report it.
func cpuCell(e *entry) string {
	v, ok := e.center(unitCPU)
	if !ok {
		return ""
	}
	return formatNs(v)
}

func formatNs(ns float64) string {
	switch {
	case ns < 10:
		return fmt.Sprintf("%.2f", ns)
	case ns < 100:
		return fmt.Sprintf("%.1f", ns)
	default:
		return fmt.Sprintf("%.0f", ns)
	}
}

func countCell(e *entry, unit string) string {
	v, ok := e.center(unit)
	if !ok {
		return ""
	}
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func mibCell(e *entry, unit string) string {
	v, ok := e.center(unit)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%.2f MiB", v/(1<<20))
}

func ratioCell(e, base *entry) string {
	r, ok := ratio(e, base)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%.2f×", r)
}

// ratio is e's median time over base's.
func ratio(e, base *entry) (float64, bool) {
	if e == nil || base == nil {
		return 0, false
	}
	v, ok1 := e.center(unitNs)
	b, ok2 := base.center(unitNs)
	if !ok1 || !ok2 || b == 0 {
		return 0, false
	}
	return v / b, true
}
