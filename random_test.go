package stream_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pipewright/stream"
)

// The randomized property test of issue 8 (extended for issue 11 with
// observers that panic, call runtime.Goexit or block, and user functions
// that call runtime.Goexit): random pipelines, built from a
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
					kickWatchdog() // a hang is in one seed: each gets the whole limit
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
	goexit                      bool // the fault is runtime.Goexit (as t.FailNow), not a panic
	late                        bool // fails once the pipeline's context is done
}

// errLate is what a late function returns once the pipeline was cancelled,
// instead of its context's error: Wait must still report the first error.
var errLate = errors.New("late failure after the pipeline was cancelled")

type firedFault struct {
	node    *fnNode
	panic   bool
	goexit  bool
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
		rr.planObserver()
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
		rr.fired.Store(&firedFault{node: n, panic: pl.panic, goexit: pl.goexit, ctxDone: ctx != nil && ctx.Err() != nil})
		if pl.goexit {
			runtime.Goexit()
		}
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
