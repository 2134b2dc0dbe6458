package stream_test

// The random pipelines of random_test.go: the checks made after every run.

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pipewright/stream"
)

// ---- the checks ----

func (rr *randomRun) check() {
	if err := rr.p.Wait(); err != rr.waitErr {
		rr.violate("a second Wait returned %v, the first %v", err, rr.waitErr)
	}
	for _, st := range rr.p.Stats() {
		if !st.Done {
			rr.violate("stage %s is not done after Wait returned", st.Name)
		}
	}
	rr.checkEvents()
	rr.cleanResult = rr.checkError()
	rr.checkMainSinkError()
	for _, s := range rr.sinks {
		rr.checkSink(s, rr.cleanResult)
	}
	for _, g := range rr.groups {
		rr.checkGroup(g, rr.cleanResult)
	}
	for _, b := range rr.probes {
		rr.checkProbe(b)
	}
	if rr.cleanResult {
		rr.checkCounts()
	}
}

// checkCounts checks, after a clean run, that Stats counted every element
// once on each side of every channel (what a producer sent is what its
// consumers received) and dropped nothing but by a Buffer's policy or Tick.
// Stages released early (upstream of Take or First) and stages without a
// name of their own are left out.
func (rr *randomRun) checkCounts() {
	byName := map[string]stream.StageStats{}
	for _, st := range rr.p.Stats() {
		byName[st.Name] = st
	}
	stats := func(id int) (stream.StageStats, bool) {
		info := rr.stages[id]
		if info == nil || info.name == "" || info.releasable {
			return stream.StageStats{}, false
		}
		st, ok := byName[info.name]
		return st, ok
	}
	sent := func(id int) (int64, bool) {
		st, ok := stats(id)
		if !ok || rr.stages[id].kind == "tick" {
			return 0, false
		}
		if rr.stages[id].dropOldest {
			return st.Out - st.Dropped, true
		}
		return st.Out, true
	}
	consumers := map[int][]int{}
	for id, info := range rr.stages {
		for _, from := range info.ins {
			consumers[from] = append(consumers[from], id)
		}
	}
	for id, cs := range consumers {
		out, ok := sent(id)
		var in int64
		for _, c := range cs {
			st, found := stats(c)
			ok = ok && found && len(rr.stages[c].ins) == 1
			in += st.In
		}
		if ok && out != in {
			rr.violate("stats: stage %s sent %d elements, its consumers received %d", rr.stages[id].name, out, in)
		}
	}
	for id, info := range rr.stages {
		st, ok := stats(id)
		if !ok {
			continue
		}
		if len(info.ins) > 1 {
			var out int64
			for _, from := range info.ins {
				n, found := sent(from)
				ok = ok && found && rr.stages[from].outs == 1
				out += n
			}
			if ok && out != st.In {
				rr.violate("stats: stage %s received %d elements, its producers sent %d", info.name, st.In, out)
			}
		}
		if st.Dropped != 0 && info.kind != "buffer" && info.kind != "tick" && info.kind != "window" { // late elements
			rr.violate("stats: stage %s dropped %d elements in a clean run", info.name, st.Dropped)
		}
	}
}

// checkError checks Wait's result against the plan, and reports whether
// the run was clean: nothing ended it early, so every output is complete.
func (rr *randomRun) checkError() (clean bool) {
	err := rr.waitErr
	if rr.isOverflow(err) {
		return false // a Fail Buffer overflowed: a failure of its own, and the only one
	}
	if of := rr.observerFault(); of != nil {
		return rr.checkObserverFault(err, of)
	}
	acted := rr.acted.Load()
	switch rr.mode {
	case modeClean:
		rr.expectNil(err, "nothing was injected")
		return err == nil
	case modeFault:
		f := rr.fired.Load()
		switch {
		case f == nil:
			rr.expectNil(err, "the fault never fired")
			return err == nil
		case f.goexit:
			rr.expectGoexit(err, f.node.name)
		case f.panic:
			rr.expectInjected(err, f.node.name, true)
		case f.ctxDone:
			rr.expectNil(err, "the fault fired after its stage's context was done")
		case f.node.releasable && err == nil:
			// Released by a Take or First at the same moment: not reported.
		default:
			rr.expectInjected(err, f.node.name, false)
		}
	case modeStop:
		rr.expectNil(err, "Stop returns nil")
		return !acted && err == nil
	case modeCancel:
		if !acted {
			rr.expectNil(err, "the cancel never happened")
			return err == nil
		}
		mustCut := rr.actedQuiet.Load() || rr.stallCut.Load()
		switch {
		case err == nil && !mustCut:
		case err != context.Canceled:
			rr.violate("Wait returned %v, want context.Canceled (the parent was cancelled%s)", err,
				map[bool]string{true: " and a stage was cut short", false: ""}[mustCut])
		}
	case modeInject:
		rr.expectInjected(err, rr.injName, rr.injPanic)
	case modePrecancel:
		if err != context.Canceled && !(err == nil && rr.libElems == 0) {
			rr.violate("Wait returned %v, want context.Canceled (the parent was cancelled before the build)", err)
		}
	}
	return false
}

func (rr *randomRun) expectGoexit(err error, stage string) {
	var se *stream.Error
	if !errors.As(err, &se) || !errors.Is(err, stream.ErrGoexit) {
		rr.violate("Wait returned %v, want the injected Goexit as a *stream.Error wrapping ErrGoexit", err)
		return
	}
	if stage != "" && se.Stage != stage {
		rr.violate("Wait returned an error of stage %q, want the Goexit of %q: %v", se.Stage, stage, err)
	}
}

func (rr *randomRun) isOverflow(err error) bool {
	var se *stream.Error
	return errors.As(err, &se) && errors.Is(err, stream.ErrOverflow) && slices.Contains(rr.failNames, se.Stage)
}

func (rr *randomRun) expectNil(err error, why string) {
	if err != nil {
		rr.violate("Wait returned %v, want nil (%s)", err, why)
	}
}

func (rr *randomRun) expectInjected(err error, stage string, panicked bool) {
	var se *stream.Error
	if !errors.As(err, &se) {
		rr.violate("Wait returned %v, want the injected %s as a *stream.Error", err, map[bool]string{true: "panic", false: "error"}[panicked])
		return
	}
	if stage != "" && se.Stage != stage {
		rr.violate("Wait returned an error of stage %q, want the injected one of %q: %v", se.Stage, stage, err)
	}
	if !panicked {
		if !errors.Is(err, rr.injErr) {
			rr.violate("Wait returned %v, want the injected error", err)
		}
		return
	}
	var pe *stream.PanicError
	if !errors.As(err, &pe) || pe.Value != rr.panicVal {
		rr.violate("Wait returned %v, want the injected panic", err)
	}
	if target, ok := rr.panicVal.(error); ok && !errors.Is(err, target) {
		rr.violate("errors.Is does not reach the error value of a panic: %v", err)
	}
}

func (rr *randomRun) checkMainSinkError() {
	for _, s := range rr.sinks {
		switch {
		case s.kind == "first" && rr.waitErr == nil:
			if (rr.mainErr == stream.ErrEmpty) != (len(s.obs) == 0) || (rr.mainErr != nil && rr.mainErr != stream.ErrEmpty) {
				rr.violate("First returned %v with %d element(s)", rr.mainErr, len(s.obs))
			}
		case s.kind == "collect" || s.kind == "reduce" || s.kind == "drain" || s.kind == "first" ||
			s.kind == "count" || s.kind == "any" || s.kind == "all" || s.kind == "values":
			if rr.mainErr != rr.waitErr {
				rr.violate("%s returned %v, Wait %v", s.kind, rr.mainErr, rr.waitErr)
			}
		}
	}
}

func (rr *randomRun) checkSink(s *sinkLog, clean bool) {
	if s.counted {
		rr.streamSinkCheck(s, s.model(), clean)
	}
	if s.drain {
		return
	}
	m := s.model()
	where := fmt.Sprintf("sink %d (%s)", s.id, s.kind)
	rr.checkMultiset(where, m, s.obs, clean && !s.first && !s.partial)
	if s.ordered {
		rr.checkOrder(where, m, s.obs)
	}
	if !s.first || !clean || !m.exact {
		return
	}
	if len(s.obs) == 0 {
		if len(m.vals) > 0 {
			rr.violate("%s: First found the stream empty, want %d elements", where, len(m.vals))
		}
		return
	}
	mult := counts(m.vals)
	v := s.obs[0]
	for _, g := range m.groups {
		if i := slices.Index(g, v); i > 0 && mult[v.val] == 1 && mult[g[0].val] == 1 {
			rr.violate("%s: First returned %v, but %v comes before it", where, v, g[0])
			return
		}
	}
}

// checkMultiset checks that got holds no element more often than m allows,
// and, when the run was clean and m is exact, exactly m's elements.
func (rr *randomRun) checkMultiset(where string, m *model, got []rel, clean bool) {
	want := counts(m.vals)
	have := counts(got)
	for _, v := range got {
		if have[v.val] > want[v.val] {
			rr.violate("%s: %v arrived %d time(s), want at most %d (duplicated or foreign)", where, v, have[v.val], want[v.val])
			return
		}
	}
	if !clean {
		return
	}
	if m.exact {
		lost := 0
		var example rel
		for _, v := range m.vals {
			if have[v.val] < want[v.val] {
				lost++
				example = v
			}
		}
		if lost > 0 {
			rr.violate("%s: %d of %d elements lost, e.g. %v", where, lost, len(m.vals), example)
			return
		}
	}
	if m.count >= 0 && len(got) != m.count {
		rr.violate("%s: %d elements, want %d", where, len(got), m.count)
	}
}

// checkOrder checks that the elements of each group of m that arrived,
// arrived in the group's order. Elements m holds more than once are ambiguous
// and skipped.
func (rr *randomRun) checkOrder(where string, m *model, got []rel) {
	mult := counts(m.vals)
	pos := make(map[uint64]int, len(got))
	for i, v := range got {
		pos[v.val] = i
	}
	for _, g := range m.groups {
		last, lastV := -1, rel{}
		for _, v := range g {
			if mult[v.val] != 1 {
				continue
			}
			i, ok := pos[v.val]
			if !ok {
				continue
			}
			if i < last {
				rr.violate("%s: order broken: %v arrived at %d, before %v at %d, which precedes it", where, v, i, lastV, last)
				return
			}
			last, lastV = i, v
		}
	}
}

func (rr *randomRun) checkGroup(g *branchGroup, clean bool) {
	var all []rel
	owner := map[uint32]int{}
	for _, s := range g.sinks {
		all = append(all, s.obs...)
		if g.keyMod == 0 {
			continue
		}
		for _, v := range s.obs {
			k := v.key % g.keyMod
			if o, ok := owner[k]; ok && o != s.id {
				rr.violate("partition: key %d reached sinks %d and %d", k, o, s.id)
				return
			}
			owner[k] = s.id
		}
	}
	where := fmt.Sprintf("branches of sinks %d…", g.sinks[0].id)
	if g.drops == nil {
		rr.checkMultiset(where, g.union(), all, clean)
		return
	}
	// A branch was released: each element was delivered once, or dropped
	// (passed to OnDrop, or left in the released output and only counted).
	g.drops.mu.Lock()
	defer g.drops.mu.Unlock()
	u := g.union()
	rr.checkMultiset(where+" and drops", u, slices.Concat(all, g.drops.vals), false)
	if !clean || !u.exact {
		return
	}
	// Delivered plus dropped is all: what is left in a released output is
	// counted whether its producer finished before or after the release.
	for _, st := range rr.p.Stats() {
		if st.Name == g.drops.stage && int64(len(all))+st.Dropped != int64(len(u.vals)) {
			rr.violate("%s: %d delivered and %d dropped (%d passed to OnDrop), want %d in all",
				where, len(all), st.Dropped, len(g.drops.vals), len(u.vals))
		}
		if st.Name == g.drops.stage && int64(len(g.drops.vals)) > st.Dropped {
			rr.violate("%s: %d elements passed to OnDrop, but Stats counts %d dropped", where, len(g.drops.vals), st.Dropped)
		}
	}
}

func (rr *randomRun) checkProbe(b *batchProbe) {
	partial := 0
	for _, n := range b.sizes {
		if n < 1 || n > b.size {
			rr.violate("batch %d: a batch of %d, want 1..%d", b.id, n, b.size)
			return
		}
		if n < b.size {
			partial++
		}
	}
	if !b.timed && partial > 1 {
		rr.violate("batch %d: %d partial batches without maxWait, want at most 1: %v", b.id, partial, b.sizes)
	}
}

// eventLog is an Observer that counts the events of each stage. Its plan
// may make it misbehave as user code can: panic (or call runtime.Goexit)
// on its panicAt-th event, after counting it, and sleep (fake time) on
// every napEvery-th event.
type eventLog struct {
	mu      sync.Mutex
	counts  map[string]*eventCounts
	stopErr map[string]error

	seen     int64
	panicAt  int64
	goexit   bool
	panicVal any
	napEvery int64
	nap      time.Duration
	fired    *observerFault
}

// observerFault is the event on which the observer panicked.
type observerFault struct {
	stage  string
	kind   stream.EventKind
	goexit bool
}

type randomObserverPanic struct{ seed uint64 }

// planObserver decides how the observer misbehaves. A panic only in the
// modes whose result stays predictable (clean, stop, cancel); naps in any.
func (rr *randomRun) planObserver() {
	l := rr.events
	if (rr.mode == modeClean || rr.mode == modeStop || rr.mode == modeCancel) && rr.r.IntN(3) == 0 {
		l.panicAt = 1 + int64(rr.r.IntN(30))
		l.goexit = rr.r.IntN(3) == 0
		l.panicVal = &randomObserverPanic{seed: rr.seed}
		rr.planDesc = append(rr.planDesc, fmt.Sprintf("observer-%s@%d", map[bool]string{true: "goexit", false: "panic"}[l.goexit], l.panicAt))
	}
	if rr.fake && rr.r.IntN(4) == 0 {
		l.napEvery = 1 + int64(rr.r.IntN(5))
		l.nap = time.Duration(1+rr.r.IntN(5)) * time.Millisecond
		rr.planDesc = append(rr.planDesc, fmt.Sprintf("observer-nap=%v/%d", l.nap, l.napEvery))
	}
}

func (rr *randomRun) observerFault() *observerFault {
	if rr.events == nil {
		return nil
	}
	rr.events.mu.Lock()
	defer rr.events.mu.Unlock()
	return rr.events.fired
}

// checkObserverFault checks Wait's result when the observer panicked: the
// stage of the event fails with the observer's panic (or ErrGoexit), unless
// the plan's end (Stop, the parent's cancellation) or a failing Buffer came
// first. The run is never clean: the pipeline may have ended early.
func (rr *randomRun) checkObserverFault(err error, of *observerFault) bool {
	var se *stream.Error
	switch {
	case errors.As(err, &se) && se.Stage == of.stage:
		if of.goexit && !errors.Is(err, stream.ErrGoexit) {
			rr.violate("Wait returned %v, want ErrGoexit from the observer", err)
		}
		var pe *stream.PanicError
		if !of.goexit && (!errors.As(err, &pe) || pe.Value != rr.events.panicVal) {
			rr.violate("Wait returned %v, want the observer's panic", err)
		}
	case rr.mode == modeStop && err == nil && rr.acted.Load():
	case rr.mode == modeCancel && (err == nil || err == context.Canceled) && rr.acted.Load():
	default:
		rr.violate("Wait returned %v, want the panic of the observer on %s of stage %s", err, of.kind, of.stage)
	}
	return false
}

type eventCounts struct {
	started, stopped, failed, retried, dropped, panicked int64
}

func (l *eventLog) Observe(e stream.Event) {
	l.mu.Lock()
	l.seen++
	fault := l.panicAt > 0 && l.seen == l.panicAt
	// Goexit ends the goroutine: only on events told by a stage's own
	// worker. Others may be told on the test's goroutines (StageStarted
	// while building, StageStopped of a stage without workers, a drain in
	// the caller's Values loop), where Goexit would end the test itself,
	// as t.FailNow does: it panics there instead.
	goexit := fault && l.goexit && (e.Kind == stream.ElementFailed || e.Kind == stream.ElementRetried || e.Kind == stream.StagePanicked)
	if fault {
		l.fired = &observerFault{stage: e.Stage, kind: e.Kind, goexit: goexit}
	}
	nap := l.napEvery > 0 && l.seen%l.napEvery == 0
	l.record(e)
	l.mu.Unlock()
	if nap {
		time.Sleep(l.nap) // a slow observer (fake time)
	}
	if goexit {
		runtime.Goexit()
	}
	if fault {
		panic(l.panicVal)
	}
}

func (l *eventLog) record(e stream.Event) {
	if l.counts == nil {
		l.counts, l.stopErr = map[string]*eventCounts{}, map[string]error{}
	}
	c := l.counts[e.Stage]
	if c == nil {
		c = &eventCounts{}
		l.counts[e.Stage] = c
	}
	switch e.Kind {
	case stream.StageStarted:
		c.started++
	case stream.StageStopped:
		c.stopped++
		l.stopErr[e.Stage] = e.Err
	case stream.ElementFailed:
		c.failed++
	case stream.ElementRetried:
		c.retried++
	case stream.ElementDropped:
		c.dropped += e.Count
	case stream.StagePanicked:
		c.panicked++
	}
}

// checkEvents checks that the observer was told of every stage's start and
// stop, once, and of every failure, retry, drop and panic that Stats counts
// (pitfall P18: no drop goes unreported).
func (rr *randomRun) checkEvents() {
	l := rr.events
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, st := range rr.p.Stats() {
		c := l.counts[st.Name]
		if c == nil {
			c = &eventCounts{}
		}
		if c.started != 1 || c.stopped != 1 {
			rr.violate("observer: stage %s started %d and stopped %d times, want once each", st.Name, c.started, c.stopped)
		}
		if c.failed != st.Errors || c.retried != st.Retried || c.dropped != st.Dropped || c.panicked != st.Panics {
			rr.violate("observer: stage %s told failed=%d retried=%d dropped=%d panicked=%d, Stats counts %d %d %d %d",
				st.Name, c.failed, c.retried, c.dropped, c.panicked, st.Errors, st.Retried, st.Dropped, st.Panics)
		}
	}
	var se *stream.Error
	if errors.As(rr.waitErr, &se) && l.fired == nil {
		// (An observer's own failure may come after the stage stopped,
		// on a drain, or on StageStopped itself.)
		if err := l.stopErr[se.Stage]; err != rr.waitErr {
			rr.violate("observer: stage %s stopped with %v, Wait returned %v", se.Stage, err, rr.waitErr)
		}
	}
}

// ---- reporting ----

type randomTally struct {
	mu                                            sync.Mutex
	runs, clean, failed, stages, elements, faults int
	quietEnds, stalls, lates                      int
	goexits, observerFaults, observerNaps         int
	retried, skipped, dropped                     int64
	byMode                                        [numModes]int
}

func (t *randomTally) add(rr *randomRun) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.runs++
	t.byMode[rr.mode]++
	if rr.cleanResult {
		t.clean++
	}
	if len(rr.violations) > 0 {
		t.failed++
	}
	t.stages += rr.nextID
	for _, s := range rr.sinks {
		t.elements += len(s.obs)
	}
	if rr.fired.Load() != nil {
		t.faults++
	}
	if rr.actedQuiet.Load() {
		t.quietEnds++
	}
	t.stalls += int(rr.stalls.Load())
	if f := rr.fired.Load(); f != nil && f.goexit {
		t.goexits++
	}
	if rr.observerFault() != nil {
		t.observerFaults++
	}
	if rr.events != nil && rr.events.napEvery > 0 {
		t.observerNaps++
	}
	t.lates += int(rr.lates.Load())
	if rr.p != nil {
		for _, st := range rr.p.Stats() {
			t.retried += st.Retried
			t.skipped += st.Skipped
			t.dropped += st.Dropped
		}
	}
}

func (t *randomTally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var modes []string
	for m, n := range t.byMode {
		modes = append(modes, fmt.Sprintf("%s=%d", modeNames[m], n))
	}
	return fmt.Sprintf("%d pipelines (%s), %d failed; %d ran clean with exact outputs; %d stages, %d elements received by sinks; %d faults fired (%d of them Goexit), %d late failures, %d stalls, %d pipelines ended while blocked; %d observers panicked or called Goexit, %d were slow; %d retries, %d elements skipped, %d dropped",
		t.runs, strings.Join(modes, " "), t.failed, t.clean, t.stages, t.elements, t.faults, t.goexits, t.lates, t.stalls, t.quietEnds, t.observerFaults, t.observerNaps, t.retried, t.skipped, t.dropped)
}

// goroutineDump returns the stacks of the goroutines running this
// package's code, for a hang report.
func goroutineDump() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var keep []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "pipewright/stream.") && !strings.Contains(g, "goroutineDump") {
			keep = append(keep, g)
		}
	}
	s := strings.Join(keep, "\n\n")
	if len(s) > 16<<10 {
		s = s[:16<<10] + "\n…"
	}
	return s
}
