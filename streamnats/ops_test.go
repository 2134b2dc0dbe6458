package streamnats_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pipewright/stream"
	"github.com/pipewright/stream/streamnats"
)

// Filter acknowledges what it leaves out; what it keeps is acknowledged
// by the sink.
func TestFilter_AcknowledgesWhatItLeavesOut(t *testing.T) {
	e := newEnv(t)
	e.stream(t, "T")
	c := e.consumer(t, "T", "c", 30*time.Second)
	const n = 100
	e.publish(t, "T.x", n)

	p := stream.New(testCtx(t, 30*time.Second))
	var kept atomic.Int64
	msgs := streamnats.Source(p, c)
	even := streamnats.Filter(p, msgs, func(_ context.Context, m streamnats.Message) (bool, error) {
		return m.Sequence%2 == 0, nil
	})
	streamnats.ForEach(p, even, func(context.Context, streamnats.Message) error { kept.Add(1); return nil })
	eventually(t, 10*time.Second, "all messages acknowledged", settledAll(t, c, n))
	p.Stop()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if kept.Load() != n/2 {
		t.Fatalf("kept %d, want %d", kept.Load(), n/2)
	}
}

// A FlatMap's message is acknowledged only when every value it emitted was
// finished with, and at once when it emitted none.
func TestFlatMap_AcknowledgesAfterEveryEmittedValue(t *testing.T) {
	e := newEnv(t)
	e.stream(t, "T")
	c := e.consumer(t, "T", "c", 30*time.Second)
	e.publish(t, "T.x", 2) // "0" emits nothing, "1" emits three values

	p := stream.New(testCtx(t, 30*time.Second))
	release := make(chan struct{})
	msgs := streamnats.Source(p, c)
	parts := streamnats.FlatMap(p, msgs, func(_ context.Context, m streamnats.Message, emit func(string) error) error {
		k, _ := strconv.Atoi(string(m.Data))
		for i := range 3 * k {
			if err := emit(fmt.Sprint(i)); err != nil {
				return err
			}
		}
		return nil
	})
	var done atomic.Int64
	streamnats.ForEach(p, parts, func(ctx context.Context, v string) error {
		if v == "2" { // the last part of message 2 waits
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		done.Add(1)
		return nil
	})
	eventually(t, 10*time.Second, "message 1 acknowledged and two parts of 2 done", func() bool {
		ci := info(t, c)
		return ci.AckFloor.Stream == 1 && done.Load() == 2
	})
	if ci := info(t, c); ci.NumAckPending != 1 {
		t.Fatalf("ack pending %d, want message 2 unacknowledged while a part is open", ci.NumAckPending)
	}
	close(release)
	eventually(t, 10*time.Second, "all messages acknowledged", settledAll(t, c, 2))
	p.Stop()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
}

// A batch carries the ties of all its elements: a failed batch NAKs every
// one of its messages, a finished one acknowledges them all.
func TestBatch_SettlesEveryMessageOfTheBatch(t *testing.T) {
	e := newEnv(t)
	e.stream(t, "T")
	c := e.consumer(t, "T", "c", 30*time.Second)
	const n = 100
	e.publish(t, "T.x", n)

	p := stream.New(testCtx(t, 30*time.Second))
	var mu sync.Mutex
	deliveries := map[string]int{}
	var failedOnce atomic.Bool
	msgs := streamnats.Source(p, c, streamnats.NakDelay(time.Millisecond, time.Millisecond))
	batches := streamnats.Batch(p, msgs, 10, 20*time.Millisecond)
	streamnats.ForEach(p, batches, func(_ context.Context, b []streamnats.Message) error {
		mu.Lock()
		for _, m := range b {
			deliveries[m.ID]++
		}
		mu.Unlock()
		if failedOnce.CompareAndSwap(false, true) {
			return errors.New("the first batch fails")
		}
		return nil
	})
	eventually(t, 10*time.Second, "all messages acknowledged", settledAll(t, c, n))
	p.Stop()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	twice := 0
	for i := range n {
		switch deliveries[id(i)] {
		case 1:
		case 2:
			twice++
		default:
			t.Fatalf("%s processed %d times", id(i), deliveries[id(i)])
		}
	}
	if twice == 0 || twice > 10 {
		t.Fatalf("%d messages processed twice, want those of the first batch (1..10)", twice)
	}
}

// OnError: nil skips and acknowledges, ErrRedeliver NAKs, another error
// fails the pipeline and leaves the message unacknowledged.
func TestOnError_DecidesTheMessagesFate(t *testing.T) {
	tests := []struct {
		name    string
		give    error // the handler's answer
		wantErr bool
		wantAck bool // the message acknowledged (else redelivered)
	}{
		{"nil skips the element and acknowledges its message", nil, false, true},
		{"ErrRedeliver NAKs the message", fmt.Errorf("again: %w", streamnats.ErrRedeliver), false, false},
		{"another error fails the pipeline", errors.New("fatal"), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.stream(t, "T")
			c := e.consumer(t, "T", "c", 30*time.Second)
			e.publish(t, "T.x", 1)

			p := stream.New(testCtx(t, 30*time.Second))
			var calls atomic.Int64
			msgs := streamnats.Source(p, c, streamnats.NakDelay(time.Millisecond, time.Millisecond))
			vals := streamnats.Map(p, msgs, func(context.Context, streamnats.Message) (int, error) {
				calls.Add(1)
				return 0, errors.New("boom")
			}, streamnats.OnError(func(streamnats.Message, error) error { return tt.give }))
			streamnats.Ack(p, vals)
			switch {
			case tt.wantErr:
				if err := p.Wait(); err == nil {
					t.Fatal("Wait = nil, want the handler's error")
				}
				if ci := info(t, c); ci.NumAckPending != 1 {
					t.Fatalf("ack pending %d, want the message left unacknowledged", ci.NumAckPending)
				}
				return
			case tt.wantAck:
				eventually(t, 10*time.Second, "the message acknowledged", settledAll(t, c, 1))
			default:
				eventually(t, 10*time.Second, "the message redelivered", func() bool { return calls.Load() >= 3 })
			}
			p.Stop()
			if err := p.Wait(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A message out of budget goes to the dead-letter subject, with its error,
// and is terminated; the others flow meanwhile: the time to process them
// all is that of a run without the poison (STREAMNATS_FULL=1: 10,000
// messages, timings logged).
func TestDeadLetter_PoisonMessageEndsThereAfterTheBudget(t *testing.T) {
	n, delay := 1000, 5*time.Millisecond
	if full() {
		n, delay = 10000, 200*time.Millisecond
	}
	const poison, budget = 42, 3
	others, dead := poisonRun(t, n, poison, budget, delay)
	if !full() {
		return
	}
	baseline, _ := poisonRun(t, n, -1, budget, delay)
	t.Logf("poison: %d messages, 1 always failing, budget %d, NAK delay %v doubling: the other %d processed in %v "+
		"(without the poison: %v); the poison dead-lettered after %v",
		n, budget, delay, n-1, others.Round(time.Millisecond), baseline.Round(time.Millisecond), dead.Round(time.Millisecond))
}

// poisonRun publishes n messages, fails message poison (if >= 0) on every
// delivery, and returns when all n are settled: how long the others took,
// and when the poison was dead-lettered.
func poisonRun(t *testing.T, n, poison, budget int, delay time.Duration) (others, dead time.Duration) {
	e := newEnv(t)
	e.stream(t, "T")
	deadStream := e.stream(t, "DEAD")
	c := e.consumer(t, "T", "c", 30*time.Second)
	e.publish(t, "T.x", n)

	p := stream.New(testCtx(t, 60*time.Second))
	var mu sync.Mutex
	calls := map[string]int{}
	var othersDone time.Time
	wantOthers := n
	if poison >= 0 {
		wantOthers--
	}
	start := time.Now()
	msgs := streamnats.Source(p, c,
		streamnats.MaxDeliveries(budget),
		streamnats.NakDelay(delay, 10*delay),
		streamnats.DeadLetter(e.js, "DEAD.T"))
	streamnats.ForEach(p, msgs, func(_ context.Context, m streamnats.Message) error {
		mu.Lock()
		calls[m.ID]++
		if calls[m.ID] == 1 && m.ID != id(poison) {
			if wantOthers--; wantOthers == 0 {
				othersDone = time.Now()
			}
		}
		mu.Unlock()
		if m.ID == id(poison) {
			return errors.New("poison\nsecond line")
		}
		return nil
	})
	eventually(t, 60*time.Second, "all messages settled", settledAll(t, c, n))
	p.Stop()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		want := 1
		if i == poison {
			want = budget
		}
		if calls[id(i)] != want {
			t.Fatalf("%s processed %d times, want %d", id(i), calls[id(i)], want)
		}
	}
	if poison < 0 {
		return othersDone.Sub(start), 0
	}
	m, err := deadStream.GetLastMsgForSubject(testCtx(t, 5*time.Second), "DEAD.T")
	if err != nil {
		t.Fatalf("dead letter: %v", err)
	}
	if string(m.Data) != strconv.Itoa(poison) ||
		m.Header.Get(streamnats.HeaderError) != "poison second line" ||
		m.Header.Get(streamnats.HeaderDelivered) != strconv.Itoa(budget) ||
		m.Header.Get(streamnats.HeaderSequence) != strconv.Itoa(poison+1) ||
		m.Header.Get(streamnats.HeaderStream) != "T" ||
		m.Header.Get(streamnats.HeaderSubject) != "T.x" ||
		m.Header.Get(streamnats.HeaderID) != id(poison) {
		t.Fatalf("dead letter %q with headers %v", m.Data, m.Header)
	}
	if si, _ := deadStream.Info(testCtx(t, 5*time.Second)); si.State.Msgs != 1 {
		t.Fatalf("%d dead letters, want 1", si.State.Msgs)
	}
	return othersDone.Sub(start), m.Time.Sub(start)
}

// Without a dead-letter subject, a message out of budget fails the
// pipeline and stays unacknowledged.
func TestDeadLetter_WithoutASubjectFailsThePipeline(t *testing.T) {
	e := newEnv(t)
	e.stream(t, "T")
	c := e.consumer(t, "T", "c", 30*time.Second, func(cc *jetstream.ConsumerConfig) { cc.MaxDeliver = 2 })
	e.publish(t, "T.x", 1)

	p := stream.New(testCtx(t, 30*time.Second))
	msgs := streamnats.Source(p, c, streamnats.NakDelay(time.Millisecond, time.Millisecond))
	var calls atomic.Int64
	streamnats.ForEach(p, msgs, func(context.Context, streamnats.Message) error {
		calls.Add(1)
		return errors.New("boom")
	})
	err := p.Wait()
	if !errors.Is(err, streamnats.ErrNoDeadLetter) {
		t.Fatalf("Wait = %v, want %v", err, streamnats.ErrNoDeadLetter)
	}
	if calls.Load() != 2 {
		t.Fatalf("%d deliveries, want the consumer's MaxDeliver, 2", calls.Load())
	}
	if ci := info(t, c); ci.NumAckPending != 1 {
		t.Fatalf("ack pending %d, want the message unacknowledged", ci.NumAckPending)
	}
}
