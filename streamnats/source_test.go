package streamnats_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pipewright/stream"
	"github.com/pipewright/stream/streamnats"
)

// A message is acknowledged only after the sink finished with it: while
// the sink holds the first element, nothing is acknowledged.
func TestSource_AcksOnlyAfterTheSinkFinished(t *testing.T) {
	e := newEnv(t)
	e.stream(t, "T")
	c := e.consumer(t, "T", "c", 30*time.Second)
	const n = 20
	e.publish(t, "T.x", n)

	p := stream.New(testCtx(t, 30*time.Second))
	release := make(chan struct{})
	var seen atomic.Int64
	msgs := streamnats.Source(p, c)
	vals := streamnats.Map(p, msgs, func(_ context.Context, m streamnats.Message) (string, error) { return m.ID, nil })
	streamnats.ForEach(p, vals, func(ctx context.Context, _ string) error {
		if seen.Add(1) == 1 {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})

	eventually(t, 10*time.Second, "all messages delivered, the first in the sink", func() bool {
		return info(t, c).NumAckPending == n && seen.Load() == 1
	})
	if ci := info(t, c); ci.AckFloor.Stream != 0 || seen.Load() != 1 {
		t.Fatalf("acked up to %d with %d element(s) in the sink, want nothing acked while the first is held", ci.AckFloor.Stream, seen.Load())
	}
	close(release)
	eventually(t, 10*time.Second, "all messages acknowledged", settledAll(t, c, n))
	p.Stop()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := seen.Load(); got != n {
		t.Fatalf("processed %d, want %d", got, n)
	}
}

// A failed element NAKs its message, which comes back and then succeeds.
func TestSource_FailedMessagesAreRedelivered(t *testing.T) {
	e := newEnv(t)
	e.stream(t, "T")
	c := e.consumer(t, "T", "c", 30*time.Second)
	const n = 100
	e.publish(t, "T.x", n)

	var mu sync.Mutex
	calls := map[string][]uint64{} // id → Delivered of each call
	p := stream.New(testCtx(t, 30*time.Second))
	msgs := streamnats.Source(p, c, streamnats.NakDelay(time.Millisecond, 10*time.Millisecond))
	streamnats.ForEach(p, msgs, func(_ context.Context, m streamnats.Message) error {
		mu.Lock()
		calls[m.ID] = append(calls[m.ID], m.Delivered)
		mu.Unlock()
		if m.Sequence%2 == 1 && m.Delivered == 1 {
			return errors.New("odd messages fail once")
		}
		return nil
	})
	eventually(t, 20*time.Second, "all messages acknowledged", settledAll(t, c, n))
	p.Stop()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		want := []uint64{1}
		if (i+1)%2 == 1 {
			want = []uint64{1, 2}
		}
		if got := calls[id(i)]; !equal(got, want) {
			t.Fatalf("%s: deliveries %v, want %v", id(i), got, want)
		}
	}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Stop leaves the messages not finished unacknowledged; a second pipeline
// gets them: nothing acknowledged was left unprocessed.
func TestSource_StopLeavesUnfinishedMessagesForRedelivery(t *testing.T) {
	e := newEnv(t)
	e.stream(t, "T")
	c := e.consumer(t, "T", "c", 300*time.Millisecond)
	const n, first = 300, 50
	e.publish(t, "T.x", n)

	processed := map[string]int{}
	var mu sync.Mutex
	run := func(stopAt int) error {
		p := stream.New(testCtx(t, 30*time.Second))
		count := 0
		msgs := streamnats.Source(p, c, streamnats.PullMax(32))
		streamnats.ForEach(p, msgs, func(_ context.Context, m streamnats.Message) error {
			mu.Lock()
			processed[m.ID]++
			all := len(processed) == n
			mu.Unlock()
			if count++; count == stopAt || all {
				p.Stop()
			}
			return nil
		})
		return p.Wait()
	}
	if err := run(first); err != nil {
		t.Fatal(err)
	}
	if len(processed) != first {
		t.Fatalf("first run processed %d, want %d", len(processed), first)
	}
	if ci := info(t, c); ci.NumAckPending == 0 {
		t.Fatalf("after Stop nothing is pending acknowledgement: the messages in flight were acked")
	}
	if err := run(0); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if processed[id(i)] == 0 {
			t.Fatalf("%s was never processed: acknowledged without being processed", id(i))
		}
	}
}

// DrainOn ends the pipeline without error once every message received
// was finished with.
func TestSource_DrainOnFinishesWhatWasReceived(t *testing.T) {
	e := newEnv(t)
	e.stream(t, "T")
	c := e.consumer(t, "T", "c", 30*time.Second)
	const n = 2000
	e.publish(t, "T.x", n)

	drain, startDrain := context.WithCancel(context.Background())
	defer startDrain()
	p := stream.New(testCtx(t, 30*time.Second))
	var processed atomic.Int64
	msgs := streamnats.Source(p, c, streamnats.PullMax(64), streamnats.DrainOn(drain))
	streamnats.ForEach(p, msgs, func(context.Context, streamnats.Message) error {
		if processed.Add(1) == 100 {
			startDrain()
		}
		return nil
	})
	if err := p.Wait(); err != nil {
		t.Fatalf("Wait after drain: %v", err)
	}
	got := processed.Load()
	if got < 100 || got == n {
		t.Fatalf("processed %d: want the drain to end the pipeline early", got)
	}
	eventually(t, 10*time.Second, "acks of the drained messages reach the server", func() bool {
		ci := info(t, c)
		return ci.AckFloor.Stream == uint64(got) && ci.NumAckPending == 0
	})
	if ci := info(t, c); ci.NumPending != uint64(n)-uint64(got) {
		t.Fatalf("%d left in the stream, want %d", ci.NumPending, n-got)
	}
}

// The server never has more delivered-but-unacknowledged messages for a
// stalled pipeline than PullMax and the channels hold.
func TestSource_InFlightIsBoundedByPullMaxAndCapacities(t *testing.T) {
	e := newEnv(t)
	e.stream(t, "T")
	c := e.consumer(t, "T", "c", 30*time.Second)
	const n, pullMax, capacity = 1000, 16, 4
	e.publish(t, "T.x", n)

	p := stream.New(testCtx(t, 30*time.Second))
	release := make(chan struct{})
	msgs := streamnats.Source(p, c, streamnats.PullMax(pullMax), streamnats.StageOptions(stream.Capacity(capacity)))
	streamnats.ForEach(p, msgs, func(ctx context.Context, _ streamnats.Message) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	// Held: pullMax in the client, capacity in the channel, one in the
	// source's hand, one in ForEach.
	const bound = pullMax + capacity + 2
	eventually(t, 10*time.Second, "the pipeline fills", func() bool { return info(t, c).NumAckPending >= pullMax })
	for range 20 { // the stall lasts: deliveries must not creep up
		if got := info(t, c).NumAckPending; got > bound {
			t.Fatalf("%d messages delivered to a stalled pipeline, want at most %d", got, bound)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	eventually(t, 20*time.Second, "all messages acknowledged", settledAll(t, c, n))
	p.Stop()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
}

// A consumer deleted under a running source fails the pipeline.
func TestSource_DeletedConsumerFailsThePipeline(t *testing.T) {
	e := newEnv(t)
	s := e.stream(t, "T")
	c := e.consumer(t, "T", "c", 30*time.Second)
	p := stream.New(testCtx(t, 30*time.Second))
	msgs := streamnats.Source(p, c)
	streamnats.Ack(p, msgs)
	eventually(t, 5*time.Second, "the consumer is pulled from", func() bool { return info(t, c).NumWaiting > 0 })
	if err := s.DeleteConsumer(testCtx(t, 5*time.Second), "c"); err != nil {
		t.Fatal(err)
	}
	err := p.Wait()
	if err == nil || !errors.Is(err, jetstream.ErrConsumerDeleted) {
		t.Fatalf("Wait = %v, want an error wrapping %v", err, jetstream.ErrConsumerDeleted)
	}
}
