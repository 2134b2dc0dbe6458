package streamnats

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pipewright/stream"
)

// Source emits the messages of the JetStream pull consumer cons, each tied
// to its message for acknowledgement (see "Acknowledgement" in the package
// doc). It is one stage (a stream.Generate) whose goroutine reads the
// consumer; the client keeps at most [PullMax] messages waiting for it.
//
// The output closes when the pipeline ends — leaving every message not yet
// finished unacknowledged, for redelivery — or, after [DrainOn]'s context
// ends, once the messages already received are emitted. A consumer the
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

func (src *source) run(ctx context.Context, emit func(Msg[Message]) error) error {
	it, err := src.cons.Messages(jetstream.PullMaxMessages(src.pullMax))
	if err != nil {
		return fmt.Errorf("streamnats: consuming: %w", err)
	}
	defer it.Stop() // messages the client still holds are redelivered
	if src.drainOn != nil {
		stop := context.AfterFunc(src.drainOn, it.Drain)
		defer stop()
	}
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case errors.Is(err, jetstream.ErrMsgIteratorClosed) && src.drainOn != nil && src.drainOn.Err() != nil:
				return nil // drained
			}
			return fmt.Errorf("streamnats: consuming: %w", err)
		}
		message, err := newMessage(m)
		if err != nil {
			// Not a JetStream message: nothing to acknowledge, nothing to emit.
			continue
		}
		t := &ticket{msg: m, s: src.s, message: message}
		t.hold(1)
		if err := emit(Msg[Message]{Value: message, t: t}); err != nil {
			return err
		}
	}
}
