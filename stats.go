package stream

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// StageStats is a snapshot of one stage's counters.
type StageStats struct {
	Name    string // as given with [Name], or "kind#N"
	Kind    string // "map", "filter", "slice", "collect", "go", …
	Workers int    // concurrent calls of the stage's function (Merge, FanOut: goroutines)
	Limit   int    // current concurrency limit: AdaptiveWorkers' limit, else Workers
	Done    bool   // every worker has exited

	In      int64 // elements received from the input
	Out     int64 // elements sent to the output(s)
	Errors  int64 // elements whose function failed (including skipped ones)
	Skipped int64 // failed elements skipped by an error policy
	Dropped int64 // elements dropped by a rule of the stage while the pipeline ran: see "Drops" in the package doc
	Retried int64 // retries made (calls beyond each element's first)
	Panics  int64 // panics recovered
	Early   int64 // panes a WindowReduce emitted before their window closed, to keep within MaxPanes

	// QueueLen is the number of elements waiting in the output channel(s)
	// now. Where elements travel in chunks (see "Channels" in the package
	// doc) a queued chunk counts as 16, however full: an upper bound.
	QueueLen int
	QueueCap int // capacity of the output channel(s)
	Busy     int // goroutines not waiting for input: working, or blocked on a full output

	// Outputs breaks QueueLen and QueueCap down by output channel, in the
	// order the stage made them (FanOut, Broadcast and Partition make
	// several; sinks none). With the stage names, they are the edges of
	// the pipeline's graph.
	Outputs []OutputStats

	Latency LatencySummary // time spent per element, sampled
}

// OutputStats is one output channel of a stage: an edge of the pipeline's
// graph, from that stage to the stage that consumes the channel.
type OutputStats struct {
	To       string // the consuming stage's name; "" while no stage consumes it (the caller may read it)
	QueueLen int    // elements waiting in the channel now
	QueueCap int    // the channel's capacity
}

// Stats returns a snapshot of every stage's counters, in the order the
// stages were added. It is safe to call at any time from any goroutine,
// including after [Pipeline.Wait] returned; counters of a running pipeline
// are read one by one, so a snapshot is not atomic across counters.
//
// Each worker publishes its element counts in batches (of up to 64), so
// that counting costs no atomic operation per element: they are exact for a
// stage that has finished or waits on its input or its output, and for Tick
// between ticks. A source that waits inside its own function (Generate
// waiting for an event, a FromSeq iterator that blocks) may hold back the
// counts of up to 63 elements it emitted until it emits again, waits on a
// full output, or ends.
func (p *Pipeline) Stats() []StageStats {
	checkPipeline(p)
	// The lock keeps the topology still (stages and edges being added);
	// the counters themselves are atomics.
	p.mu.Lock()
	defer p.mu.Unlock()
	stats := make([]StageStats, len(p.stages))
	n := 0
	for _, s := range p.stages {
		n += len(s.outputs)
	}
	outputs := make([]OutputStats, n) // one allocation for all stages
	for i, s := range p.stages {
		st := StageStats{Name: s.name, Kind: s.kind, Workers: s.cfg.workers, Limit: s.cfg.workers, Done: s.finished.Load()}
		if a := s.cfg.adaptive; a != nil {
			st.Limit = int(a.limit.Load())
		}
		st.Latency = summarise(s.latency)
		for j := range s.counters {
			c := &s.counters[j]
			inIdle := c.inIdle.Load()
			if !st.Done && inIdle&1 == 0 {
				st.Busy++
			}
			st.In += inIdle >> 1
			st.Out += c.out.Load()
			st.Errors += c.errors.Load()
			st.Skipped += c.skipped.Load()
			st.Dropped += c.dropped.Load()
			st.Retried += c.retried.Load()
			st.Panics += c.panics.Load()
			st.Early += c.early.Load()
		}
		if len(s.outputs) > 0 {
			st.Outputs, outputs = outputs[:len(s.outputs):len(s.outputs)], outputs[len(s.outputs):]
		}
		for j, e := range s.outputs {
			o := OutputStats{QueueLen: e.length(), QueueCap: e.capacity}
			if e.to != nil {
				o.To = e.to.name
			}
			st.Outputs[j] = o
			st.QueueLen += o.QueueLen
			st.QueueCap += o.QueueCap
		}
		stats[i] = st
	}
	return stats
}

// Graph renders the pipeline's topology as a Mermaid flowchart: one node per
// stage (name and kind), one edge per channel labelled with its capacity.
// An output no stage consumes points to a "caller" node. Paste it into a
// README or an issue comment inside a ```mermaid block.
//
// Every stage name gives valid Mermaid, shown as plain text: characters
// other than letters, digits, spaces and #-_.:/,+() are written as numeric
// entities (#96; for a backtick), so a name can neither end its label nor
// become Markdown or markup. Tab, line feed and carriage return show as
// spaces (and are dropped at either end, with spaces), other control
// characters and invalid UTF-8 as U+FFFD, and a name longer than 120
// characters is cut there and ends with "…".
func (p *Pipeline) Graph() string {
	checkPipeline(p)
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	caller := false
	for _, s := range p.stages {
		fmt.Fprintf(&b, "    s%d[\"", s.id)
		mermaidText(&b, s.name)
		fmt.Fprintf(&b, "<br/><small>%s", s.kind)
		if w := s.cfg.workers; w > 1 {
			fmt.Fprintf(&b, " ×%d", w)
		}
		b.WriteString("</small>\"]\n")
	}
	for _, s := range p.stages {
		for _, e := range s.outputs {
			to := "caller"
			if e.to != nil {
				to = fmt.Sprintf("s%d", e.to.id)
			} else {
				caller = true
			}
			fmt.Fprintf(&b, "    s%d -->|%d| %s\n", s.id, e.capacity, to)
		}
	}
	if caller {
		b.WriteString("    caller([caller])\n")
	}
	return b.String()
}

// maxGraphName is how many characters of a stage name Graph shows.
const maxGraphName = 120

// mermaidText writes name as the text of a quoted Mermaid label (see Graph).
// Mermaid turns #NNN; into the HTML entity &#NNN;. A semicolon is always
// written as #59;, so no "#word;" of the name can read as an entity.
func mermaidText(b *strings.Builder, name string) {
	name = strings.Trim(name, " \t\n\r") // Mermaid drops spaces at the start
	n := 0
	for _, r := range name { // invalid UTF-8 comes as U+FFFD
		if n == maxGraphName {
			b.WriteString("#8230;") // …
			return
		}
		n++
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			r = ' '
		case unicode.IsControl(r):
			r = utf8.RuneError
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(" #-_.:/,+()", r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('#')
			b.WriteString(strconv.Itoa(int(r)))
			b.WriteByte(';')
		}
	}
}
