package streamnats_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipewright/stream"
	"github.com/pipewright/stream/streamnats"
)

// Misuse panics at construction with a "streamnats: " or "stream: "
// message, before anything runs.
func TestProgrammerErrors_PanicAtConstruction(t *testing.T) {
	e := newEnv(t)
	e.stream(t, "T")
	c := e.consumer(t, "T", "c", 30*time.Second)
	p := stream.New(context.Background())
	defer p.Wait()
	defer p.Stop()
	in := make(chan streamnats.Msg[streamnats.Message])
	tests := []struct {
		name string
		give func()
	}{
		{"Source with a nil pipeline", func() { streamnats.Source(nil, c) }},
		{"Source with a nil consumer", func() { streamnats.Source(p, nil) }},
		{"Source with a nil option", func() { streamnats.Source(p, c, nil) }},
		{"PullMax(0)", func() { streamnats.PullMax(0) }},
		{"PullMax above the bound", func() { streamnats.PullMax(1<<16 + 1) }},
		{"MaxDeliveries(0)", func() { streamnats.MaxDeliveries(0) }},
		{"NakDelay with a negative initial", func() { streamnats.NakDelay(-1, time.Second) }},
		{"NakDelay with max below initial", func() { streamnats.NakDelay(time.Second, time.Millisecond) }},
		{"DeadLetter with a nil JetStream", func() { streamnats.DeadLetter(nil, "dead") }},
		{"DeadLetter with an empty subject", func() { streamnats.DeadLetter(e.js, "") }},
		{"DrainOn(nil)", func() {
			//lint:ignore SA1012 a nil context is the misuse under test
			streamnats.DrainOn(nil)
		}},
		{"Map with a nil function", func() {
			streamnats.Map[streamnats.Message, int](p, in, nil)
		}},
		{"Filter with a nil function", func() { streamnats.Filter(p, in, nil) }},
		{"FlatMap with a nil function", func() {
			streamnats.FlatMap[streamnats.Message, int](p, in, nil)
		}},
		{"ForEach with a nil function", func() { streamnats.ForEach(p, in, nil) }},
		{"OnError with a nil handler", func() { streamnats.OnError[int](nil) }},
		{"OnError for another type", func() {
			streamnats.ForEach(p, in, func(context.Context, streamnats.Message) error { return nil },
				streamnats.OnError(func(int, error) error { return nil }))
		}},
		{"Publish with a nil JetStream", func() { streamnats.Publish(p, in, nil, "x") }},
		{"Publish with an empty subject", func() { streamnats.Publish(p, in, e.js, "") }},
		{"Batch of size 0", func() { streamnats.Batch(p, in, 0, time.Second) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if !strings.HasPrefix(msg, "streamnats: ") && !strings.HasPrefix(msg, "stream: ") {
					t.Fatalf("recovered %v, want a panic with a streamnats: or stream: message", r)
				}
			}()
			tt.give()
		})
	}
}

// A panic, or runtime.Goexit, in a function fails the pipeline and leaves
// the messages in flight unacknowledged: a later pipeline gets every one.
func TestPanicAndGoexit_LeaveMessagesForRedelivery(t *testing.T) {
	for _, how := range []string{"panic", "Goexit"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t)
			e.stream(t, "T")
			c := e.consumer(t, "T", "c", 300*time.Millisecond)
			const n = 50
			e.publish(t, "T.x", n)

			var mu sync.Mutex
			done := map[string]bool{}
			p := stream.New(testCtx(t, 30*time.Second))
			msgs := streamnats.Source(p, c)
			vals := streamnats.Map(p, msgs, func(_ context.Context, m streamnats.Message) (string, error) {
				if m.ID == id(20) {
					if how == "panic" {
						panic("boom")
					}
					runtime.Goexit()
				}
				return m.ID, nil
			})
			streamnats.ForEach(p, vals, func(_ context.Context, v string) error {
				mu.Lock()
				done[v] = true
				mu.Unlock()
				return nil
			})
			var pe *stream.PanicError
			if err := p.Wait(); !errors.As(err, &pe) && !errors.Is(err, stream.ErrGoexit) {
				t.Fatalf("Wait = %v, want a panic error", err)
			}
			if done[id(20)] {
				t.Fatal("the element that panicked was finished")
			}

			p2 := stream.New(testCtx(t, 30*time.Second))
			msgs2 := streamnats.Source(p2, c)
			streamnats.ForEach(p2, msgs2, func(_ context.Context, m streamnats.Message) error {
				mu.Lock()
				done[m.ID] = true
				mu.Unlock()
				return nil
			})
			eventually(t, 20*time.Second, "every message processed and acknowledged", func() bool {
				mu.Lock()
				all := len(done) == n
				mu.Unlock()
				return all && settledAll(t, c, n)()
			})
			p2.Stop()
			if err := p2.Wait(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Cancelling the parent context ends the pipeline with its error; the
// messages not finished are redelivered.
func TestCancel_EndsThePipelineAndAcknowledgesNothingUnfinished(t *testing.T) {
	e := newEnv(t)
	e.stream(t, "T")
	c := e.consumer(t, "T", "c", 30*time.Second)
	e.publish(t, "T.x", 100)

	ctx, cancel := context.WithCancel(context.Background())
	p := stream.New(ctx)
	var finished int
	msgs := streamnats.Source(p, c)
	streamnats.ForEach(p, msgs, func(ctx context.Context, m streamnats.Message) error {
		if finished == 10 {
			cancel()
			<-ctx.Done()
			return ctx.Err() // the pipeline is ending: not a failure of the message
		}
		finished++
		return nil
	})
	if err := p.Wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want %v", err, context.Canceled)
	}
	e.nc.Flush()
	eventually(t, 10*time.Second, "the acks reach the consumer", func() bool { return info(t, c).AckFloor.Stream >= 10 })
	if ci := info(t, c); ci.AckFloor.Stream != 10 || ci.NumRedelivered != 0 {
		t.Fatalf("ack floor %d, redelivered %d: want exactly the 10 finished acknowledged, none NAKed", ci.AckFloor.Stream, ci.NumRedelivered)
	}
}

// A connection closed under a running source fails the pipeline; it does
// not hang.
func TestClosedConnection_FailsThePipeline(t *testing.T) {
	e := newEnv(t)
	e.stream(t, "T")
	c := e.consumer(t, "T", "c", 30*time.Second)
	p := stream.New(testCtx(t, 30*time.Second))
	msgs := streamnats.Source(p, c)
	streamnats.Ack(p, msgs)
	eventually(t, 5*time.Second, "the consumer is pulled from", func() bool { return info(t, c).NumWaiting > 0 })
	e.nc.Close()
	if err := p.Wait(); err == nil {
		t.Fatal("Wait = nil after the connection closed")
	}
}

// A Take after the source: the taken messages are acknowledged, the rest
// left for redelivery, and the source stops.
func TestTake_AcknowledgesWhatItTookAndStopsTheSource(t *testing.T) {
	e := newEnv(t)
	e.stream(t, "T")
	c := e.consumer(t, "T", "c", 30*time.Second)
	e.publish(t, "T.x", 100)

	p := stream.New(testCtx(t, 30*time.Second))
	msgs := streamnats.Source(p, c)
	streamnats.Ack(p, stream.Take(p, msgs, 5))
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	e.nc.Flush()
	eventually(t, 10*time.Second, "the acks reach the consumer", func() bool { return info(t, c).AckFloor.Stream >= 5 })
	if ci := info(t, c); ci.AckFloor.Stream != 5 {
		t.Fatalf("ack floor %d, want the 5 taken", ci.AckFloor.Stream)
	}
}
