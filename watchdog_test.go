package stream_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The watchdog makes a hang anywhere in the package's tests fail within a
// minute, with every goroutine's stack, instead of after go test's
// 10-minute timeout. Every test needs nothing for it: TestMain starts it, and
// once a second it reads the stacks of all goroutines and finds the ones
// running a test (under testing.tRunner) or an example (testing.runExample),
// leaving out those only waiting for their subtests. A test hangs when it
// has run for longer than the limit (40s by default) either
//
//   - in CPU time of the process: it spins (an infinite source that nothing
//     releases), or
//   - in wall time while the process has been idle for the last 5s: it
//     waits for something that never comes (a deadlock);
//
// or, as a backstop, for four times the limit in wall time. A test that is
// merely slow on a loaded machine uses CPU all the while, and only its CPU
// time counts: no test of this package takes 40s of CPU, the soak test
// aside. On a hang the watchdog panics, naming the test, with
// GOTRACEBACK=all, so the test binary fails and prints every goroutine.
//
// STREAM_TEST_WATCHDOG sets the limit (a Go duration; 0 turns the watchdog
// off, for a debugger). It is off while fuzzing: the fuzzing engine times
// out its inputs itself. Benchmarks are not watched (they run as long as
// -benchtime asks). A test that runs long on purpose calls allowLonger; one
// that loops over many runs calls kickWatchdog after each.

const defaultTestLimit = 40 * time.Second

// longTests holds the limits set by allowLonger, and kicks the moment of
// the latest call of kickWatchdog, by goroutine id.
var longTests, kicks sync.Map // uint64 → time.Duration, moment

// A moment is a time and the process's CPU time then.
type moment struct {
	at  time.Time
	cpu time.Duration
}

// Watchdog parameters besides the limit.
const (
	idleWindow = 5 * time.Second // the process is idle if it used
	idleCPU    = idleWindow / 10 // less than this CPU time in the last idleWindow
	backstop   = 4               // times the limit in wall time: a hang whatever the CPU
)

// kickWatchdog tells the watchdog that the calling test makes progress: its
// limit starts again from now. A test that loops over many short runs (of
// which any could hang) calls it once per run, from the test's own
// goroutine, so that a hang in one run is reported within the limit however
// long the whole loop takes on a loaded machine.
func kickWatchdog() {
	kicks.Store(currentGoroutine(), moment{time.Now(), processCPU()})
}

// allowLonger lets the calling test (not its subtests) run for d before the
// watchdog reports it. Call it from the test's own goroutine.
func allowLonger(t *testing.T, d time.Duration) {
	t.Helper()
	id := currentGoroutine()
	longTests.Store(id, d)
	t.Cleanup(func() { longTests.Delete(id) })
}

// watchedM runs the tests of m under the watchdog. goleak checks for leaks
// after Run returns, when the watchdog has stopped.
type watchedM struct{ m *testing.M }

func (w watchedM) Run() int {
	limit, err := watchdogLimit()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if limit <= 0 || fuzzing() {
		return w.m.Run()
	}
	stop := startWatchdog(limit, time.Second, func(report string) {
		debug.SetTraceback("all")
		panic(report)
	})
	defer stop()
	return w.m.Run()
}

func watchdogLimit() (time.Duration, error) {
	s := os.Getenv("STREAM_TEST_WATCHDOG")
	if s == "" {
		return defaultTestLimit, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("STREAM_TEST_WATCHDOG=%q: want a Go duration such as 90s, or 0 for none", s)
	}
	return d, nil
}

// fuzzing reports whether the binary runs as a fuzzing coordinator or
// worker.
func fuzzing() bool {
	if !flag.Parsed() {
		flag.Parse()
	}
	for _, name := range []string{"test.fuzz", "test.fuzzworker"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" && f.Value.String() != "false" {
			return true
		}
	}
	return false
}

// startWatchdog checks the goroutines every period, and calls onHang once
// with a report when a test has run for longer than limit.
func startWatchdog(limit, period time.Duration, onHang func(report string)) (stop func()) {
	wd := newWatchdog(limit)
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		ticker := time.NewTicker(period)
		defer ticker.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-ticker.C:
				if report := wd.check(allStacks(), moment{now, processCPU()}); report != "" {
					onHang(report)
					return
				}
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}

// watchdog remembers since when each goroutine has been running its test,
// and the process's recent CPU time.
type watchdog struct {
	limit   time.Duration
	seen    map[uint64]runningTest
	history []moment // the checks of the last idleWindow or so, oldest first
}

type runningTest struct {
	name  string
	since moment
}

func newWatchdog(limit time.Duration) *watchdog {
	return &watchdog{limit: limit, seen: make(map[uint64]runningTest)}
}

// check updates the watchdog with a dump of every goroutine's stack (as
// runtime.Stack(buf, true) writes it) taken at now, and returns a report
// naming the tests that hang, or "".
func (wd *watchdog) check(stacks []byte, now moment) string {
	idle := wd.idle(now)
	running := runningTests(stacks)
	var overdue []string
	for id, name := range running {
		r, ok := wd.seen[id]
		if !ok || r.name != name {
			r = runningTest{name, now}
			wd.seen[id] = r
		}
		since := r.since
		if k, ok := kicks.Load(id); ok && k.(moment).at.After(since.at) {
			since = k.(moment)
		}
		limit := wd.limit
		if d, ok := longTests.Load(id); ok {
			limit = max(limit, d.(time.Duration))
		}
		wall, cpu := now.at.Sub(since.at), now.cpu-since.cpu
		if cpu > limit || wall > limit && idle || wall > backstop*limit {
			overdue = append(overdue, fmt.Sprintf("%s (goroutine %d) has run for %v (the process used %v of CPU meanwhile, idle for the last %v: %v)",
				name, id, wall.Round(time.Second), cpu.Round(time.Second), idleWindow, idle))
		}
	}
	for id := range wd.seen {
		if _, ok := running[id]; !ok {
			delete(wd.seen, id)
			kicks.Delete(id)
		}
	}
	if len(overdue) == 0 {
		return ""
	}
	slices.Sort(overdue)
	return fmt.Sprintf("watchdog: a test ran for longer than %v in CPU time, or idle (STREAM_TEST_WATCHDOG; allowLonger for a long test), "+
		"so it hangs; the stacks of every goroutine follow:\n\t%s", wd.limit, strings.Join(overdue, "\n\t"))
}

// idle records now and reports whether the process used less than idleCPU
// of CPU time over the last idleWindow (false until there is a check that
// old).
func (wd *watchdog) idle(now moment) bool {
	wd.history = append(wd.history, now)
	from := -1 // the latest check at least idleWindow old
	for i, m := range wd.history {
		if now.at.Sub(m.at) >= idleWindow {
			from = i
		}
	}
	if from < 0 {
		return false
	}
	wd.history = wd.history[from:] // older checks are not needed any more
	return now.cpu-wd.history[0].cpu < idleCPU
}

// runningTests returns, by goroutine id, the function of each goroutine of
// the dump that runs a test or an example and is not merely waiting for its
// subtests or for its turn to run in parallel.
func runningTests(stacks []byte) map[uint64]string {
	tests := make(map[uint64]string)
	for g := range bytes.SplitSeq(stacks, []byte("\n\n")) {
		header, body, _ := bytes.Cut(g, []byte("\n"))
		idText, ok := bytes.CutPrefix(header, []byte("goroutine "))
		if !ok {
			continue
		}
		idText, _, _ = bytes.Cut(idText, []byte(" "))
		id, err := strconv.ParseUint(string(idText), 10, 64)
		if err != nil {
			continue
		}
		var frames []string // function names, innermost first
		for line := range strings.SplitSeq(string(body), "\n") {
			if line == "" || strings.HasPrefix(line, "\t") || strings.HasPrefix(line, "created by ") {
				continue
			}
			if i := strings.LastIndexByte(line, '('); i > 0 && strings.HasSuffix(line, ")") {
				line = line[:i] // the arguments
			}
			frames = append(frames, line)
		}
		runner := slices.IndexFunc(frames, func(f string) bool {
			return f == "testing.tRunner" || f == "testing.runExample"
		})
		if runner < 1 || slices.ContainsFunc(frames[:runner], waitsForOthers) {
			continue
		}
		if frames[runner-1] == "testing.tRunner.func1" && !slices.ContainsFunc(frames[:runner], func(f string) bool {
			return strings.HasSuffix(f, ".runCleanup")
		}) {
			continue // the test has returned and waits for its parallel subtests
		}
		tests[id] = frames[runner-1]
	}
	return tests
}

// waitsForOthers reports whether a frame is a test waiting for its subtests
// or for its turn to run in parallel.
func waitsForOthers(frame string) bool {
	return frame == "testing.(*T).Run" || frame == "testing.(*T).Parallel"
}

// allStacks returns the stacks of every goroutine.
func allStacks() []byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// currentGoroutine returns the id of the calling goroutine.
func currentGoroutine() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b, _ = bytes.CutPrefix(b, []byte("goroutine "))
	b, _, _ = bytes.Cut(b, []byte(" "))
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}

// TestWatchdogFindsAHungTest runs the watchdog's check on the real stacks
// of this process while a subtest hangs, with a clock and a CPU time of its
// own: the hung subtest is reported once it has run for longer than the
// limit with the process idle, and not before; its parent, waiting in
// t.Run, is not reported. A test that keeps the process busy is reported
// by its CPU time, however short in wall time, and a slow one, busy but
// below the limit in CPU time, only by the backstop. allowLonger and
// kickWatchdog move the limit of their caller.
func TestWatchdogFindsAHungTest(t *testing.T) {
	const limit = time.Minute
	start := time.Now()
	at := func(wall, cpu time.Duration) moment { return moment{start.Add(wall), cpu} }
	hung, release := make(chan struct{}), make(chan struct{})
	var stacks []byte
	var subID uint64
	t.Run("hangs", func(t *testing.T) {
		subID = currentGoroutine()
		go func() {
			<-hung // the subtest is blocked below, in its own goroutine
			stacks = allStacks()
			close(release)
		}()
		close(hung)
		<-release
	})
	sub := fmt.Sprintf("(goroutine %d) has run for", subID)
	cases := []struct {
		name   string
		checks []moment
		want   bool // the subtest is reported at the last check
	}{
		{"idle, at the limit", []moment{at(0, 0), at(limit, 0)}, false},
		{"idle, past the limit", []moment{at(0, 0), at(limit, 0), at(limit+time.Second, time.Second/10)}, true},
		{"busy, past the limit in CPU time", []moment{at(0, 0), at(10*time.Second, limit+time.Second)}, true},
		{"busy and slow, past the limit in wall time only", []moment{at(0, 0), at(limit, limit/2), at(limit+time.Second, limit/2+time.Second)}, false},
		{"busy and slow, past the backstop", []moment{at(0, 0), at(backstop*limit+time.Second, limit/2)}, true},
	}
	for _, c := range cases {
		wd := newWatchdog(limit)
		var r string
		for _, m := range c.checks {
			r = wd.check(stacks, m)
		}
		if got := strings.Contains(r, sub); got != c.want {
			t.Errorf("%s: reported %v, want %v: %q", c.name, got, c.want, r)
		}
		if strings.Count(r, "has run for") > 1 {
			t.Errorf("%s: more than the hung subtest reported: %q", c.name, r)
		}
	}

	// This test's own goroutine runs the test: with allowLonger it is
	// reported only after its own limit.
	allowLonger(t, 2*limit)
	me := fmt.Sprintf("TestWatchdogFindsAHungTest (goroutine %d)", currentGoroutine())
	wd := newWatchdog(limit)
	stacks = allStacks()
	wd.check(stacks, at(0, 0))
	if r := wd.check(stacks, at(limit+time.Second, 0)); strings.Contains(r, me) {
		t.Errorf("reported within its allowLonger: %q", r)
	}
	if r := wd.check(stacks, at(2*limit+time.Second, 0)); !strings.Contains(r, me) {
		t.Errorf("not reported after its allowLonger: %q", r)
	}

	// kickWatchdog starts the limit again.
	wd = newWatchdog(limit)
	now := moment{time.Now(), processCPU()}
	wd.check(stacks, moment{now.at.Add(-3 * limit), now.cpu})
	kickWatchdog()
	if r := wd.check(stacks, moment{now.at.Add(time.Second), now.cpu}); strings.Contains(r, me) {
		t.Errorf("reported after a kick: %q", r)
	}
	if r := wd.check(stacks, moment{now.at.Add(2*limit + 2*time.Second), now.cpu}); !strings.Contains(r, me) {
		t.Errorf("not reported a limit after the kick: %q", r)
	}
}

// TestWatchdogParsesStacks checks the parsing on a fixed dump: tests and
// examples are found, parents waiting for subtests and parallel tests
// waiting for their turn or for their parallel subtests are not, nor
// goroutines that run no test.
func TestWatchdogParsesStacks(t *testing.T) {
	dump := `goroutine 1 [chan receive]:
testing.(*T).Run(0xc000003880, {0x6ab1c2, 0xb}, 0x6c8f30)
	/go/src/testing/testing.go:2005 +0x485
testing.runTests.func1(0xc000003880)
	/go/src/testing/testing.go:2477 +0x37

goroutine 7 [select]:
github.com/pipewright/stream_test.TestHangs.func2({0x0?, 0x0?})
	/w/x_test.go:12 +0x25
github.com/pipewright/stream_test.TestHangs(0xc000003a40)
	/w/x_test.go:10 +0x25
testing.tRunner(0xc000003a40, 0x6c8f30)
	/go/src/testing/testing.go:1934 +0xea
created by testing.(*T).Run in goroutine 1
	/go/src/testing/testing.go:1997 +0x465

goroutine 8 [chan receive]:
testing.(*T).Parallel(0xc000003c00)
	/go/src/testing/testing.go:1700 +0x21
github.com/pipewright/stream_test.TestWaits(0xc000003c00)
	/w/x_test.go:20 +0x25
testing.tRunner(0xc000003c00, 0x6c8f38)
	/go/src/testing/testing.go:1934 +0xea

goroutine 11 [chan receive]:
testing.tRunner.func1()
	/go/src/testing/testing.go:1900 +0x21
testing.tRunner(0xc000003d00, 0x6c8f38)
	/go/src/testing/testing.go:1934 +0xea

goroutine 12 [chan receive]:
github.com/pipewright/stream_test.TestCleanupHangs.func1()
	/w/x_test.go:40 +0x25
testing.(*common).Cleanup.func1()
	/go/src/testing/testing.go:1200 +0x21
testing.(*common).runCleanup(0xc000003e00, 0x0)
	/go/src/testing/testing.go:1500 +0x21
testing.tRunner.func2()
	/go/src/testing/testing.go:1910 +0x21
testing.tRunner(0xc000003e00, 0x6c8f38)
	/go/src/testing/testing.go:1934 +0xea

goroutine 9 [chan receive]:
github.com/pipewright/stream_test.ExampleHangs()
	/w/x_test.go:30 +0x25
testing.runExample({{0x6a0e1a, 0xc}, 0x6c8f40, {0x0, 0x0}, 0x0})
	/go/src/testing/run_example.go:63 +0x2b4

goroutine 10 [chan send]:
github.com/pipewright/stream.(*stage).start.func1()
	/w/stage.go:180 +0x25
golang.org/x/sync/errgroup.(*Group).Go.func1()
	/m/errgroup.go:93 +0x50
`
	got := runningTests([]byte(dump))
	want := map[uint64]string{
		7:  "github.com/pipewright/stream_test.TestHangs",
		9:  "github.com/pipewright/stream_test.ExampleHangs",
		12: "testing.tRunner.func2", // a cleanup that hangs
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("runningTests = %v, want %v", got, want)
	}
}
