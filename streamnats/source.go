package streamnats

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pipewright/stream"
)

// Source emits the messages of the JetStream pull consumer cons, each tied
// to its message for acknowledgement (see "Acknowledgement" in the package
// doc). It is one stage (a stream.Generate) whose goroutine pulls batches
// of at most [PullMax] messages, one pull request at a time, each request
// lasting at most a second; the next is sent once the pipeline has taken
// every message of the last.
//
// The output closes when the pipeline ends — leaving every message not yet
// finished unacknowledged, for redelivery — or, after [DrainOn]'s context
// ends, once the pull request in progress has ended and its messages are
// emitted. A consumer the
// server deletes, or a connection closed under it, fails the pipeline. A
// nil p or cons panics. It does not block.
func Source(p *stream.Pipeline, cons jetstream.Consumer, opts ...Option) <-chan Msg[Message] {
	if p == nil {
		panic("streamnats: Source: nil pipeline")
	}
	if cons == nil {
		panic("streamnats: Source: nil consumer")
	}
	cfg := newSourceConfig(opts)
	info := cons.CachedInfo()
	budget := uint64(cfg.maxDeliveries)
	if md := info.Config.MaxDeliver; md > 0 && uint64(md) < budget {
		budget = uint64(md)
	}
	src := &source{
		cons:    cons,
		pullMax: cfg.pullMax,
		drainOn: cfg.drainOn,
		s: &settler{
			ctx:        p.Context(),
			budget:     budget,
			nakInitial: cfg.nakInitial,
			nakMax:     cfg.nakMax,
			js:         cfg.js,
			deadLetter: cfg.deadLetter,
			stream:     info.Stream,
		},
	}
	return stream.Generate(p, src.run, cfg.stageOpts...)
}

type source struct {
	cons    jetstream.Consumer
	pullMax int
	drainOn context.Context
	s       *settler
}

// fetchWait bounds each pull request: the longest a drain waits for the
// request in progress, and the interval at which an idle source asks again.
const fetchWait = time.Second

// run pulls batches of at most pullMax messages, one request at a time,
// and asks for the next only once the pipeline has taken the last batch's.
// A request is always read to its end, so a drain never drops a message
// the server sent for it (cancelling a request early can: the server may
// deliver to it after the client has unsubscribed, and such a message
// waits for AckWait).
func (src *source) run(ctx context.Context, emit func(Msg[Message]) error) error {
	for src.drainOn == nil || src.drainOn.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, fetchWait)
		batch, err := src.cons.Fetch(src.pullMax, jetstream.FetchContext(fctx))
		if err == nil {
			err = src.emitBatch(batch, emit)
		}
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, errEmit):
			return err
		case err != nil && !errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("streamnats: consuming: %w", err)
		}
	}
	return nil // drained
}

var errEmit = errors.New("streamnats: output released")

// emitBatch emits the messages of batch until it ends.
func (src *source) emitBatch(batch jetstream.MessageBatch, emit func(Msg[Message]) error) error {
	for m := range batch.Messages() {
		message, err := newMessage(m)
		if err != nil {
			continue // not a JetStream message: nothing to acknowledge
		}
		t := &ticket{msg: m, s: src.s, message: message}
		t.hold(1)
		if err := emit(Msg[Message]{Value: message, t: t}); err != nil {
			return errEmit
		}
	}
	return batch.Error()
}
