package streamnats

import (
	"context"
	"errors"
	"time"

	"github.com/pipewright/stream"
)

// The operators of this file are those of package stream, over Msg
// elements: each calls its function with the element's Value and ties what
// it emits to the element's messages. Each is one stage of package stream
// (Batch is two) and takes that stage's options; see package stream for
// what they emit, when their output closes, and how many goroutines they
// start.
//
// A function's error is retried per stream.Retry, if given; then, instead
// of failing the pipeline, it fails the element's messages: they are NAKed
// for redelivery, or dead-lettered once out of budget (see "Failure" in the
// package doc), and the element is skipped. [OnError] changes that. An
// acknowledgement that fails fails the pipeline with [ErrAck].

// OnError decides what happens to an element whose function failed, after
// any retries, in the stages of this package: h gets the element's value
// and the error, and returns nil to skip the element and count its
// messages as finished with (acknowledged once nothing else derived from
// them is open), an error wrapping [ErrRedeliver] to NAK or dead-letter
// them as if no handler were given, or another error to fail the pipeline
// with it, leaving them unacknowledged. T must be the stage's input value
// type (not Msg[T]): a mismatch panics when the stage is built. A nil h
// panics.
func OnError[T any](h func(v T, err error) error) stream.Option {
	if h == nil {
		panic("streamnats: OnError: nil handler")
	}
	return stream.OnError(func(m Msg[T], err error) error {
		if errors.Is(err, ErrAck) {
			return err // not the function's failure: the connection's
		}
		herr := h(m.Value, err)
		switch {
		case herr == nil:
			return m.done()
		case errors.Is(herr, ErrRedeliver):
			return m.fail(err)
		}
		return herr
	})
}

// failed is the default OnError of the stages of this package.
// An acknowledgement that failed ([ErrAck]) fails the pipeline instead.
func failed[T any]() stream.Option {
	return stream.OnError(func(m Msg[T], err error) error {
		if errors.Is(err, ErrAck) {
			return err
		}
		return m.fail(err)
	})
}

// withDefault puts def before opts, so that an OnError among opts wins.
func withDefault(def stream.Option, opts []stream.Option) []stream.Option {
	return append([]stream.Option{def}, opts...)
}

// Map emits fn(v) for each element v of in, tied to v's messages. See
// stream.Map.
func Map[T, U any](p *stream.Pipeline, in <-chan Msg[T], fn func(context.Context, T) (U, error), opts ...stream.Option) <-chan Msg[U] {
	if fn == nil {
		panic("streamnats: Map: nil function")
	}
	return stream.Map(p, in, func(ctx context.Context, m Msg[T]) (Msg[U], error) {
		u, err := fn(ctx, m.Value)
		return carry(m, u), err
	}, withDefault(failed[T](), opts)...)
}

// Filter emits the elements of in for which keep returns true; the
// messages of an element it leaves out are finished with. See
// stream.Filter.
func Filter[T any](p *stream.Pipeline, in <-chan Msg[T], keep func(context.Context, T) (bool, error), opts ...stream.Option) <-chan Msg[T] {
	if keep == nil {
		panic("streamnats: Filter: nil function")
	}
	return stream.Filter(p, in, func(ctx context.Context, m Msg[T]) (bool, error) {
		ok, err := keep(ctx, m.Value)
		if err != nil || ok {
			return ok, err
		}
		return false, m.done()
	}, withDefault(failed[T](), opts)...)
}

// FlatMap calls fn for each element of in; every value fn emits is tied to
// the element's messages, which are finished with once fn has returned
// and every emitted value has been finished with (at once, if fn emitted
// nothing). Values emitted by an attempt that then failed are not taken
// back: with the messages redelivered, they are emitted again. See
// stream.FlatMap.
func FlatMap[T, U any](p *stream.Pipeline, in <-chan Msg[T], fn func(ctx context.Context, v T, emit func(U) error) error, opts ...stream.Option) <-chan Msg[U] {
	if fn == nil {
		panic("streamnats: FlatMap: nil function")
	}
	return stream.FlatMap(p, in, func(ctx context.Context, m Msg[T], emit func(Msg[U]) error) error {
		err := fn(ctx, m.Value, func(u U) error {
			m.each(func(t *ticket) error { t.hold(1); return nil })
			return emit(carry(m, u))
		})
		if err != nil {
			return err
		}
		return m.done()
	}, withDefault(failed[T](), opts)...)
}

// Batch groups the elements of in into slices of at most size values, a
// slice emitted once full or maxWait after its first value (never, with
// maxWait <= 0), tied to the messages of all its elements. It is two
// stages: stream.Batch, which takes opts, and a Map joining the ties,
// whose output holds one batch. See stream.Batch.
func Batch[T any](p *stream.Pipeline, in <-chan Msg[T], size int, maxWait time.Duration, opts ...stream.Option) <-chan Msg[[]T] {
	batches := stream.Batch(p, in, size, maxWait, opts...)
	return stream.Map(p, batches, func(_ context.Context, ms []Msg[T]) (Msg[[]T], error) {
		out := Msg[[]T]{Value: make([]T, len(ms))}
		n := 0
		for i := range ms {
			out.Value[i] = ms[i].Value
			n += len(ms[i].g)
			if ms[i].t != nil {
				n++
			}
		}
		if n > 0 {
			out.g = make([]*ticket, 0, n)
			for i := range ms {
				ms[i].each(func(t *ticket) error { out.g = append(out.g, t); return nil })
			}
		}
		return out, nil
	}, stream.Capacity(1))
}
