package streamnats_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The tests of this file run examples/worker as real processes against one
// embedded server, as an outside user would: go build once, then exec.
// Set STREAMNATS_FULL=1 for the full-size runs (20,000 messages, and the
// throughput of 1, 2 and 4 workers); CI runs smaller ones.

func full() bool { return os.Getenv("STREAMNATS_FULL") != "" }

var worker struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// workerBinary builds examples/worker once per test binary.
func workerBinary(t testing.TB) string {
	t.Helper()
	worker.once.Do(func() {
		worker.dir, worker.err = os.MkdirTemp("", "streamnats-worker")
		if worker.err != nil {
			return
		}
		worker.bin = filepath.Join(worker.dir, "worker")
		out, err := exec.Command("go", "build", "-o", worker.bin, "./examples/worker").CombinedOutput()
		if err != nil {
			worker.err = fmt.Errorf("go build ./examples/worker: %v\n%s", err, out)
		}
	})
	if worker.err != nil {
		t.Fatal(worker.err)
	}
	return worker.bin
}

func removeWorkerBinary() {
	if worker.dir != "" {
		os.RemoveAll(worker.dir)
	}
}

// tally counts the IDs the workers wrote.
type tally struct {
	mu    sync.Mutex
	seen  map[string]int
	lines int
	first time.Time // when the first ID arrived
}

func newTally() *tally { return &tally{seen: map[string]int{}} }

func (tl *tally) add(id string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if tl.lines == 0 {
		tl.first = time.Now()
	}
	tl.seen[id]++
	tl.lines++
}

func (tl *tally) counts() (distinct, lines int) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return len(tl.seen), tl.lines
}

// proc is one running worker process.
type proc struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	mu     sync.Mutex
	lines  int
	read   chan struct{} // closed when its stdout is read to the end
	exited chan error    // the result of cmd.Wait, once
}

func (w *proc) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lines
}

// startWorker starts a worker process bound to consumer of streamName,
// its IDs counted in tl. It is killed at the end of the test if still
// running.
func startWorker(t *testing.T, e *env, streamName, consumer string, tl *tally) *proc {
	t.Helper()
	w := &proc{
		cmd:    exec.Command(workerBinary(t), "-url", e.srv.ClientURL(), "-stream", streamName, "-consumer", consumer),
		read:   make(chan struct{}),
		exited: make(chan error, 1),
	}
	w.cmd.Stderr = &w.stderr
	stdout, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(w.read)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			tl.add(sc.Text())
			w.mu.Lock()
			w.lines++
			w.mu.Unlock()
		}
	}()
	go func() {
		<-w.read // Wait closes stdout: read it all first
		w.exited <- w.cmd.Wait()
	}()
	t.Cleanup(func() {
		w.cmd.Process.Kill()
		<-w.read
	})
	return w
}

// stop sends sig and waits for the process to exit, returning its result.
func (w *proc) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := w.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-w.exited:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("worker did not exit within 30s of %v; stderr:\n%s", sig, w.stderr.String())
		return nil
	}
}

// Crash, nothing lost: two workers share the consumer, one is killed with
// SIGKILL mid-stream, a third starts; every message is processed at least
// once and acknowledged, and the others drain and exit 0 on SIGTERM.
func TestWorkers_SIGKILLMidStreamLosesNothing(t *testing.T) {
	n := 2000
	if full() {
		n = 20000
	}
	e := newEnv(t)
	e.stream(t, "JOBS")
	c := e.consumer(t, "JOBS", "workers", 2*time.Second)
	e.publish(t, "JOBS.x", n)

	tl := newTally()
	a := startWorker(t, e, "JOBS", "workers", tl)
	b := startWorker(t, e, "JOBS", "workers", tl)
	eventually(t, 60*time.Second, "worker A processed a tenth", func() bool { return a.count() >= n/10 })
	if err := a.stop(t, syscall.SIGKILL); err == nil {
		t.Fatal("worker A exited cleanly: want it killed")
	}
	atKill, _ := tl.counts()
	if atKill >= n {
		t.Fatalf("every message was processed before the kill: not mid-stream")
	}
	killedAt := time.Now()
	c3 := startWorker(t, e, "JOBS", "workers", tl)
	eventually(t, 120*time.Second, "every message processed and acknowledged", func() bool {
		distinct, _ := tl.counts()
		return distinct == n && settledAll(t, c, n)()
	})
	recovered := time.Since(killedAt)
	for _, w := range []*proc{b, c3} {
		if err := w.stop(t, syscall.SIGTERM); err != nil {
			t.Fatalf("worker after SIGTERM: %v; stderr:\n%s", err, w.stderr.String())
		}
	}
	if ci := info(t, c); ci.NumAckPending != 0 || ci.NumPending != 0 {
		t.Fatalf("after the drain: %d pending acknowledgement, %d pending", ci.NumAckPending, ci.NumPending)
	}
	distinct, lines := tl.counts()
	t.Logf("crash: %d messages; A (killed) wrote %d IDs, B %d, C %d; %d distinct when A was killed; "+
		"all %d processed and acknowledged %v after the kill (AckWait 2s); duplicates %d",
		n, a.count(), b.count(), c3.count(), atKill, distinct, recovered.Round(time.Millisecond), lines-distinct)
}

// SIGTERM mid-stream: the worker drains and exits 0, every ID it wrote is
// acknowledged and nothing it did not write is; a second worker then
// processes exactly the rest: no duplicate, no loss.
func TestWorkers_SIGTERMDrainsAndExitsZero(t *testing.T) {
	n := 2000
	if full() {
		n = 20000
	}
	e := newEnv(t)
	e.stream(t, "JOBS")
	c := e.consumer(t, "JOBS", "workers", 30*time.Second)
	e.publish(t, "JOBS.x", n)

	tl := newTally()
	a := startWorker(t, e, "JOBS", "workers", tl)
	eventually(t, 60*time.Second, "the worker processed a tenth", func() bool { return a.count() >= n/10 })
	if err := a.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("worker after SIGTERM: %v; stderr:\n%s", err, a.stderr.String())
	}
	written := a.count()
	if written >= n {
		t.Fatal("the worker processed everything before SIGTERM: not mid-stream")
	}
	eventually(t, 10*time.Second, "exactly what the worker wrote is acknowledged", func() bool {
		ci := info(t, c)
		return ci.AckFloor.Stream == uint64(written) && ci.NumAckPending == 0
	})
	b := startWorker(t, e, "JOBS", "workers", tl)
	eventually(t, 60*time.Second, "every message processed and acknowledged", func() bool {
		distinct, _ := tl.counts()
		return distinct == n && settledAll(t, c, n)()
	})
	if err := b.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("second worker after SIGTERM: %v", err)
	}
	if distinct, lines := tl.counts(); lines != n {
		t.Fatalf("%d lines for %d messages: %d duplicates after a drain", lines, distinct, lines-distinct)
	}
	t.Logf("drain: %d messages; SIGTERM after %d written, all %d acknowledged, exit 0; the second worker wrote the other %d; duplicates 0",
		n, written, written, b.count())
}

// Throughput of 1, 2 and 4 worker processes sharing one consumer, each
// count run three times (the median logged), with the CPU time the workers
// and this process (the embedded server, mostly) spent per message.
func TestWorkers_Throughput(t *testing.T) {
	if !full() {
		t.Skip("set STREAMNATS_FULL=1 to measure the throughput of worker processes")
	}
	const n, runs = 100000, 3
	e := newEnv(t)
	e.stream(t, "JOBS")
	e.publish(t, "JOBS.x", n)
	for _, k := range []int{1, 2, 4} {
		var rates []float64
		var workerCPU, serverCPU time.Duration
		for r := range runs {
			name := fmt.Sprintf("tp%d-%d", k, r)
			c := e.consumer(t, "JOBS", name, 30*time.Second, func(cc *jetstream.ConsumerConfig) { cc.MaxAckPending = 4096 })
			tl := newTally()
			cpu0 := selfCPU()
			var ws []*proc
			for range k {
				ws = append(ws, startWorker(t, e, "JOBS", name, tl))
			}
			eventually(t, 120*time.Second, "every message acknowledged", settledAll(t, c, n))
			end := time.Now()
			serverCPU += selfCPU() - cpu0
			for _, w := range ws {
				if err := w.stop(t, syscall.SIGTERM); err != nil {
					t.Fatalf("worker after SIGTERM: %v", err)
				}
				workerCPU += w.cmd.ProcessState.UserTime() + w.cmd.ProcessState.SystemTime()
			}
			distinct, lines := tl.counts()
			if distinct != n || lines != n {
				t.Fatalf("%d workers: %d distinct IDs in %d lines, want %d", k, distinct, lines, n)
			}
			tl.mu.Lock()
			first := tl.first
			tl.mu.Unlock()
			rates = append(rates, float64(n)/end.Sub(first).Seconds())
		}
		slices.Sort(rates)
		per := func(d time.Duration) time.Duration { return d / (runs * n) }
		t.Logf("throughput: %d worker(s): median %.0f msgs/s (runs %.0f, %.0f, %.0f); CPU per message: workers %v, server and test %v",
			k, rates[runs/2], rates[0], rates[1], rates[2], per(workerCPU), per(serverCPU))
	}
}

// selfCPU is the CPU time this process has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// The worker's output is a fixed contract: a message's Nats-Msg-Id, or its
// bare stream sequence number when it has none (not Message.ID's
// "STREAM:seq" fallback, which is for Publish's de-duplication).
func TestWorkers_WriteTheIDOrTheSequenceNumber(t *testing.T) {
	e := newEnv(t)
	e.stream(t, "JOBS")
	ctx := testCtx(t, 30*time.Second)
	if _, err := e.js.Publish(ctx, "JOBS.x", []byte("a"), jetstream.WithMsgID("first")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.js.Publish(ctx, "JOBS.x", []byte("b")); err != nil { // no Nats-Msg-Id
		t.Fatal(err)
	}
	tl := newTally()
	w := startWorker(t, e, "JOBS", "workers", tl)
	eventually(t, 60*time.Second, "both messages written", func() bool { return w.count() >= 2 })
	if err := w.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("worker after SIGTERM: %v; stderr:\n%s", err, w.stderr.String())
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if tl.lines != 2 || tl.seen["first"] != 1 || tl.seen["2"] != 1 {
		t.Fatalf("worker wrote %v, want first and 2 once each", tl.seen)
	}
}
