package streamnats_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pipewright/stream"
	"github.com/pipewright/stream/streamnats"
)

// relay publishes every message of consumer c to subject, until each
// message of the stream (n) is acknowledged.
func relay(t *testing.T, e *env, c jetstream.Consumer, subject string, n int) {
	t.Helper()
	p := stream.New(testCtx(t, 30*time.Second))
	msgs := streamnats.Source(p, c)
	renamed := streamnats.Map(p, msgs, func(_ context.Context, m streamnats.Message) (streamnats.Message, error) {
		m.ID = "relay-" + m.ID // the header still holds the original's
		return m, nil
	})
	streamnats.Publish(p, renamed, e.js, subject, stream.Workers(4))
	eventually(t, 20*time.Second, "all messages relayed and acknowledged", settledAll(t, c, n))
	p.Stop()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
}

// Publish relays a stream to another with the IDs, and JetStream drops a
// second relay of the same messages as duplicates.
func TestPublish_RelaysWithIDsThatDeduplicate(t *testing.T) {
	e := newEnv(t)
	e.stream(t, "T")
	out := e.stream(t, "OUT")
	const n = 200
	e.publish(t, "T.x", n)

	relay(t, e, e.consumer(t, "T", "first", 30*time.Second), "OUT.x", n)
	relay(t, e, e.consumer(t, "T", "again", 30*time.Second), "OUT.x", n) // as if redelivered

	si, err := out.Info(testCtx(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if si.State.Msgs != n {
		t.Fatalf("OUT holds %d messages, want %d: duplicates not dropped", si.State.Msgs, n)
	}
	m, err := out.GetMsg(testCtx(t, 5*time.Second), 7)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get(jetstream.MsgIDHeader); got != "relay-"+id(6) || string(m.Data) != "6" {
		t.Fatalf("OUT message 7: id %q data %q, want %q and \"6\"", got, m.Data, "relay-"+id(6))
	}
}

// A publish that keeps failing is retried per the Retry option, then fails
// the pipeline, leaving the source message unacknowledged.
func TestPublish_FailsThePipelineWhenRetriesAreExhausted(t *testing.T) {
	e := newEnv(t)
	e.stream(t, "T")
	c := e.consumer(t, "T", "c", 30*time.Second)
	e.publish(t, "T.x", 1)

	p := stream.New(testCtx(t, 30*time.Second))
	var retries atomic.Int64
	p.SetObserver(stream.ObserverFunc(func(ev stream.Event) {
		if ev.Kind == stream.ElementRetried {
			retries.Add(1)
		}
	}))
	msgs := streamnats.Source(p, c)
	streamnats.Publish(p, msgs, e.js, "NOWHERE.x", stream.Retry(stream.RetryPolicy{Attempts: 3, Initial: time.Millisecond}))
	err := p.Wait()
	if !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("Wait = %v, want %v", err, jetstream.ErrNoStreamResponse)
	}
	if retries.Load() != 2 {
		t.Fatalf("%d retries, want 2", retries.Load())
	}
	if ci := info(t, c); ci.NumAckPending != 1 || ci.AckFloor.Stream != 0 {
		t.Fatalf("ack pending %d, ack floor %d: want the message unacknowledged", ci.NumAckPending, ci.AckFloor.Stream)
	}
}

// Elements not read from a stream publish too; one without an ID fails the
// pipeline at once, without retries.
func TestPublish_AMessageWithoutIDFailsAtOnce(t *testing.T) {
	e := newEnv(t)
	out := e.stream(t, "OUT")
	p := stream.New(testCtx(t, 30*time.Second))
	var retries atomic.Int64
	p.SetObserver(stream.ObserverFunc(func(ev stream.Event) {
		if ev.Kind == stream.ElementRetried {
			retries.Add(1)
		}
	}))
	in := stream.FromSlice(p, []streamnats.Msg[streamnats.Message]{
		{Value: streamnats.Message{ID: "a", Data: []byte("1")}},
		{Value: streamnats.Message{Data: []byte("2")}},
	})
	streamnats.Publish(p, in, e.js, "OUT.x")
	if err := p.Wait(); !errors.Is(err, streamnats.ErrNoID) {
		t.Fatalf("Wait = %v, want %v", err, streamnats.ErrNoID)
	}
	if retries.Load() != 0 {
		t.Fatalf("%d retries of a message without ID", retries.Load())
	}
	if si, _ := out.Info(context.Background()); si.State.Msgs != 1 {
		t.Fatalf("OUT holds %d messages, want 1", si.State.Msgs)
	}
}

// Messages published without a Nats-Msg-Id get IDs that differ across
// streams: relaying two such streams into one, JetStream must not drop
// message 1 of B as a duplicate of message 1 of A (while acknowledging it).
func TestPublish_MessagesWithoutIDFromTwoStreamsAreNotDuplicates(t *testing.T) {
	e := newEnv(t)
	e.stream(t, "A")
	e.stream(t, "B")
	out := e.stream(t, "OUT")
	const n = 5
	for range n {
		for _, subject := range []string{"A.x", "B.x"} {
			if _, err := e.js.Publish(testCtx(t, 5*time.Second), subject, []byte(subject)); err != nil {
				t.Fatal(err)
			}
		}
	}
	ca := e.consumer(t, "A", "c", 30*time.Second)
	cb := e.consumer(t, "B", "c", 30*time.Second)

	p := stream.New(testCtx(t, 30*time.Second))
	msgs := stream.Merge(p, []<-chan streamnats.Msg[streamnats.Message]{streamnats.Source(p, ca), streamnats.Source(p, cb)})
	streamnats.Publish(p, msgs, e.js, "OUT.x")
	eventually(t, 20*time.Second, "both streams relayed and acknowledged", func() bool {
		return settledAll(t, ca, n)() && settledAll(t, cb, n)()
	})
	p.Stop()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	si, err := out.Info(testCtx(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if si.State.Msgs != 2*n {
		t.Fatalf("OUT holds %d messages, want all %d relayed and acknowledged", si.State.Msgs, 2*n)
	}
}

// A message read from a stream carries the headers of its own publish: the
// server's preconditions and rollups spoke of the source stream, not of
// the one Publish relays to. Relayed, Nats-Expected-Stream: T made every
// publish to OUT fail (the relay stuck on that message at every restart),
// and Nats-Rollup would have purged OUT's subject.
func TestPublish_DropsTheSourcesServerHeaders(t *testing.T) {
	e := newEnv(t)
	e.stream(t, "T")
	out := e.stream(t, "OUT")
	ctx := testCtx(t, 5*time.Second)
	for _, h := range []nats.Header{
		{"Nats-Expected-Stream": []string{"T"}},
		{"Nats-Expected-Last-Sequence": []string{"1"}},
		{"Keep": []string{"me"}},
	} {
		if _, err := e.js.PublishMsg(ctx, &nats.Msg{Subject: "T.x", Data: []byte("v"), Header: h}); err != nil {
			t.Fatal(err)
		}
	}
	c := e.consumer(t, "T", "c", 30*time.Second)
	p := stream.New(testCtx(t, 30*time.Second))
	streamnats.Publish(p, streamnats.Source(p, c), e.js, "OUT.x", stream.Retry(stream.RetryPolicy{Attempts: 1}))
	eventually(t, 20*time.Second, "every message relayed and acknowledged", settledAll(t, c, 3))
	p.Stop()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	si, err := out.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if si.State.Msgs != 3 {
		t.Fatalf("OUT holds %d messages, want 3", si.State.Msgs)
	}
	last, err := out.GetLastMsgForSubject(ctx, "OUT.x")
	if err != nil {
		t.Fatal(err)
	}
	if last.Header.Get("Keep") != "me" {
		t.Fatalf("the user's own header was not relayed: %v", last.Header)
	}
}
