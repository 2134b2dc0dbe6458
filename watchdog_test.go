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
// leaving out those only waiting for their subtests. One that has run the
// same test for longer than the limit (40s by default; longer than any test
// of this package takes under -race on a loaded machine, the soak test
// aside) is a hang: the watchdog panics, naming the test, with
// GOTRACEBACK=all, so the test binary fails and prints every goroutine.
//
// STREAM_TEST_WATCHDOG sets the limit (a Go duration; 0 turns the watchdog
// off, for a debugger). It is off while fuzzing: the fuzzing engine times
// out its inputs itself. Benchmarks are not watched (they run as long as
// -benchtime asks). A test that runs long on purpose calls allowLonger; one
// that loops over many runs calls kickWatchdog after each.

const defaultTestLimit = 40 * time.Second

// longTests holds the limits set by allowLonger, and kicks the times of
// the latest call of kickWatchdog, by goroutine id.
var longTests, kicks sync.Map // uint64 → time.Duration, time.Time

// kickWatchdog tells the watchdog that the calling test makes progress: its
// limit starts again from now. A test that loops over many short runs (of
// which any could hang) calls it once per run, from the test's own
// goroutine, so that a hang in one run is reported within the limit however
// long the whole loop takes on a loaded machine.
func kickWatchdog() {
	kicks.Store(currentGoroutine(), time.Now())
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
				if report := wd.check(allStacks(), now); report != "" {
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

// watchdog remembers since when each goroutine has been running its test.
type watchdog struct {
	limit time.Duration
	seen  map[uint64]runningTest
}

type runningTest struct {
	name  string
	since time.Time
}

func newWatchdog(limit time.Duration) *watchdog {
	return &watchdog{limit: limit, seen: make(map[uint64]runningTest)}
}

// check updates the watchdog with a dump of every goroutine's stack (as
// runtime.Stack(buf, true) writes it) taken at now, and returns a report
// naming the tests that have run for longer than their limit, or "".
func (wd *watchdog) check(stacks []byte, now time.Time) string {
	running := runningTests(stacks)
	var overdue []string
	for id, name := range running {
		r, ok := wd.seen[id]
		if !ok || r.name != name {
			r = runningTest{name, now}
			wd.seen[id] = r
		}
		since := r.since
		if k, ok := kicks.Load(id); ok && k.(time.Time).After(since) {
			since = k.(time.Time)
		}
		limit := wd.limit
		if d, ok := longTests.Load(id); ok {
			limit = max(limit, d.(time.Duration))
		}
		if ran := now.Sub(since); ran > limit {
			overdue = append(overdue, fmt.Sprintf("%s (goroutine %d) has run for %v", name, id, ran.Round(time.Second)))
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
	return fmt.Sprintf("watchdog: a test ran for longer than %v (STREAM_TEST_WATCHDOG; allowLonger for a long test), "+
		"so it hangs; the stacks of every goroutine follow:\n\t%s", wd.limit, strings.Join(overdue, "\n\t"))
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
// of this process while a subtest hangs, with a clock of its own: the hung
// subtest is reported once it has run for longer than the limit, and not
// before; its parent, waiting in t.Run, is not reported; allowLonger moves
// the limit of its caller.
func TestWatchdogFindsAHungTest(t *testing.T) {
	const limit = time.Minute
	wd := newWatchdog(limit)
	start := time.Now()
	hung, release := make(chan struct{}), make(chan struct{})
	var reports []string
	t.Run("hangs", func(t *testing.T) {
		go func() {
			<-hung // the subtest is blocked below, in its own goroutine
			reports = append(reports,
				wd.check(allStacks(), start),
				wd.check(allStacks(), start.Add(limit)),
				wd.check(allStacks(), start.Add(limit+time.Second)))
			close(release)
		}()
		close(hung)
		<-release
	})
	if len(reports) != 3 {
		t.Fatalf("got %d reports", len(reports))
	}
	if reports[0] != "" || reports[1] != "" {
		t.Errorf("reported before the limit: %q", reports[:2])
	}
	if r := reports[2]; !strings.Contains(r, "TestWatchdogFindsAHungTest.func1 (goroutine ") ||
		!strings.Contains(r, "has run for 1m1s") || strings.Count(r, "has run for") != 1 {
		t.Errorf("want the hung subtest, and it alone, reported: %q", r)
	}

	// This test's own goroutine runs the test: with allowLonger it is
	// reported only after its own limit.
	allowLonger(t, 2*limit)
	wd = newWatchdog(limit)
	me := fmt.Sprintf("(goroutine %d)", currentGoroutine())
	if r := wd.check(allStacks(), start); r != "" {
		t.Fatalf("reported at once: %q", r)
	}
	if r := wd.check(allStacks(), start.Add(limit+time.Second)); strings.Contains(r, me) {
		t.Errorf("reported within its allowLonger: %q", r)
	}
	if r := wd.check(allStacks(), start.Add(2*limit+time.Second)); !strings.Contains(r, "TestWatchdogFindsAHungTest "+me) {
		t.Errorf("not reported after its allowLonger: %q", r)
	}

	// kickWatchdog starts the limit again.
	wd = newWatchdog(limit)
	long := time.Now().Add(-3 * limit)
	if r := wd.check(allStacks(), long); r != "" {
		t.Fatalf("reported at once: %q", r)
	}
	kickWatchdog()
	if r := wd.check(allStacks(), time.Now().Add(time.Second)); strings.Contains(r, me) {
		t.Errorf("reported after a kick: %q", r)
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
