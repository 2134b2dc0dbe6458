package streamnats

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// This file holds the settlement of a message: the one acknowledgement,
// NAK or dead-lettering of each message a Source emitted.

// Headers set on a dead-lettered message, besides the original's own
// (but for its Nats-* headers, which the server would act on).
const (
	// HeaderID holds the message's ID (see [Message]); the dead letter's
	// own Nats-Msg-Id is "dead:" + stream + ":" + sequence, so that
	// JetStream stores a message dead-lettered twice once.
	HeaderID = "Streamnats-Id"
	// HeaderError holds the error of the message's last failed delivery.
	HeaderError = "Streamnats-Error"
	// HeaderSubject holds the subject the message was first published to.
	HeaderSubject = "Streamnats-Subject"
	// HeaderStream holds the name of the stream the message was read from.
	HeaderStream = "Streamnats-Stream"
	// HeaderSequence holds the message's sequence number in that stream.
	HeaderSequence = "Streamnats-Sequence"
	// HeaderDelivered holds how many times the message was delivered.
	HeaderDelivered = "Streamnats-Delivered"
)

// ticket is the acknowledgement handle of one received message, shared by
// every element derived from it.
type ticket struct {
	msg       jetstream.Msg
	s         *settler
	message   Message // for the dead letter
	refs      atomic.Int64
	finalised atomic.Bool // acked, NAKed or terminated: nothing more to do
}

// hold says that n more elements carry t.
func (t *ticket) hold(n int64) { t.refs.Add(n) }

// release says that one element carrying t was finished with; the last
// one acknowledges the message, unless it failed already.
func (t *ticket) release() error {
	if t.refs.Add(-1) != 0 || !t.finalised.CompareAndSwap(false, true) {
		return nil
	}
	if err := t.msg.Ack(); err != nil {
		return fmt.Errorf("%w: message %s: %w", ErrAck, t.message.ID, err)
	}
	return nil
}

// fail NAKs or dead-letters the message, once; elements still carrying it
// change nothing afterwards.
func (t *ticket) fail(cause error) error {
	if !t.finalised.CompareAndSwap(false, true) {
		return nil
	}
	return t.s.failed(t, cause)
}

// settler is a source's redelivery policy.
type settler struct {
	ctx        context.Context // the pipeline's: bounds a dead-letter publish
	budget     uint64          // deliveries before dead-lettering
	nakInitial time.Duration
	nakMax     time.Duration
	js         jetstream.JetStream // nil without a dead-letter subject
	deadLetter string
	stream     string
}

// nakDelay is the delay before redelivering a message delivered n times:
// doubling from nakInitial, capped at nakMax.
func (s *settler) nakDelay(n uint64) time.Duration {
	d := s.nakInitial
	for i := uint64(1); i < n && d < s.nakMax; i++ {
		d *= 2
	}
	return min(d, s.nakMax)
}

func (s *settler) failed(t *ticket, cause error) error {
	n := t.message.Delivered
	if n < s.budget {
		if err := t.msg.NakWithDelay(s.nakDelay(n)); err != nil {
			return fmt.Errorf("%w: NAK of message %s: %w", ErrAck, t.message.ID, err)
		}
		return nil
	}
	if s.deadLetter == "" {
		return fmt.Errorf("%w: message %s (delivered %d times): %w", ErrNoDeadLetter, t.message.ID, n, cause)
	}
	if err := s.publishDead(t, cause); err != nil {
		// Left unacknowledged: redelivered, dead-lettered by a later try.
		return fmt.Errorf("streamnats: dead-lettering message %s: %w", t.message.ID, err)
	}
	if err := t.msg.TermWithReason("streamnats: dead-lettered to " + s.deadLetter); err != nil {
		// Redelivered, and dead-lettered again under the same ID: once.
		return fmt.Errorf("%w: terminating dead-lettered message %s: %w", ErrAck, t.message.ID, err)
	}
	return nil
}

// publishDead publishes the message to the dead-letter subject with the
// cause in its headers (and its own, but for the Nats-* ones), under an ID JetStream de-duplicates, so a message
// dead-lettered twice (its Term lost) lands there once.
func (s *settler) publishDead(t *ticket, cause error) error {
	m := t.message
	h := make(nats.Header, len(m.Header)+6)
	for k, v := range m.Header {
		// The server acts on the JetStream publish headers (expected
		// stream or sequence, rollup, TTL, ...): copied, they would make the
		// dead letter's publish fail, or purge the dead letters before it.
		if len(k) >= 5 && strings.EqualFold(k[:5], "Nats-") {
			continue
		}
		h[k] = v
	}
	h.Set(HeaderID, m.ID)
	h.Set(HeaderError, cause.Error()) // the client writes newlines as spaces
	h.Set(HeaderSubject, m.Subject)
	h.Set(HeaderStream, s.stream)
	h.Set(HeaderSequence, strconv.FormatUint(m.Sequence, 10))
	h.Set(HeaderDelivered, strconv.FormatUint(m.Delivered, 10))
	id := "dead:" + s.stream + ":" + strconv.FormatUint(m.Sequence, 10)
	_, err := s.js.PublishMsg(s.ctx, &nats.Msg{Subject: s.deadLetter, Data: m.Data, Header: h}, jetstream.WithMsgID(id))
	return err
}
