package streamnats

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pipewright/stream"
)

// An Option tunes a [Source]. Options are created by the functions of this
// package; invalid values panic when the option is created.
type Option interface {
	apply(*sourceConfig)
}

type optionFunc func(*sourceConfig)

func (f optionFunc) apply(c *sourceConfig) { f(c) }

// Defaults of a Source's options.
const (
	// DefaultPullMax is how many messages a Source asks the server for
	// ahead of the pipeline, without [PullMax].
	DefaultPullMax = 256
	// MaxPullMax is the largest [PullMax].
	MaxPullMax = 1 << 16
	// DefaultMaxDeliveries is a message's delivery budget without
	// [MaxDeliveries].
	DefaultMaxDeliveries = 5
	// DefaultNakDelay and DefaultNakDelayMax bound the redelivery delay
	// without [NakDelay].
	DefaultNakDelay    = time.Second
	DefaultNakDelayMax = time.Minute
)

type sourceConfig struct {
	pullMax       int
	maxDeliveries int
	nakInitial    time.Duration
	nakMax        time.Duration
	js            jetstream.JetStream
	deadLetter    string
	drainOn       context.Context
	stageOpts     []stream.Option
}

func newSourceConfig(opts []Option) sourceConfig {
	c := sourceConfig{
		pullMax:       DefaultPullMax,
		maxDeliveries: DefaultMaxDeliveries,
		nakInitial:    DefaultNakDelay,
		nakMax:        DefaultNakDelayMax,
	}
	for _, o := range opts {
		if o == nil {
			panic("streamnats: nil Option")
		}
		o.apply(&c)
	}
	return c
}

// PullMax sets the batch size of the source's pull requests: at most n
// messages wait in the client for the pipeline to take them, and the source
// asks for the next batch only once the pipeline has taken the last, so a
// slow pipeline slows the server's deliveries instead of filling memory. The
// default is [DefaultPullMax]. The client allocates buffers of n messages
// per request: n < 1 or n > [MaxPullMax] panics.
func PullMax(n int) Option {
	if n < 1 || n > MaxPullMax {
		panic("streamnats: PullMax: n must be between 1 and MaxPullMax")
	}
	return optionFunc(func(c *sourceConfig) { c.pullMax = n })
}

// MaxDeliveries sets a message's delivery budget: a message whose
// processing fails on its n-th delivery is dead-lettered instead of NAKed.
// The consumer's own MaxDeliver, when lower, is the budget instead (the
// server would not deliver the message again). The default is
// [DefaultMaxDeliveries]. n < 1 panics.
func MaxDeliveries(n int) Option {
	if n < 1 {
		panic("streamnats: MaxDeliveries: n must be at least 1")
	}
	return optionFunc(func(c *sourceConfig) { c.maxDeliveries = n })
}

// NakDelay sets how long the server waits before redelivering a failed
// message: initial after its first delivery, doubling with each further
// delivery, never more than max. The defaults are [DefaultNakDelay] and
// [DefaultNakDelayMax]. A negative value, or max < initial, panics.
func NakDelay(initial, max time.Duration) Option {
	if initial < 0 || max < initial {
		panic("streamnats: NakDelay: need 0 <= initial <= max")
	}
	return optionFunc(func(c *sourceConfig) { c.nakInitial, c.nakMax = initial, max })
}

// DeadLetter makes the source publish a message that used up its delivery
// budget to subject, through js with a publish acknowledgement, before
// terminating it (see "Failure" in the package doc). A stream must capture
// subject. A nil js or an empty subject panics.
func DeadLetter(js jetstream.JetStream, subject string) Option {
	if js == nil || subject == "" {
		panic("streamnats: DeadLetter: nil JetStream or empty subject")
	}
	return optionFunc(func(c *sourceConfig) { c.js, c.deadLetter = js, subject })
}

// DrainOn makes the source drain once ctx is done: it asks for no more
// messages, emits those of the pull request in progress (which ends within
// a second), and closes its output,
// so the pipeline finishes every message it received and ends without
// error (see "Stopping" in the package doc). A nil ctx panics.
func DrainOn(ctx context.Context) Option {
	if ctx == nil {
		panic("streamnats: DrainOn: nil context")
	}
	return optionFunc(func(c *sourceConfig) { c.drainOn = ctx })
}

// StageOptions passes options of package stream (Name, Capacity) to the
// source's stage.
func StageOptions(opts ...stream.Option) Option {
	return optionFunc(func(c *sourceConfig) { c.stageOpts = append(c.stageOpts, opts...) })
}
