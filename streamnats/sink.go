package streamnats

import (
	"context"
	"errors"
	"maps"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pipewright/stream"
)

// ForEach calls fn for each element of in, and counts the element as
// finished with when fn returns nil: its messages are acknowledged once
// nothing else derived from them is open. A failed call fails the
// element's messages (see "Failure" in the package doc) unless [OnError]
// says otherwise. It is one stream.ForEach stage and takes its options; it
// does not block: call [stream.Pipeline.Wait]. A stream.Retry given here
// should not retry [ErrAck] (its If returning false for it): a retry would
// call fn again, and then count the element finished without an
// acknowledgement.
func ForEach[T any](p *stream.Pipeline, in <-chan Msg[T], fn func(context.Context, T) error, opts ...stream.Option) {
	if fn == nil {
		panic("streamnats: ForEach: nil function")
	}
	stream.ForEach(p, in, func(ctx context.Context, m Msg[T]) error {
		if err := fn(ctx, m.Value); err != nil {
			return err
		}
		return m.done()
	}, withDefault(failed[T](), opts)...)
}

// Ack counts each element of in as finished with: the end of a pipeline
// whose last stage did the work. It is one stream.ForEach stage and takes
// its options; it does not block: call [stream.Pipeline.Wait].
func Ack[T any](p *stream.Pipeline, in <-chan Msg[T], opts ...stream.Option) {
	stream.ForEach(p, in, func(_ context.Context, m Msg[T]) error { return m.done() }, opts...)
}

// DefaultPublishRetry is the retry policy of [Publish] unless a
// stream.Retry option replaces it. It retries failed publishes, not
// [ErrNoID] nor an acknowledgement that failed after the publish
// ([ErrAck]).
var DefaultPublishRetry = stream.RetryPolicy{
	Attempts: 5,
	If:       func(err error) bool { return !errors.Is(err, ErrNoID) && !errors.Is(err, ErrAck) },
}

// relayHeader returns a copy of v's headers to publish. A message read
// from a stream carries the headers of its own publish: the server's
// preconditions (Nats-Expected-*) and Nats-Rollup spoke of the source
// stream, and on the destination they would make every publish fail or
// purge its subject, so they are left out. A Message built by hand
// (Sequence 0) keeps every header its author set.
func relayHeader(v Message) nats.Header {
	h := maps.Clone(v.Header)
	if v.Sequence == 0 {
		return h
	}
	for k := range h {
		if hasPrefixFold(k, "Nats-Expected-") || strings.EqualFold(k, "Nats-Rollup") {
			delete(h, k)
		}
	}
	return h
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// Publish publishes the Value of each element of in to subject through js,
// waiting for JetStream's acknowledgement, with the Value's ID as the
// Nats-Msg-Id header so that the stream drops a duplicate of a retried or
// redelivered publish (within its Duplicates window). The Value's other
// headers go along, but for a received message's Nats-Expected-* and
// Nats-Rollup headers, which spoke of the stream it was read from. Once published, the
// element is finished with and its messages are acknowledged: a relay from
// one stream to another loses nothing and, within the window, duplicates
// nothing.
//
// A failed publish is retried per [DefaultPublishRetry], or per a
// stream.Retry option (the client's own retries are off, so this policy is
// the only one); when retries are exhausted it fails the pipeline (an
// element with an empty ID fails it at once with [ErrNoID]), leaving its
// messages unacknowledged. It is one stream.ForEach stage and takes its
// options (Workers publishes concurrently); it does not block: call
// [stream.Pipeline.Wait]. A nil js or an empty subject panics.
func Publish(p *stream.Pipeline, in <-chan Msg[Message], js jetstream.JetStream, subject string, opts ...stream.Option) {
	if js == nil || subject == "" {
		panic("streamnats: Publish: nil JetStream or empty subject")
	}
	stream.ForEach(p, in, func(ctx context.Context, m Msg[Message]) error {
		v := m.Value
		if v.ID == "" {
			return ErrNoID
		}
		msg := &nats.Msg{Subject: subject, Data: v.Data, Header: relayHeader(v)}
		if _, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(v.ID), jetstream.WithRetryAttempts(0)); err != nil {
			return err
		}
		return m.done()
	}, append([]stream.Option{stream.Retry(DefaultPublishRetry)}, opts...)...)
}
