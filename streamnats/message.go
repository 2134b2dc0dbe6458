package streamnats

import (
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Message is what a [Source] emits for each JetStream message, and what
// [Publish] publishes. Its fields are copies and references of the received
// message's; they stay valid after the message is acknowledged.
type Message struct {
	// ID is the message's Nats-Msg-Id header or, when that is absent, its
	// stream's name and sequence number, as in "ORDERS:42" (unique across
	// streams). [Publish] sends it as the
	// Nats-Msg-Id header, so that JetStream drops a retried duplicate.
	ID string
	// Subject is the subject the message was published to. [Publish]
	// ignores it and publishes to its own subject.
	Subject string
	// Data is the payload.
	Data []byte
	// Header holds the message's headers; nil when it has none. [Publish]
	// copies it before adding its own.
	Header nats.Header
	// Sequence is the message's sequence number in its stream (0 for a
	// Message not read from a stream).
	Sequence uint64
	// Delivered counts the deliveries of the message, this one included: 1
	// the first time, more after a NAK or an acknowledgement timeout.
	Delivered uint64
}

// Msg is an element of a pipeline fed by a [Source]: a value tied to the
// JetStream message (or, after [Batch], messages) it came from. The
// operators of this package carry the tie from input to output, and
// acknowledge a message once every element it became has been finished
// with (see "Acknowledgement" in the package doc).
//
// A Msg built by hand (Msg[T]{Value: v}) is tied to no message: operators
// pass it on and acknowledge nothing for it. Stages of package stream that
// pass elements on unchanged (Buffer, Merge, Partition, Throttle, ...)
// keep the tie too; an element they drop leaves its message
// unacknowledged, to be redelivered once the consumer's AckWait expires.
// Broadcast does not: its copies share the tie, and the first one finished
// acknowledges the message.
type Msg[T any] struct {
	// Value is the element itself.
	Value T

	t *ticket   // the one message this element came from, or nil
	g []*ticket // the messages a batch came from (t is nil then)
}

// tickets calls fn for each message m is tied to.
func (m *Msg[T]) each(fn func(*ticket) error) error {
	var first error
	if m.t != nil {
		first = fn(m.t)
	}
	for _, t := range m.g {
		if err := fn(t); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// done says that m was finished with: its messages are acknowledged once
// nothing else derived from them is open.
func (m *Msg[T]) done() error { return m.each((*ticket).release) }

// fail says that m failed with cause: its messages are NAKed or
// dead-lettered at once.
func (m *Msg[T]) fail(cause error) error {
	return m.each(func(t *ticket) error { return t.fail(cause) })
}

// carry returns v tied to the messages m is tied to.
func carry[T, U any](m Msg[T], v U) Msg[U] { return Msg[U]{Value: v, t: m.t, g: m.g} }

// newMessage reads what a Message holds out of a JetStream message.
func newMessage(m jetstream.Msg) (Message, error) {
	md, err := m.Metadata()
	if err != nil {
		return Message{}, err
	}
	h := m.Headers()
	id := h.Get(jetstream.MsgIDHeader)
	if id == "" {
		// Qualified by the stream: sequence numbers of two streams
		// relayed into one must not de-duplicate each other.
		id = md.Stream + ":" + strconv.FormatUint(md.Sequence.Stream, 10)
	}
	if len(h) == 0 {
		h = nil
	}
	return Message{
		ID:        id,
		Subject:   m.Subject(),
		Data:      m.Data(),
		Header:    h,
		Sequence:  md.Sequence.Stream,
		Delivered: md.NumDelivered,
	}, nil
}
