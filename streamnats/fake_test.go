package streamnats_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pipewright/stream"
	"github.com/pipewright/stream/streamnats"
)

// fakeConsumer serves one batch of fake messages, then empty batches: a
// consumer whose failures the tests choose, without a server.
type fakeConsumer struct {
	jetstream.Consumer // methods the source does not call panic
	msgs               []jetstream.Msg
	served             bool
}

func (c *fakeConsumer) CachedInfo() *jetstream.ConsumerInfo {
	return &jetstream.ConsumerInfo{Stream: "FAKE", Config: jetstream.ConsumerConfig{}}
}

func (c *fakeConsumer) Fetch(batch int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	ch := make(chan jetstream.Msg, len(c.msgs))
	if !c.served {
		for _, m := range c.msgs {
			ch <- m
		}
		c.served = true
	} else {
		time.Sleep(time.Millisecond) // an idle request
	}
	close(ch)
	return fakeBatch(ch), nil
}

type fakeBatch <-chan jetstream.Msg

func (b fakeBatch) Messages() <-chan jetstream.Msg { return b }
func (b fakeBatch) Error() error                   { return nil }

// fakeMsg is a message whose acknowledgement fails with ackErr.
type fakeMsg struct {
	jetstream.Msg
	seq    uint64
	ackErr error
	nakErr error
}

func (m *fakeMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: m.seq}, NumDelivered: 1}, nil
}
func (m *fakeMsg) Data() []byte                     { return []byte("x") }
func (m *fakeMsg) Headers() nats.Header             { return nil }
func (m *fakeMsg) Subject() string                  { return "FAKE.x" }
func (m *fakeMsg) Ack() error                       { return m.ackErr }
func (m *fakeMsg) NakWithDelay(time.Duration) error { return m.nakErr }

// An acknowledgement that fails fails the pipeline with ErrAck: it is not
// mistaken for the function's failure, which would NAK the message.
func TestAckFailure_FailsThePipeline(t *testing.T) {
	for _, withOnError := range []bool{false, true} {
		c := &fakeConsumer{msgs: []jetstream.Msg{&fakeMsg{seq: 1, ackErr: nats.ErrConnectionClosed}}}
		p := stream.New(testCtx(t, 10*time.Second))
		msgs := streamnats.Source(p, c)
		var opts []stream.Option
		if withOnError {
			opts = append(opts, streamnats.OnError(func(streamnats.Message, error) error { return nil }))
		}
		streamnats.ForEach(p, msgs, func(context.Context, streamnats.Message) error { return nil }, opts...)
		err := p.Wait()
		if !errors.Is(err, streamnats.ErrAck) || !errors.Is(err, nats.ErrConnectionClosed) {
			t.Fatalf("OnError given: %v: Wait = %v, want %v wrapping %v", withOnError, err, streamnats.ErrAck, nats.ErrConnectionClosed)
		}
	}
}

// A NAK that fails is a failed acknowledgement too: the pipeline fails
// with ErrAck, the error callers check for a lost connection.
func TestNakFailure_FailsThePipelineWithErrAck(t *testing.T) {
	c := &fakeConsumer{msgs: []jetstream.Msg{&fakeMsg{seq: 1, nakErr: nats.ErrConnectionClosed}}}
	p := stream.New(testCtx(t, 10*time.Second))
	msgs := streamnats.Source(p, c)
	streamnats.ForEach(p, msgs, func(context.Context, streamnats.Message) error { return errors.New("boom") })
	err := p.Wait()
	if !errors.Is(err, streamnats.ErrAck) || !errors.Is(err, nats.ErrConnectionClosed) {
		t.Fatalf("Wait = %v, want %v wrapping %v", err, streamnats.ErrAck, nats.ErrConnectionClosed)
	}
}

// fakeJS acknowledges every publish.
type fakeJS struct {
	jetstream.JetStream // methods Publish does not call panic
}

func (fakeJS) PublishMsg(context.Context, *nats.Msg, ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	return &jetstream.PubAck{Stream: "OUT"}, nil
}

// Publish's retries are for the publish: an acknowledgement that fails
// after a successful publish is not retried (a retry would publish again
// and then count the element finished without acknowledging it), it fails
// the pipeline with ErrAck.
func TestPublish_AckFailureIsNotRetriedAway(t *testing.T) {
	c := &fakeConsumer{msgs: []jetstream.Msg{&fakeMsg{seq: 1, ackErr: nats.ErrConnectionClosed}}}
	p := stream.New(testCtx(t, 3*time.Second)) // swallowed, the pipeline would run on
	streamnats.Publish(p, streamnats.Source(p, c), fakeJS{}, "OUT.x")
	err := p.Wait()
	if !errors.Is(err, streamnats.ErrAck) {
		t.Fatalf("Wait = %v, want %v", err, streamnats.ErrAck)
	}
}
