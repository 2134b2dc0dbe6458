package stream_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pipewright/stream"
)

// The randomized property test of issue 8: random pipelines, built from a
// seed, must never hang, leak a goroutine, lose or duplicate an element,
// break an order they promise, or report anything but the first error.
//
// Each run builds a random DAG of sources (FromSlice, FromSeq, FromSeq2,
// Generate, Tick, a channel fed by the caller), element-wise stages (Map,
// Filter, FlatMap, Batch→Flatten, Buffer, Throttle, and FanOut, Partition or
// Broadcast whose branches are merged back), Take, dropping and failing
// Buffers, Merge, Broadcast and FanOut/Partition branches ending in separate
// sinks, and sinks (ForEach, the caller's own loop, Collect, Reduce, First,
// Drain), with random Workers, Ordered, Capacity and AdaptiveWorkers, and
// error policies (Retry of transient failures, OnError skipping permanent
// ones, Timeout skipping slow calls). User functions may fail, panic or
// stall until cancelled; the pipeline may be stopped, its parent cancelled
// or a Go stage fail at a random point, including the moment every goroutine
// is blocked (then no user function may start another call: pitfall P21).
//
// Every element carries a lineage: each transforming stage folds its id into
// the value, so two equal values are the same element, and a model computes
// from the pipeline's description what every sink must receive: exactly (or,
// after Take, a dropping Buffer or an early end, at most) a multiset of
// values, in an order where the stages promise one. "First error" is well
// defined because at most one fault is injected per run. After a run that
// nothing cut short, Stats must have counted on both sides of each channel
// the same number of elements, and an Observer, when there is one, must have
// been told of every start, stop, failure, retry, drop and panic Stats counts.
//
// A run happens in a testing/synctest bubble: time is fake (sleeps, Batch
// deadlines, Throttle and Tick cost nothing), a pipeline that blocks for good
// is detected when fake time jumps by an hour without Wait returning, and a
// goroutine left behind makes the bubble fail. A failure prints the seed, the
// plan of the run and the pipeline in one line; rerun it with
//
//	STREAM_RANDOM_SEED=<seed> STREAM_RANDOM_RUNS=1 go test -race -run TestRandomPipelines .
//
// (a failure that depends on scheduling may take -count=1000 to show again).
//
// STREAM_RANDOM_RUNS sets the number of pipelines (default 10000, 1000 with
// -short); STREAM_RANDOM_SEED the first seed (default 1).

func TestRandomPipelines(t *testing.T) {
	runs := 10000
	if testing.Short() {
		runs = 1000
	}
	runs = envInt(t, "STREAM_RANDOM_RUNS", runs)
	first := uint64(envInt(t, "STREAM_RANDOM_SEED", 1))
	var tally randomTally
	start := time.Now()
	t.Run("seeds", func(t *testing.T) {
		shards := max(1, min(runtime.GOMAXPROCS(0), runs))
		for s := range shards {
			t.Run(fmt.Sprintf("shard%d", s), func(t *testing.T) {
				t.Parallel()
				failed := 0
				for i := s; i < runs; i += shards {
					msg := runRandomSeed(first+uint64(i), t, &tally)
					if msg == "" {
						continue
					}
					t.Error(msg)
					if failed++; failed == 5 {
						t.Fatal("too many failures in this shard; stopping it")
					}
				}
			})
		}
	})
	t.Logf("%s in %v", &tally, time.Since(start).Round(time.Millisecond))
}

// runRandomSeed runs the pipeline of one seed in a synctest bubble and
// returns the report of the invariants it broke, or "". (In a crash's
// traceback the seed is runRandomSeed's first argument.)
func runRandomSeed(seed uint64, t *testing.T, tally *randomTally) string {
	rr := newRandomRun(seed, true)
	func() {
		defer func() {
			if r := recover(); r != nil { // synctest: goroutines left in the bubble
				rr.violate("the bubble did not end cleanly: %v\n%s", r, goroutineDump())
			}
		}()
		synctest.Test(t, func(*testing.T) { rr.run() })
	}()
	tally.add(rr)
	return rr.report()
}

func envInt(t testing.TB, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a non-negative integer", name, s)
	}
	return n
}

// rel is an element of a random pipeline.
type rel struct {
	key uint32 // the source element's identity, kept by every stage: Partition's key
	val uint64 // the lineage: each transforming stage folds its salt in
}

// mix is SplitMix64's finaliser over a and b: lineages that differ anywhere
// get different values.
func mix(a, b uint64) uint64 {
	z := a ^ (b * 0x9e3779b97f4a7c15) ^ 0x632be59bd9b4e019
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

type runMode int

const (
	modeClean     runMode = iota // nothing injected: outputs exact
	modeFault                    // one user function fails or panics once
	modeStop                     // Stop at a random point
	modeCancel                   // the parent context is cancelled at a random point
	modeInject                   // a Go stage fails at a random point
	modePrecancel                // the parent context is cancelled before the pipeline is built
	numModes
)

var modeNames = [numModes]string{"clean", "fault", "stop", "cancel", "inject", "precancel"}

// triggerKind is when the end action of stop, cancel and inject runs.
type triggerKind int

const (
	triggerQuiet triggerKind = iota // when every goroutine is blocked (fake time only)
	triggerData                     // at the k-th call of a user function
	triggerNow                      // right after the build, before any user function runs
	triggerBuild                    // in the middle of the build
)

// fnNode is one user function of the pipeline, with its injection plan.
type fnNode struct {
	id         int
	name       string // the stage's name, "" when it has its default name
	kind       string
	caps       fnCaps
	nap        int  // sleep pattern, in fake time
	releasable bool // a Take or First downstream may release its stage
	calls      atomic.Int64
	plan       atomic.Pointer[fnPlan]
}

type fnCaps uint8

const (
	capErr   fnCaps = 1 << iota // can return an error
	capPanic                    // can panic
	capStall                    // has a context, so can stall until it ends
	capP21                      // called by the stage only for an element it received (not a source)
	capAll   = capErr | capPanic | capStall | capP21
)

type fnPlan struct {
	faultAt, stallAt, triggerAt int64
	panic, stallTriggers        bool
	late                        bool // fails once the pipeline's context is done
}

// errLate is what a late function returns once the pipeline was cancelled,
// instead of its context's error: Wait must still report the first error.
var errLate = errors.New("late failure after the pipeline was cancelled")

type firedFault struct {
	node    *fnNode
	panic   bool
	ctxDone bool // the function's context was already done
}

type injectedError struct{ seed uint64 }

func (e *injectedError) Error() string { return fmt.Sprintf("injected failure (seed %d)", e.seed) }

type injectedPanic struct{ seed uint64 }

// randomRun is one random pipeline: its build, its run and its checks.
type randomRun struct {
	seed uint64
	r    *rand.Rand
	fake bool // in a synctest bubble: fake time and quiescence detection
	mode runMode

	ctx    context.Context
	cancel context.CancelFunc
	p      *stream.Pipeline

	// Build-time bookkeeping.
	nextID    int
	desc      []string
	chanID    map[any]int  // the stage that made each channel
	fed       map[any]bool // channels the caller makes and feeds
	stages    map[int]*stageInfo
	upStages  map[any][]int     // the stages upstream of each channel
	up        map[any][]*fnNode // the user functions upstream of each channel
	fns       []*fnNode
	sinks     []*sinkLog
	groups    []*branchGroup
	probes    []*batchProbe
	failNames []string // Buffers with the Fail policy
	allowFail bool
	maxSource int
	libElems  int // elements in the library's own sources (not a caller's channel)
	planDesc  []string

	// The plan, fixed before any user function runs.
	trigger     triggerKind
	injName     string
	injPanic    bool
	injErr      error
	panicVal    any
	start       chan struct{} // the gate user functions wait on until the plan is set
	fireCh      chan struct{}
	fireOnce    sync.Once
	injectNow   chan struct{}
	actOnce     sync.Once
	acted       atomic.Bool
	actedQuiet  atomic.Bool
	ended       atomic.Bool // ended at quiescence: no user function may start a call
	fired       atomic.Pointer[firedFault]
	stalls      atomic.Int32
	lates       atomic.Int32
	stallCut    atomic.Bool // a stall ended with the pipeline's context done
	wg          sync.WaitGroup
	mu          sync.Mutex
	violations  []string
	events      *eventLog // nil when the pipeline has no observer
	waitErr     error
	mainErr     error
	cleanResult bool
}

func newRandomRun(seed uint64, fake bool) *randomRun {
	return &randomRun{
		seed:     seed,
		r:        rand.New(rand.NewPCG(seed, 0x5eed5eed)),
		fake:     fake,
		chanID:   map[any]int{},
		fed:      map[any]bool{},
		stages:   map[int]*stageInfo{},
		upStages: map[any][]int{},
		up:       map[any][]*fnNode{},
	}
}

func (rr *randomRun) violate(format string, args ...any) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if len(rr.violations) < 20 {
		rr.violations = append(rr.violations, fmt.Sprintf(format, args...))
	}
}

func (rr *randomRun) report() string {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if len(rr.violations) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "seed=%d: %d invariant violation(s)\n", rr.seed, len(rr.violations))
	fmt.Fprintf(&b, "  reproduce: STREAM_RANDOM_SEED=%d STREAM_RANDOM_RUNS=1 go test -race -run TestRandomPipelines . (add -count=1000 if it depends on scheduling)\n", rr.seed)
	fmt.Fprintf(&b, "  plan: %s\n", rr.planString())
	fmt.Fprintf(&b, "  pipeline: %s\n", strings.Join(rr.desc, " "))
	for _, v := range rr.violations {
		fmt.Fprintf(&b, "  - %s\n", v)
	}
	return b.String()
}

func (rr *randomRun) planString() string {
	s := "mode=" + modeNames[rr.mode]
	if rr.mode == modeStop || rr.mode == modeCancel || rr.mode == modeInject {
		s += " trigger=" + [...]string{"quiescence", "data", "now", "build"}[rr.trigger]
	}
	if len(rr.planDesc) > 0 {
		s += " " + strings.Join(rr.planDesc, " ")
	}
	return s
}

// run builds the pipeline, runs it to its end and checks it.
func (rr *randomRun) run() {
	rr.chooseMode()
	rr.ctx, rr.cancel = context.WithCancel(context.Background())
	defer rr.cancel()
	if rr.mode == modePrecancel {
		rr.cancel()
		rr.ended.Store(true)
	}
	rr.start = make(chan struct{})
	gated := rr.r.IntN(10) < 7
	if !gated {
		close(rr.start) // the plan is then set while the pipeline runs
	}
	rr.fireCh = make(chan struct{})
	rr.injectNow = make(chan struct{})
	rr.injErr = &injectedError{seed: rr.seed}
	rr.panicVal = &injectedPanic{seed: rr.seed}
	if rr.r.IntN(3) == 0 {
		rr.panicVal = rr.injErr // errors.Is must reach it through PanicError
	}
	rr.p = stream.New(rr.ctx)
	if rr.r.IntN(3) == 0 {
		rr.events = &eventLog{}
		rr.p.SetObserver(rr.events)
	}
	main := rr.build()
	rr.plan()
	if gated {
		close(rr.start)
	}
	if rr.execute(main) {
		rr.check()
	}
}

func (rr *randomRun) chooseMode() {
	x := rr.r.IntN(100)
	switch {
	case x < 33:
		rr.mode = modeClean
	case x < 58:
		rr.mode = modeFault
	case x < 73:
		rr.mode = modeStop
	case x < 88:
		rr.mode = modeCancel
	case x < 97:
		rr.mode = modeInject
	default:
		rr.mode = modePrecancel
	}
	if !rr.fake && (rr.mode == modeInject || rr.mode == modePrecancel) {
		rr.mode = modeStop // without quiescence detection an injector could wait forever
	}
	rr.allowFail = rr.mode == modeClean || rr.mode == modeStop || rr.mode == modeCancel
	rr.injPanic = rr.r.IntN(2) == 0
	if rr.hasAction() {
		switch x := rr.r.IntN(10); {
		case x < 4 || (x >= 6 && !rr.fake):
			rr.trigger = triggerData
		case x < 5:
			rr.trigger = triggerNow
		case x < 6:
			rr.trigger = triggerBuild
		default:
			rr.trigger = triggerQuiet
		}
	}
}

// execute runs the pipeline until Wait returns, ending it as the plan says.
// It reports false when the pipeline hung: the checks are then pointless.
func (rr *randomRun) execute(main func() error) bool {
	waitDone := make(chan struct{})
	go func() {
		defer close(waitDone)
		rr.mainErr = main()
		rr.waitErr = rr.p.Wait()
	}()
	if rr.hasAction() {
		rr.wg.Go(func() {
			select {
			case <-rr.fireCh:
				rr.act(false)
			case <-waitDone:
			}
		})
		if rr.trigger == triggerNow {
			rr.act(false)
		}
	}
	if !rr.await(waitDone) {
		return false
	}
	rr.wg.Wait() // the caller's sinks and feeders end once every channel is closed
	return true
}

func (rr *randomRun) hasAction() bool {
	return rr.mode == modeStop || rr.mode == modeCancel || rr.mode == modeInject
}

// await waits for Wait to return. In fake time, an hour without it means
// every goroutine is blocked for good: if the plan still has an end action
// to take, this is its moment; otherwise the pipeline hangs.
func (rr *randomRun) await(waitDone <-chan struct{}) bool {
	quiet := time.Hour
	if !rr.fake {
		quiet = 30 * time.Second // only a hang detector: never reached by a correct run
	}
	select {
	case <-waitDone:
		return true
	case <-time.After(quiet):
	}
	if rr.fake && rr.hasAction() && !rr.acted.Load() {
		rr.act(true)
	} else {
		rr.violate("hang: Wait did not return and every goroutine is blocked\n%s", goroutineDump())
		rr.p.Stop()
		rr.cancel()
	}
	select {
	case <-waitDone:
		return true
	case <-time.After(quiet):
	}
	rr.violate("hang: Wait did not return after the pipeline was ended\n%s", goroutineDump())
	return false
}

// act takes the plan's end action, once.
func (rr *randomRun) act(quiet bool) {
	rr.actOnce.Do(func() {
		if quiet {
			rr.ended.Store(true)
			rr.actedQuiet.Store(true)
		}
		rr.acted.Store(true)
		switch rr.mode {
		case modeStop:
			rr.p.Stop()
		case modeCancel:
			rr.cancel()
		case modeInject:
			close(rr.injectNow)
		}
	})
}

func (rr *randomRun) fire() { rr.fireOnce.Do(func() { close(rr.fireCh) }) }

// noContext is the context of a user function that has none: it cannot stall
// and does not nap.
var noContext context.Context

// enter is called at the start of every call of a user function: it applies
// the plan (trigger, stall, fault) and checks that no call starts once the
// pipeline was ended while everything was blocked (pitfall P21).
func (rr *randomRun) enter(ctx context.Context, n *fnNode) error {
	<-rr.start
	if n.caps&capP21 != 0 && rr.ended.Load() {
		rr.violate("P21: %s (stage %d) started a call after the pipeline had ended", n.kind, n.id)
	}
	c := n.calls.Add(1)
	if err := rr.nap(ctx, n, c); err != nil {
		return err
	}
	pl := n.plan.Load()
	if pl == nil {
		return nil
	}
	if pl.late && rr.p.Context().Err() != nil {
		rr.lates.Add(1)
		return errLate
	}
	if c == pl.triggerAt {
		rr.fire()
	}
	if c == pl.stallAt && ctx != nil {
		rr.stalls.Add(1)
		if pl.stallTriggers {
			rr.fire()
		}
		<-ctx.Done()
		if rr.p.Context().Err() != nil {
			rr.stallCut.Store(true) // the stage ends cut short by the pipeline's end
		}
		return ctx.Err()
	}
	if c == pl.faultAt {
		rr.fired.Store(&firedFault{node: n, panic: pl.panic, ctxDone: ctx != nil && ctx.Err() != nil})
		if pl.panic {
			panic(rr.panicVal)
		}
		return rr.injErr
	}
	return nil
}

// nap makes some calls slow, in fake time, so that workers finish out of
// order and buffers fill up.
func (rr *randomRun) nap(ctx context.Context, n *fnNode, call int64) error {
	var d time.Duration
	switch n.nap {
	case 1:
		d = time.Millisecond
	case 2:
		d = time.Duration(call*7%5) * time.Millisecond
	case 3:
		if call%4 == 0 {
			d = 3 * time.Millisecond
		}
	}
	if d == 0 || ctx == nil {
		return nil
	}
	if !rr.fake {
		runtime.Gosched()
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ---- building ----

// stageOpts are the options drawn for one stage.
type stageOpts struct {
	opts  []stream.Option
	name  string
	order orderMode // what the stage keeps of its input's order
	desc  string
}

type optSet uint8

const (
	optWorkers optSet = 1 << iota
	optOrdered
	optCapacity
	optPolicy // AdaptiveWorkers
)

func (rr *randomRun) newID() int {
	rr.nextID++
	return rr.nextID
}

// newStage draws an id and the options of a stage that accepts set.
func (rr *randomRun) newStage(set optSet) (int, stageOpts) {
	id := rr.newID()
	var o stageOpts
	var d []string
	if rr.r.IntN(5) > 0 {
		o.name = "s" + strconv.Itoa(id)
		o.opts = append(o.opts, stream.Name(o.name))
		rr.stageInfo(id).name = o.name
	}
	o.order = keepsAll
	if set&optWorkers != 0 {
		w := 1
		if rr.r.IntN(5) > 1 {
			w = 1 + rr.r.IntN(6)
		}
		switch {
		case set&optPolicy != 0 && rr.r.IntN(10) == 0:
			lo := 1 + rr.r.IntN(w)
			o.opts = append(o.opts, stream.AdaptiveWorkers(lo, w, 2*time.Millisecond))
			d = append(d, fmt.Sprintf("adaptive%d-%d", lo, w))
			if w > 1 {
				o.order = keepsEach
			}
		case w > 1 || rr.r.IntN(4) == 0:
			o.opts = append(o.opts, stream.Workers(w))
			d = append(d, "w"+strconv.Itoa(w))
			if set&optOrdered != 0 && rr.r.IntN(2) == 0 {
				o.opts = append(o.opts, stream.Ordered())
				d = append(d, "ord")
			} else if w > 1 {
				o.order = keepsEach
			}
		}
	}
	if set&optCapacity != 0 && rr.r.IntN(3) > 0 {
		c := rr.r.IntN(9)
		o.opts = append(o.opts, stream.Capacity(c))
		d = append(d, "c"+strconv.Itoa(c))
	}
	o.desc = strings.Join(d, ",")
	return id, o
}

func (rr *randomRun) newFn(id int, name, kind string, caps fnCaps) *fnNode {
	n := &fnNode{id: id, name: name, kind: kind, caps: caps}
	if caps&capStall != 0 && rr.r.IntN(2) == 0 {
		n.nap = 1 + rr.r.IntN(3)
	}
	rr.fns = append(rr.fns, n)
	return n
}

// record adds a stage to the description and registers its outputs: the
// stage that made them and the user functions upstream of them.
func (rr *randomRun) record(id int, kind, args string, ins, outs []any, fns ...*fnNode) {
	var from []string
	var up []*fnNode
	info := rr.stageInfo(id)
	info.kind, info.outs = kind, len(outs)
	upStages := []int{id}
	for _, in := range ins {
		from = append(from, strconv.Itoa(rr.chanID[in]))
		up = append(up, rr.up[in]...)
		upStages = append(upStages, rr.upStages[in]...)
		info.ins = append(info.ins, rr.chanID[in])
	}
	up = append(up, fns...)
	for _, out := range outs {
		rr.chanID[out] = id
		rr.up[out] = up
		rr.upStages[out] = upStages
	}
	s := strconv.Itoa(id) + ":" + kind
	if args != "" {
		s += "(" + args + ")"
	}
	if len(from) > 0 {
		s += "<-" + strings.Join(from, ",")
	}
	rr.desc = append(rr.desc, s)
}

func join(parts ...string) string {
	var nonEmpty []string
	for _, p := range parts {
		if p != "" {
			nonEmpty = append(nonEmpty, p)
		}
	}
	return strings.Join(nonEmpty, ",")
}

// rstream is an open stream of the pipeline being built, with the lazy
// model of what it carries (lazy: dropping Buffers are only known after the
// run).
type rstream struct {
	ch    <-chan rel
	model func() *model
}

func memo(f func() *model) func() *model {
	var m *model
	return func() *model {
		if m == nil {
			m = f()
		}
		return m
	}
}

// build adds the random stages and returns the function that runs the
// pipeline's end: a blocking sink, or nothing (Wait is called after it).
func (rr *randomRun) build() func() error {
	injectorFirst := rr.mode == modeInject && rr.r.IntN(2) == 0
	if injectorFirst {
		rr.injector()
	}
	var pool []rstream
	for range 1 + rr.r.IntN(3) {
		pool = append(pool, rr.source())
	}
	steps := rr.r.IntN(8)
	actAt := rr.r.IntN(steps + 1)
	for step := range steps {
		if rr.trigger == triggerBuild && step == actAt {
			rr.act(false) // the stages added from now on start ended
		}
		if rr.nextID > 40 {
			break
		}
		if len(pool) == 0 {
			pool = append(pool, rr.source())
			continue
		}
		i := rr.r.IntN(len(pool))
		s := pool[i]
		switch x := rr.r.IntN(100); {
		case x < 45:
			pool[i] = rr.applyEW(rr.genEW(0), s)
		case x < 52:
			pool[i] = rr.take(s)
		case x < 58:
			pool[i] = rr.dropBuffer(s)
		case x < 61 && rr.allowFail:
			pool[i] = rr.failBuffer(s)
		case x < 70:
			k := rr.r.IntN(min(len(pool), 3) + 1)
			rr.r.Shuffle(len(pool), func(a, b int) { pool[a], pool[b] = pool[b], pool[a] })
			merged := rr.merge(pool[:k])
			pool = append(slices.Clone(pool[k:]), merged)
		case x < 78:
			pool = slices.Delete(pool, i, i+1)
			pool = append(pool, rr.broadcast(s)...)
		case x < 86:
			pool = slices.Delete(pool, i, i+1)
			rr.separate(s)
		default:
			pool = append(pool, rr.source())
		}
	}
	if rr.trigger == triggerBuild {
		rr.act(false) // if the loop ended first: no effect otherwise
	}
	if rr.mode == modeInject && !injectorFirst {
		rr.injector()
	}
	if len(pool) == 0 {
		return func() error { return nil }
	}
	for _, s := range pool[:len(pool)-1] {
		rr.sink(s, nil)
	}
	return rr.mainSink(pool[len(pool)-1])
}

// size draws a source's length: small, mostly.
func (rr *randomRun) size() int {
	switch x := rr.r.IntN(100); {
	case x < 5:
		return 0
	case x < 35:
		return 1 + rr.r.IntN(10)
	case x < 88:
		return 10 + rr.r.IntN(50)
	default:
		return 60 + rr.r.IntN(141)
	}
}

func (rr *randomRun) source() rstream {
	n := rr.size()
	rr.maxSource = max(rr.maxSource, n)
	id, o := rr.newStage(optCapacity)
	var items []rel
	if n > 0 || rr.r.IntN(2) == 0 {
		items = make([]rel, n)
	}
	for i := range items {
		items[i] = rel{key: uint32(id)<<16 | uint32(i), val: mix(rr.seed, uint64(id)<<32|uint64(i))}
	}
	s := rstream{model: memo(func() *model { return sourceModel(items) })}
	args := join("n="+strconv.Itoa(n), o.desc)
	switch x := rr.r.IntN(100); {
	case x < 35:
		s.ch = stream.FromSlice(rr.p, items, o.opts...)
		rr.record(id, "slice", args, nil, []any{s.ch})
		rr.libElems += n
	case x < 50:
		fn := rr.newFn(id, o.name, "seq", capPanic)
		s.ch = stream.FromSeq(rr.p, func(yield func(rel) bool) {
			for _, v := range items {
				_ = rr.enter(noContext, fn)
				if !yield(v) {
					return
				}
			}
		}, o.opts...)
		rr.record(id, "seq", args, nil, []any{s.ch}, fn)
		rr.libElems += n
	case x < 60:
		fn := rr.newFn(id, o.name, "seq2", capErr|capPanic)
		s.ch = stream.FromSeq2(rr.p, func(yield func(rel, error) bool) {
			for _, v := range items {
				if err := rr.enter(noContext, fn); err != nil {
					yield(rel{}, err)
					return
				}
				if !yield(v, nil) {
					return
				}
			}
		}, o.opts...)
		rr.record(id, "seq2", args, nil, []any{s.ch}, fn)
		rr.libElems += n
	case x < 80:
		fn := rr.newFn(id, o.name, "generate", capErr|capPanic|capStall)
		s.ch = stream.Generate(rr.p, func(ctx context.Context, emit func(rel) error) error {
			for _, v := range items {
				if err := rr.enter(ctx, fn); err != nil {
					return err
				}
				if err := emit(v); err != nil {
					return err
				}
			}
			return nil
		}, o.opts...)
		rr.record(id, "generate", args, nil, []any{s.ch}, fn)
		rr.libElems += n
	case x < 92:
		// A channel made and fed by the caller, who must stop feeding it
		// when the pipeline ends.
		ch := make(chan rel, rr.r.IntN(4))
		done := rr.p.Context().Done()
		rr.wg.Go(func() {
			defer close(ch)
			for _, v := range items {
				select {
				case ch <- v:
				case <-done:
					return
				}
			}
		})
		s.ch = ch
		rr.fed[s.ch] = true
		rr.record(id, "chan", "n="+strconv.Itoa(n), nil, []any{s.ch})
	default:
		every := time.Duration(1+rr.r.IntN(3)) * 100 * time.Millisecond
		if !rr.fake {
			every = time.Millisecond
		}
		ticks := stream.Tick(rr.p, every, o.opts...)
		rr.record(id, "tick", join(every.String(), o.desc), nil, []any{ticks})
		tid, to := rr.newStage(optCapacity)
		taken := stream.Take(rr.p, ticks, n, to.opts...)
		rr.record(tid, "take", join(strconv.Itoa(n), to.desc), []any{ticks}, []any{taken})
		mid, mo := rr.newStage(optCapacity)
		next := 0 // one worker: no lock
		s.ch = stream.Map(rr.p, taken, func(context.Context, time.Time) (rel, error) {
			v := items[next]
			next++
			return v, nil
		}, mo.opts...)
		rr.record(mid, "map", join("tick→elem", mo.desc), []any{taken}, []any{s.ch})
		rr.libElems++ // Tick never runs dry
	}
	return s
}

func (rr *randomRun) injector() {
	id := rr.newID()
	rr.injName = "s" + strconv.Itoa(id)
	rr.p.Go(rr.injName, func(ctx context.Context) error {
		select {
		case <-rr.injectNow:
			if rr.injPanic {
				panic(rr.panicVal)
			}
			return rr.injErr
		case <-ctx.Done():
			return nil
		}
	})
	rr.record(id, "go", map[bool]string{true: "panics", false: "fails"}[rr.injPanic], nil, nil)
}

func (rr *randomRun) applyEW(op ewOp, s rstream) rstream {
	inst := op.build(s.ch)
	return rstream{ch: inst.out, model: memo(func() *model { return inst.model(s.model()) })}
}

func (rr *randomRun) take(s rstream) rstream {
	n := rr.r.IntN(12)
	if rr.r.IntN(4) == 0 {
		n = rr.r.IntN(150)
	}
	id, o := rr.newStage(optCapacity)
	out := stream.Take(rr.p, s.ch, n, o.opts...)
	rr.markReleasable(s.ch)
	rr.record(id, "take", join(strconv.Itoa(n), o.desc), []any{s.ch}, []any{out})
	return rstream{ch: out, model: memo(func() *model { return s.model().take(n) })}
}

// markReleasable notes that the stages upstream of ch may be released before
// their input ends, so an error they return then may go unreported.
func (rr *randomRun) markReleasable(ch any) {
	for _, fn := range rr.up[ch] {
		fn.releasable = true
	}
	for _, id := range rr.upStages[ch] {
		rr.stageInfo(id).releasable = true
	}
}

// stageInfo is what the count checks need to know of a stage.
type stageInfo struct {
	name       string // "" for a default name: not found in Stats
	kind       string
	ins        []int // the stages whose outputs it reads, one per input
	outs       int
	dropOldest bool // a Buffer whose Out counts the elements it later drops
	releasable bool // a Take or First downstream may release it
}

func (rr *randomRun) stageInfo(id int) *stageInfo {
	if rr.stages[id] == nil {
		rr.stages[id] = &stageInfo{}
	}
	return rr.stages[id]
}

func (rr *randomRun) dropBuffer(s rstream) rstream {
	size := 1 + rr.r.IntN(6)
	policy := stream.DropNewest
	if rr.r.IntN(2) == 0 {
		policy = stream.DropOldest
	}
	id, o := rr.newStage(0)
	var mu sync.Mutex
	var dropped []rel
	opts := append(o.opts, stream.OnDrop(func(v rel) {
		mu.Lock()
		dropped = append(dropped, v)
		mu.Unlock()
	}))
	out := stream.Buffer(rr.p, s.ch, size, policy, opts...)
	rr.stageInfo(id).dropOldest = policy == stream.DropOldest
	rr.record(id, "buffer", join(strconv.Itoa(size), policy.String()), []any{s.ch}, []any{out})
	return rstream{ch: out, model: memo(func() *model {
		mu.Lock()
		defer mu.Unlock()
		return s.model().minus(dropped, func(v rel) {
			rr.violate("buffer %d dropped %v, which it never received or had dropped already", id, v)
		})
	})}
}

func (rr *randomRun) failBuffer(s rstream) rstream {
	size := 1 + rr.r.IntN(8)
	id := rr.newID()
	name := "s" + strconv.Itoa(id)
	rr.failNames = append(rr.failNames, name)
	rr.stageInfo(id).name = name
	out := stream.Buffer(rr.p, s.ch, size, stream.Fail, stream.Name(name))
	rr.record(id, "buffer", join(strconv.Itoa(size), "Fail"), []any{s.ch}, []any{out})
	return rstream{ch: out, model: s.model}
}

func (rr *randomRun) merge(ss []rstream) rstream {
	id, o := rr.newStage(optCapacity)
	ins := make([]<-chan rel, len(ss))
	keys := make([]any, len(ss))
	models := make([]func() *model, len(ss))
	for i, s := range ss {
		ins[i], keys[i], models[i] = s.ch, s.ch, s.model
	}
	out := stream.Merge(rr.p, ins, o.opts...)
	rr.record(id, "merge", o.desc, keys, []any{out})
	return rstream{ch: out, model: memo(func() *model {
		ms := make([]*model, len(models))
		for i, m := range models {
			ms[i] = m()
		}
		return mergeModels(ms)
	})}
}

// mergeChans merges the ends of branches inside an element-wise operator.
func (rr *randomRun) mergeChans(ins []<-chan rel) <-chan rel {
	id, o := rr.newStage(optCapacity)
	out := stream.Merge(rr.p, ins, o.opts...)
	keys := make([]any, len(ins))
	for i, in := range ins {
		keys[i] = in
	}
	rr.record(id, "merge", o.desc, keys, []any{out})
	return out
}

func (rr *randomRun) broadcast(s rstream) []rstream {
	n := 1 + rr.r.IntN(3)
	id, o := rr.newStage(optCapacity)
	outs := stream.Broadcast(rr.p, s.ch, n, o.opts...)
	rr.record(id, "broadcast", join(strconv.Itoa(n), o.desc), []any{s.ch}, chansAny(outs))
	streams := make([]rstream, n)
	for i, out := range outs {
		streams[i] = rstream{ch: out, model: s.model}
	}
	return streams
}

func chansAny[T any](chans []<-chan T) []any {
	keys := make([]any, len(chans))
	for i, ch := range chans {
		keys[i] = ch
	}
	return keys
}

// split adds a FanOut, or a Partition when keyMod > 0.
func (rr *randomRun) split(in <-chan rel, n int, keyMod uint32) []<-chan rel {
	outs, _ := rr.splitWith(in, n, keyMod, false)
	return outs
}

// splitWith is split, and with named true the stage always has a name,
// returned, and an OnDrop that records what it drops.
func (rr *randomRun) splitWith(in <-chan rel, n int, keyMod uint32, named bool) ([]<-chan rel, *dropLog) {
	id, o := rr.newStage(optCapacity)
	var drops *dropLog
	if named {
		if o.name == "" {
			o.name = "s" + strconv.Itoa(id)
			o.opts = append(o.opts, stream.Name(o.name))
			rr.stageInfo(id).name = o.name
		}
		drops = &dropLog{stage: o.name}
		o.opts = append(o.opts, stream.OnDrop(drops.add))
	}
	if keyMod == 0 {
		outs := stream.FanOut(rr.p, in, n, o.opts...)
		rr.record(id, "fanout", join(strconv.Itoa(n), o.desc), []any{in}, chansAny(outs))
		return outs, drops
	}
	fn := rr.newFn(id, o.name, "key", capPanic|capP21)
	outs := stream.Partition(rr.p, in, n, func(v rel) uint32 {
		_ = rr.enter(noContext, fn)
		return v.key % keyMod
	}, o.opts...)
	rr.record(id, "partition", join(strconv.Itoa(n), "key%"+strconv.Itoa(int(keyMod)), o.desc), []any{in}, chansAny(outs), fn)
	return outs, drops
}

// dropLog records the elements a stage passes to OnDrop.
type dropLog struct {
	stage string
	mu    sync.Mutex
	vals  []rel
}

func (d *dropLog) add(v rel) {
	d.mu.Lock()
	d.vals = append(d.vals, v)
	d.mu.Unlock()
}

// separate splits s with FanOut or Partition into branches that each run
// the same template and end in a sink of their own: together they must
// receive what one branch would have.
func (rr *randomRun) separate(s rstream) {
	t := rr.template(0)
	n := 1 + rr.r.IntN(4)
	var keyMod uint32
	if rr.r.IntN(2) == 0 {
		keyMod = 1 + uint32(rr.r.IntN(8))
	}
	g := &branchGroup{keyMod: keyMod}
	rr.groups = append(rr.groups, g)
	if n > 1 && rr.r.IntN(3) == 0 {
		rr.separateReleased(s, n, g)
		return
	}
	insts := make([]ewInst, n)
	for i, out := range rr.split(s.ch, n, keyMod) {
		inst := t.build(out)
		insts[i] = inst
		rr.sink(rstream{ch: inst.out, model: memo(func() *model {
			return inst.model(s.model().branchInput(0, false))
		})}, g)
	}
	g.union = memo(func() *model { return insts[0].model(s.model()) })
}

// separateReleased is separate with one branch cut short by a Take: the
// splitter drops what it would send to that branch once it is released, and
// what was left in its buffer, and goes on with the others. Every element is
// delivered once, or dropped and counted (the branches do nothing else to
// the elements, so counts can be compared).
func (rr *randomRun) separateReleased(s rstream, n int, g *branchGroup) {
	outs, drops := rr.splitWith(s.ch, n, g.keyMod, true)
	g.drops = drops
	g.union = s.model
	cut := rr.r.IntN(n)
	for i, out := range outs {
		branch := rstream{ch: out, model: memo(func() *model { return s.model().branchInput(0, false) })}
		if i == cut {
			branch = rr.take(branch)
		}
		rr.sink(branch, g)
	}
}

// ---- element-wise operators ----

// ewOp is an element-wise operator: what it does to each element does not
// depend on the others, so it can be built several times (the branches of
// a FanOut or Partition) with different options and the same function.
type ewOp struct {
	f     func(rel) []rel
	build func(in <-chan rel) ewInst
}

// ewInst is one built copy of an ewOp.
type ewInst struct {
	out   <-chan rel
	model func(in *model) *model
}

func identity(v rel) []rel { return []rel{v} }

// policy is an element-wise operator's error policy, part of its function
// (every built copy has it): elements whose call always fails, or always
// outlives its Timeout, are skipped by OnError; elements whose first call
// fails are recovered by Retry.
type policy struct {
	failSalt, slowSalt, flakySalt uint64
}

var (
	errPermanent = errors.New("permanent failure")
	errFlaky     = errors.New("transient failure")
)

const policyTimeout = 20 * time.Millisecond

func (rr *randomRun) genPolicy() policy {
	var pol policy
	if rr.r.IntN(8) == 0 {
		pol.failSalt = rr.r.Uint64() | 1
	}
	if rr.r.IntN(12) == 0 {
		pol.slowSalt = rr.r.Uint64() | 1
	}
	if rr.r.IntN(8) == 0 {
		pol.flakySalt = rr.r.Uint64() | 1
	}
	return pol
}

func (pol policy) fails(v rel) bool { return pol.failSalt != 0 && mix(v.val, pol.failSalt)%5 == 0 }
func (pol policy) slow(v rel) bool  { return pol.slowSalt != 0 && mix(v.val, pol.slowSalt)%7 == 0 }
func (pol policy) flaky(v rel) bool { return pol.flakySalt != 0 && mix(v.val, pol.flakySalt)%4 == 0 }
func (pol policy) skipping() bool   { return pol.failSalt != 0 || pol.slowSalt != 0 }

// filter makes f skip the elements the policy skips.
func (pol policy) filter(f func(rel) []rel) func(rel) []rel {
	if !pol.skipping() {
		return f
	}
	return func(v rel) []rel {
		if pol.fails(v) || pol.slow(v) {
			return nil
		}
		return f(v)
	}
}

// call is the failing part of a user function: tried records the elements
// that failed once already.
func (pol policy) call(ctx context.Context, v rel, tried *sync.Map) error {
	if pol.flaky(v) {
		if _, again := tried.LoadOrStore(v.val, true); !again {
			return errFlaky
		}
	}
	if pol.fails(v) {
		return errPermanent
	}
	if pol.slow(v) {
		<-ctx.Done() // the call's Timeout, or the stage's end
		return ctx.Err()
	}
	return nil
}

// policyOpts adds the options pol needs (and maybe a Retry it does not) to
// o, and returns what the stage's function may do: with OnError or Retry an
// injected error would be skipped or retried, so it is not injected; with
// Timeout a stall would time out.
func (rr *randomRun) policyOpts(pol policy, o *stageOpts) (fnCaps, *sync.Map) {
	caps := capAll
	var d []string
	if pol.skipping() {
		o.opts = append(o.opts, stream.OnError(func(rel, error) error { return nil }))
		d = append(d, "onerror")
		caps &^= capErr
	}
	if pol.slowSalt != 0 {
		o.opts = append(o.opts, stream.Timeout(policyTimeout))
		d = append(d, "timeout")
		caps &^= capStall
	}
	if pol.flakySalt != 0 || (pol.skipping() && rr.r.IntN(3) == 0) {
		r := stream.RetryPolicy{Attempts: 2 + rr.r.IntN(3), Initial: time.Millisecond, Max: 4 * time.Millisecond}
		if rr.r.IntN(2) == 0 {
			r.Jitter = -1
		}
		o.opts = append(o.opts, stream.Retry(r))
		d = append(d, fmt.Sprintf("retry%d", r.Attempts))
		caps &^= capErr
	}
	o.desc = join(o.desc, strings.Join(d, ","))
	return caps, new(sync.Map)
}

func (rr *randomRun) genEW(depth int) ewOp {
	x := rr.r.IntN(100)
	if depth >= 2 && x >= 80 {
		x = rr.r.IntN(80)
	}
	switch {
	case x < 22:
		return rr.mapOp()
	case x < 38:
		return rr.filterOp()
	case x < 54:
		return rr.flatMapOp()
	case x < 66:
		return rr.batchOp()
	case x < 73:
		return rr.blockBufferOp()
	case x < 80:
		return rr.throttleOp()
	case x < 87:
		return rr.splitOp(depth, 0)
	case x < 94:
		return rr.splitOp(depth, 1+uint32(rr.r.IntN(8)))
	default:
		return rr.broadcastOp(depth)
	}
}

// template is a chain of up to two element-wise operators.
func (rr *randomRun) template(depth int) ewOp {
	ops := make([]ewOp, rr.r.IntN(3))
	for i := range ops {
		ops[i] = rr.genEW(depth + 1)
	}
	return ewOp{
		f: func(v rel) []rel {
			vs := []rel{v}
			for _, op := range ops {
				var next []rel
				for _, v := range vs {
					next = append(next, op.f(v)...)
				}
				vs = next
			}
			return vs
		},
		build: func(in <-chan rel) ewInst {
			insts := make([]ewInst, len(ops))
			for i, op := range ops {
				insts[i] = op.build(in)
				in = insts[i].out
			}
			return ewInst{out: in, model: func(m *model) *model {
				for _, inst := range insts {
					m = inst.model(m)
				}
				return m
			}}
		},
	}
}

func (rr *randomRun) mapOp() ewOp {
	salt := rr.r.Uint64()
	pol := rr.genPolicy()
	f := func(v rel) rel { return rel{key: v.key, val: mix(v.val, salt)} }
	ff := pol.filter(func(v rel) []rel { return []rel{f(v)} })
	return ewOp{
		f: ff,
		build: func(in <-chan rel) ewInst {
			id, o := rr.newStage(optWorkers | optOrdered | optCapacity | optPolicy)
			caps, tried := rr.policyOpts(pol, &o)
			fn := rr.newFn(id, o.name, "map", caps)
			out := stream.Map(rr.p, in, func(ctx context.Context, v rel) (rel, error) {
				if err := rr.enter(ctx, fn); err != nil {
					return rel{}, err
				}
				if err := pol.call(ctx, v, tried); err != nil {
					return rel{}, err
				}
				return f(v), nil
			}, o.opts...)
			rr.record(id, "map", o.desc, []any{in}, []any{out}, fn)
			return ewInst{out: out, model: func(m *model) *model { return m.each(ff, o.order, !pol.skipping()) }}
		},
	}
}

func (rr *randomRun) filterOp() ewOp {
	salt := rr.r.Uint64()
	threshold := uint64(rr.r.IntN(9)) // keeps threshold/8 of the elements
	pol := rr.genPolicy()
	keep := func(v rel) bool { return mix(v.val, salt)%8 < threshold }
	f := pol.filter(func(v rel) []rel {
		if keep(v) {
			return []rel{v}
		}
		return nil
	})
	return ewOp{
		f: f,
		build: func(in <-chan rel) ewInst {
			id, o := rr.newStage(optWorkers | optOrdered | optCapacity | optPolicy)
			caps, tried := rr.policyOpts(pol, &o)
			fn := rr.newFn(id, o.name, "filter", caps)
			out := stream.Filter(rr.p, in, func(ctx context.Context, v rel) (bool, error) {
				if err := rr.enter(ctx, fn); err != nil {
					return false, err
				}
				if err := pol.call(ctx, v, tried); err != nil {
					return false, err
				}
				return keep(v), nil
			}, o.opts...)
			rr.record(id, "filter", join(fmt.Sprintf("%d/8", threshold), o.desc), []any{in}, []any{out}, fn)
			return ewInst{out: out, model: func(m *model) *model { return m.each(f, o.order, false) }}
		},
	}
}

func (rr *randomRun) flatMapOp() ewOp {
	salt := rr.r.Uint64()
	most := uint64(rr.r.IntN(4)) // children per element: 0..most
	pol := rr.genPolicy()
	kids := func(v rel) []rel {
		h := mix(v.val, salt)
		kids := make([]rel, h%(most+1))
		for j := range kids {
			kids[j] = rel{key: v.key, val: mix(h, uint64(j+1))}
		}
		return kids
	}
	f := pol.filter(kids)
	return ewOp{
		f: f,
		build: func(in <-chan rel) ewInst {
			id, o := rr.newStage(optWorkers | optOrdered | optCapacity | optPolicy)
			caps, tried := rr.policyOpts(pol, &o)
			fn := rr.newFn(id, o.name, "flatmap", caps)
			out := stream.FlatMap(rr.p, in, func(ctx context.Context, v rel, emit func(rel) error) error {
				if err := rr.enter(ctx, fn); err != nil {
					return err
				}
				// A failing call emits nothing: values emitted before a
				// failure are not taken back.
				if err := pol.call(ctx, v, tried); err != nil {
					return err
				}
				for _, k := range kids(v) {
					if err := emit(k); err != nil {
						return err
					}
				}
				return nil
			}, o.opts...)
			rr.record(id, "flatmap", join(fmt.Sprintf("0-%d", most), o.desc), []any{in}, []any{out}, fn)
			return ewInst{out: out, model: func(m *model) *model { return m.each(f, o.order, false) }}
		},
	}
}

// batchOp is Batch, a Map that checks every batch, and Flatten: the
// identity on elements.
func (rr *randomRun) batchOp() ewOp {
	return ewOp{f: identity, build: func(in <-chan rel) ewInst {
		size := 1 + rr.r.IntN(8)
		var wait time.Duration
		if rr.r.IntN(3) == 0 {
			wait = time.Duration(1+rr.r.IntN(5)) * time.Millisecond
		}
		id, o := rr.newStage(optCapacity)
		batches := stream.Batch(rr.p, in, size, wait, o.opts...)
		rr.record(id, "batch", join(strconv.Itoa(size), wait.String(), o.desc), []any{in}, []any{batches})
		probe := &batchProbe{id: id, size: size, timed: wait > 0}
		rr.probes = append(rr.probes, probe)
		pid, po := rr.newStage(optWorkers | optOrdered | optCapacity | optPolicy)
		fn := rr.newFn(pid, po.name, "probe", capAll)
		checked := stream.Map(rr.p, batches, func(ctx context.Context, b []rel) ([]rel, error) {
			if err := rr.enter(ctx, fn); err != nil {
				return nil, err
			}
			probe.add(len(b))
			return b, nil
		}, po.opts...)
		rr.record(pid, "map", join("probe", po.desc), []any{batches}, []any{checked}, fn)
		fid, fo := rr.newStage(optWorkers | optOrdered | optCapacity)
		out := stream.Flatten(rr.p, checked, fo.opts...)
		rr.record(fid, "flatten", fo.desc, []any{checked}, []any{out})
		order := keepsNone
		if po.order == keepsAll && fo.order == keepsAll {
			order = keepsAll
		}
		return ewInst{out: out, model: func(m *model) *model { return m.each(identity, order, true) }}
	}}
}

func (rr *randomRun) blockBufferOp() ewOp {
	return ewOp{f: identity, build: func(in <-chan rel) ewInst {
		size := 1 + rr.r.IntN(8)
		id, o := rr.newStage(0)
		out := stream.Buffer(rr.p, in, size, stream.Block, o.opts...)
		rr.record(id, "buffer", join(strconv.Itoa(size), "Block"), []any{in}, []any{out})
		return ewInst{out: out, model: func(m *model) *model { return m }}
	}}
}

func (rr *randomRun) throttleOp() ewOp {
	return ewOp{f: identity, build: func(in <-chan rel) ewInst {
		rate := []float64{200, 1000, 10000}[rr.r.IntN(3)]
		if !rr.fake {
			rate = 1e6
		}
		burst := 1 + rr.r.IntN(5)
		id, o := rr.newStage(optCapacity)
		out := stream.Throttle(rr.p, in, rate, burst, o.opts...)
		rr.record(id, "throttle", join(fmt.Sprintf("%g/s", rate), "burst"+strconv.Itoa(burst), o.desc), []any{in}, []any{out})
		return ewInst{out: out, model: func(m *model) *model { return m }}
	}}
}

// splitOp is FanOut (keyMod 0) or Partition into branches running the same
// template, merged back.
func (rr *randomRun) splitOp(depth int, keyMod uint32) ewOp {
	t := rr.template(depth)
	n := 1 + rr.r.IntN(4)
	return ewOp{f: t.f, build: func(in <-chan rel) ewInst {
		outs := rr.split(in, n, keyMod)
		insts := make([]ewInst, n)
		ends := make([]<-chan rel, n)
		for i, out := range outs {
			insts[i] = t.build(out)
			ends[i] = insts[i].out
		}
		return ewInst{out: rr.mergeChans(ends), model: func(m *model) *model {
			in := m.branchInput(keyMod, true)
			outs := make([]*model, n)
			for i, inst := range insts {
				outs[i] = inst.model(in)
			}
			r := *outs[0]
			r.ordered = n == 1 && outs[0].ordered
			r.groups = commonGroups(outs)
			return &r
		}}
	}}
}

// broadcastOp is Broadcast into branches running different templates,
// merged back: each element comes out once per branch.
func (rr *randomRun) broadcastOp(depth int) ewOp {
	ts := make([]ewOp, 1+rr.r.IntN(3))
	for i := range ts {
		ts[i] = rr.template(depth)
	}
	return ewOp{
		f: func(v rel) []rel {
			var vs []rel
			for _, t := range ts {
				vs = append(vs, t.f(v)...)
			}
			return vs
		},
		build: func(in <-chan rel) ewInst {
			id, o := rr.newStage(optCapacity)
			outs := stream.Broadcast(rr.p, in, len(ts), o.opts...)
			rr.record(id, "broadcast", join(strconv.Itoa(len(ts)), o.desc), []any{in}, chansAny(outs))
			insts := make([]ewInst, len(ts))
			ends := make([]<-chan rel, len(ts))
			for i, out := range outs {
				insts[i] = ts[i].build(out)
				ends[i] = insts[i].out
			}
			return ewInst{out: rr.mergeChans(ends), model: func(m *model) *model {
				ms := make([]*model, len(insts))
				for i, inst := range insts {
					ms[i] = inst.model(m)
				}
				return mergeModels(ms)
			}}
		},
	}
}

// ---- sinks ----

type sinkLog struct {
	id      int
	kind    string
	model   func() *model
	ordered bool // arrival order is the stream's order (one reader)
	first   bool // First: one element at most
	drain   bool // Drain: nothing observed
	mu      sync.Mutex
	obs     []rel
}

func (s *sinkLog) add(v rel) {
	s.mu.Lock()
	s.obs = append(s.obs, v)
	s.mu.Unlock()
}

// branchGroup is the sinks of the branches of one FanOut or Partition.
type branchGroup struct {
	keyMod uint32 // Partition's key is key % keyMod; 0 for FanOut
	union  func() *model
	sinks  []*sinkLog
	drops  *dropLog // when a branch is released early: what the splitter dropped
}

// batchProbe records the size of every batch of one Batch stage.
type batchProbe struct {
	id, size int
	timed    bool
	mu       sync.Mutex
	sizes    []int
}

func (b *batchProbe) add(n int) {
	b.mu.Lock()
	b.sizes = append(b.sizes, n)
	b.mu.Unlock()
}

// sink ends s with a ForEach or the caller's own loop.
func (rr *randomRun) sink(s rstream, g *branchGroup) {
	log := &sinkLog{model: s.model}
	rr.sinks = append(rr.sinks, log)
	if g != nil {
		g.sinks = append(g.sinks, log)
	}
	// A caller's loop reading a caller's channel leaves the pipeline out:
	// the feeder would stop when the pipeline ends, before the channel does.
	if rr.r.IntN(3) > 0 || rr.fed[s.ch] {
		id, o := rr.newStage(optWorkers | optPolicy)
		var pol policy
		if g == nil { // the branches of a group must receive what the group's model says
			pol = rr.genPolicy()
		}
		caps, tried := rr.policyOpts(pol, &o)
		if pol.skipping() {
			log.model = memo(func() *model { return s.model().each(pol.filter(identity), keepsAll, false) })
		}
		fn := rr.newFn(id, o.name, "foreach", caps)
		stream.ForEach(rr.p, s.ch, func(ctx context.Context, v rel) error {
			if err := rr.enter(ctx, fn); err != nil {
				return err
			}
			if err := pol.call(ctx, v, tried); err != nil {
				return err
			}
			log.add(v)
			return nil
		}, o.opts...)
		log.id, log.kind, log.ordered = id, "foreach", o.order == keepsAll
		rr.record(id, "foreach", o.desc, []any{s.ch}, nil, fn)
		return
	}
	id := rr.newID()
	log.id, log.kind, log.ordered = id, "caller", true
	rr.wg.Go(func() {
		for v := range s.ch {
			log.add(v)
		}
	})
	rr.record(id, "range", "", []any{s.ch}, nil)
}

// mainSink ends s with a blocking sink, run once the plan is set, or with
// an ordinary sink.
func (rr *randomRun) mainSink(s rstream) func() error {
	log := &sinkLog{model: s.model, ordered: true}
	kind := []string{"none", "collect", "reduce", "first", "drain"}[rr.r.IntN(5)]
	if kind == "none" {
		rr.sink(s, nil)
		return func() error { return nil }
	}
	rr.sinks = append(rr.sinks, log)
	log.id, log.kind = rr.newID(), kind
	rr.record(log.id, kind, "", []any{s.ch}, nil)
	switch kind {
	case "collect":
		return func() error {
			items, err := stream.Collect(rr.p, s.ch)
			log.obs = items
			return err
		}
	case "reduce":
		fn := rr.newFn(log.id, "", "reduce", capPanic|capP21)
		return func() error {
			acc, err := stream.Reduce(rr.p, s.ch, []rel(nil), func(acc []rel, v rel) []rel {
				_ = rr.enter(noContext, fn)
				return append(acc, v)
			})
			log.obs = acc
			return err
		}
	case "first":
		log.first = true
		rr.markReleasable(s.ch)
		return func() error {
			v, err := stream.First(rr.p, s.ch)
			if err == nil || v != (rel{}) {
				log.obs = []rel{v}
			}
			return err
		}
	default:
		log.drain = true
		return func() error { return stream.Drain(rr.p, s.ch) }
	}
}

// ---- the plan ----

// plan picks, once the pipeline is built, where the fault, the trigger and
// the stalls go.
func (rr *randomRun) plan() {
	plans := map[*fnNode]*fnPlan{}
	planOf := func(n *fnNode) *fnPlan {
		if plans[n] == nil {
			plans[n] = &fnPlan{}
		}
		return plans[n]
	}
	pick := func(caps fnCaps) *fnNode {
		var cands []*fnNode
		for _, n := range rr.fns {
			if n.caps&caps != 0 {
				cands = append(cands, n)
			}
		}
		if len(cands) == 0 {
			return nil
		}
		return cands[rr.r.IntN(len(cands))]
	}
	at := func(scale int) int64 { return 1 + int64(rr.r.IntN(scale+1)) }
	switch rr.mode {
	case modeFault:
		n := pick(capErr | capPanic)
		if n == nil {
			rr.mode = modeClean
			break
		}
		pl := planOf(n)
		pl.faultAt = at(rr.maxSource)
		pl.panic = n.caps&capErr == 0 || (n.caps&capPanic != 0 && rr.r.IntN(2) == 0)
		rr.planDesc = append(rr.planDesc, fmt.Sprintf("%s=%s@%d#%d", map[bool]string{true: "panic", false: "error"}[pl.panic], n.kind, n.id, pl.faultAt))
	}
	if (rr.mode == modeFault || rr.mode == modeInject) && rr.r.IntN(2) == 0 {
		for range 1 + rr.r.IntN(3) {
			if n := pick(capErr); n != nil {
				planOf(n).late = true
				rr.planDesc = append(rr.planDesc, fmt.Sprintf("late=%s#%d", n.kind, n.id))
			}
		}
	}
	switch rr.mode {
	case modeStop, modeCancel, modeInject:
		if rr.trigger == triggerData {
			if n := pick(capErr | capPanic | capStall | capP21); n != nil {
				pl := planOf(n)
				pl.triggerAt = at(rr.maxSource)
				rr.planDesc = append(rr.planDesc, fmt.Sprintf("trigger=%s@%d#%d", n.kind, n.id, pl.triggerAt))
			}
		}
		if rr.r.IntN(2) == 0 {
			for range 1 + rr.r.IntN(2) {
				n := pick(capStall)
				if n == nil {
					break
				}
				pl := planOf(n)
				pl.stallAt = at(rr.maxSource / 2)
				pl.stallTriggers = !rr.fake || rr.r.IntN(2) == 0
				rr.planDesc = append(rr.planDesc, fmt.Sprintf("stall=%s@%d#%d", n.kind, n.id, pl.stallAt))
			}
		}
	}
	for n, pl := range plans {
		n.plan.Store(pl)
	}
}

// ---- the model ----

// orderMode is what a stage keeps of its input's order.
type orderMode int

const (
	keepsAll  orderMode = iota // one worker, or Ordered
	keepsEach                  // several workers: only the values one call emits stay in order
	keepsNone
)

// model is what a stream carries.
type model struct {
	vals    []rel // exactly, or at most, these (a multiset)
	exact   bool
	ordered bool // vals is the exact order of the stream
	count   int  // the number of elements, or -1 when unknown
	groups  [][]rel
	// groups are sequences whose relative order the stream keeps: the
	// elements of a group that arrive, arrive in the group's order.
}

func sourceModel(items []rel) *model {
	m := &model{vals: items, exact: true, ordered: true, count: len(items)}
	if len(items) > 1 {
		m.groups = [][]rel{items}
	}
	return m
}

// each applies an element-wise function; oneToOne says it maps every element
// to one, which keeps a known count.
func (m *model) each(f func(rel) []rel, order orderMode, oneToOne bool) *model {
	out := &model{exact: m.exact, count: -1}
	kids := make(map[uint64][]rel, len(m.vals))
	for _, v := range m.vals {
		k, ok := kids[v.val]
		if !ok {
			k = f(v)
			kids[v.val] = k
		}
		out.vals = append(out.vals, k...)
	}
	switch {
	case m.exact:
		out.count = len(out.vals)
	case oneToOne:
		out.count = m.count
	}
	if order == keepsAll {
		out.ordered = m.ordered
		for _, g := range m.groups {
			var ng []rel
			for _, v := range g {
				ng = append(ng, kids[v.val]...)
			}
			if len(ng) > 1 {
				out.groups = append(out.groups, ng)
			}
		}
	}
	if order != keepsNone {
		for _, k := range kids {
			if len(k) > 1 {
				out.groups = append(out.groups, k)
			}
		}
	}
	return out
}

func mergeModels(ms []*model) *model {
	out := &model{exact: true, ordered: true}
	nonEmpty := 0
	for _, m := range ms {
		out.vals = append(out.vals, m.vals...)
		out.exact = out.exact && m.exact
		if m.count < 0 || out.count < 0 {
			out.count = -1
		} else {
			out.count += m.count
		}
		out.groups = append(out.groups, m.groups...)
		if len(m.vals) > 0 {
			nonEmpty++
			out.ordered = m.ordered
		}
	}
	if nonEmpty > 1 {
		out.ordered = false
	}
	return out
}

func (m *model) take(n int) *model {
	switch {
	case n == 0:
		return &model{exact: true, ordered: true}
	case m.exact && len(m.vals) <= n:
		return m
	case m.exact && m.ordered:
		return &model{vals: m.vals[:n], exact: true, ordered: true, count: n, groups: only(m.groups, counts(m.vals[:n]))}
	}
	out := &model{vals: m.vals, count: -1, groups: m.groups}
	if m.count >= 0 {
		out.count = min(n, m.count)
	}
	return out
}

// minus removes what a Buffer dropped; bad reports a drop of an element the
// Buffer never had.
func (m *model) minus(dropped []rel, bad func(rel)) *model {
	left := counts(m.vals)
	skip := map[uint64]int{}
	for _, d := range dropped {
		if left[d.val] == 0 {
			bad(d)
			continue
		}
		left[d.val]--
		skip[d.val]++
	}
	// Dropped elements leave the groups: merged with another stream that
	// has them, they would say where that stream's copy arrives (and of an
	// element held twice, which copy was dropped is unknown).
	kept := map[uint64]int{}
	for v, n := range left {
		if skip[v] == 0 {
			kept[v] = n
		}
	}
	out := &model{exact: m.exact, ordered: m.ordered, count: -1, groups: only(m.groups, kept)}
	for _, v := range m.vals {
		if skip[v.val] > 0 {
			skip[v.val]--
			continue
		}
		out.vals = append(out.vals, v)
	}
	if m.exact {
		out.count = len(out.vals)
	}
	return out
}

// only restricts groups to the elements in keep: a group must hold only
// elements of its own stream.
func only(groups [][]rel, keep map[uint64]int) [][]rel {
	var out [][]rel
	for _, g := range groups {
		var ng []rel
		for _, v := range g {
			if keep[v.val] > 0 {
				ng = append(ng, v)
			}
		}
		if len(ng) > 1 {
			out = append(out, ng)
		}
	}
	return out
}

// branchInput is what one branch of a FanOut or Partition gets. For a
// branch of its own (union false) that is any part of m, each group's
// elements in order. For the model of all branches merged back (union true)
// it is all of m, but only per-key groups survive the merge, and only for
// Partition (keyMod > 0), which sends a key to one branch.
func (m *model) branchInput(keyMod uint32, union bool) *model {
	if !union {
		return &model{vals: m.vals, count: -1, groups: m.groups}
	}
	out := &model{vals: m.vals, exact: m.exact, count: m.count}
	if keyMod > 0 {
		for _, g := range m.groups {
			byKey := map[uint32][]rel{}
			var keys []uint32
			for _, v := range g {
				k := v.key % keyMod
				if byKey[k] == nil {
					keys = append(keys, k)
				}
				byKey[k] = append(byKey[k], v)
			}
			for _, k := range keys {
				if len(byKey[k]) > 1 {
					out.groups = append(out.groups, byKey[k])
				}
			}
		}
	}
	return out
}

// commonGroups keeps the groups every branch keeps: branches built from one
// template differ in their options, so in what order they keep.
func commonGroups(ms []*model) [][]rel {
	key := func(g []rel) string {
		b := make([]byte, 0, 8*len(g))
		for _, v := range g {
			b = binary.LittleEndian.AppendUint64(b, v.val)
		}
		return string(b)
	}
	seen := map[string]int{}
	for _, m := range ms {
		local := map[string]bool{}
		for _, g := range m.groups {
			if k := key(g); !local[k] {
				local[k] = true
				seen[k]++
			}
		}
	}
	var common [][]rel
	for _, g := range ms[0].groups {
		if k := key(g); seen[k] == len(ms) {
			common = append(common, g)
			seen[k] = 0
		}
	}
	return common
}

func counts(vs []rel) map[uint64]int {
	c := make(map[uint64]int, len(vs))
	for _, v := range vs {
		c[v.val]++
	}
	return c
}

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
		if st.Dropped != 0 && info.kind != "buffer" && info.kind != "tick" {
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
		case s.kind == "collect" || s.kind == "reduce" || s.kind == "drain" || s.kind == "first":
			if rr.mainErr != rr.waitErr {
				rr.violate("%s returned %v, Wait %v", s.kind, rr.mainErr, rr.waitErr)
			}
		}
	}
}

func (rr *randomRun) checkSink(s *sinkLog, clean bool) {
	if s.drain {
		return
	}
	m := s.model()
	where := fmt.Sprintf("sink %d (%s)", s.id, s.kind)
	rr.checkMultiset(where, m, s.obs, clean && !s.first)
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

// eventLog is an Observer that counts the events of each stage.
type eventLog struct {
	mu      sync.Mutex
	counts  map[string]*eventCounts
	stopErr map[string]error
}

type eventCounts struct {
	started, stopped, failed, retried, dropped, panicked int64
}

func (l *eventLog) Observe(e stream.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
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
	if errors.As(rr.waitErr, &se) {
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
	return fmt.Sprintf("%d pipelines (%s), %d failed; %d ran clean with exact outputs; %d stages, %d elements received by sinks; %d faults fired, %d late failures, %d stalls, %d pipelines ended while blocked; %d retries, %d elements skipped, %d dropped",
		t.runs, strings.Join(modes, " "), t.failed, t.clean, t.stages, t.elements, t.faults, t.lates, t.stalls, t.quietEnds, t.retried, t.skipped, t.dropped)
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
