package stream

import (
	"strconv"
	"time"
)

// DefaultCapacity is the capacity of a stage's output channel when no
// [Capacity] option is given. Large enough that a producer and a consumer on
// different cores rarely wait on each other element by element, small enough
// that a pipeline of ten stages holds well under a thousand elements in flight.
// The value was chosen with BenchmarkCapacity in bench_test.go.
const DefaultCapacity = 64

// An Option tunes one stage. Options are created by the functions of this
// package; invalid values panic when the option is created.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// config is what the options of one stage add up to.
type config struct {
	name     string
	workers  int
	capacity int
	ordered  bool
	timeout  time.Duration
	retry    *RetryPolicy // normalised; nil without Retry
	onError  any          // func(T, error) error for the stage's T
	onDrop   any          // func(T) for the stage's T
	adaptive *adaptive
	observer Observer
	window   windowOptions // WindowReduce's EventTime, MaxPanes and Idle
	maxLine  int           // MaxLineLength; 0 for the default
	set      uses          // which options were given, to reject those that do not apply
}

// uses says which options apply to a kind of stage.
type uses uint8

const (
	usesWorkers  uses = 1 << iota // Workers
	usesOrder                     // Ordered
	usesPolicy                    // Timeout, Retry, OnError, AdaptiveWorkers
	usesDrop                      // OnDrop
	usesCapacity                  // Capacity
	usesWindow                    // EventTime, MaxPanes, Idle
	usesMaxLine                   // MaxLineLength
)

var optionNames = []struct {
	u    uses
	name string
}{
	{usesWorkers, "Workers"},
	{usesOrder, "Ordered"},
	{usesPolicy, "Timeout, Retry, OnError and AdaptiveWorkers"},
	{usesDrop, "OnDrop"},
	{usesCapacity, "Capacity"},
	{usesWindow, "EventTime, MaxPanes and Idle"},
	{usesMaxLine, "MaxLineLength"},
}

func newConfig(opts []Option) config {
	c := config{workers: 1, capacity: DefaultCapacity}
	for _, o := range opts {
		if o == nil {
			panic("stream: nil Option")
		}
		o.apply(&c)
	}
	return c
}

// Name names the stage in errors, [Pipeline.Stats] and [Pipeline.Graph].
// Without it a stage is named after its kind and its position in the
// pipeline, as in "map#3". Names are unique within a pipeline: a name
// already taken panics when the stage is built. An empty name panics.
func Name(name string) Option {
	if name == "" {
		panic("stream: Name: empty name")
	}
	return optionFunc(func(c *config) { c.name = name })
}

// Workers sets how many goroutines call the stage's function concurrently;
// the default is 1. With n > 1 the function must be safe for concurrent use,
// and elements leave the stage in completion order. n < 1 or n > 65536
// panics.
func Workers(n int) Option {
	if n < 1 {
		panic("stream: Workers: n must be at least 1")
	}
	checkMax(n, maxWorkers, "Workers")
	return optionFunc(func(c *config) { c.workers = n; c.set |= usesWorkers })
}

// Capacity sets the capacity of the stage's output channel (of each output,
// for stages with several); the default is [DefaultCapacity]. 0 makes the
// output unbuffered. When a stage of the pipeline consumes the output and
// elements travel in chunks (see "Channels" in the package doc), its queue
// holds n/16 chunks of up to 16, and the chunk being filled and the one
// being read add up to 32 elements in hand at its ends. n < 0 panics, and so do n > 2^30 and, when the stage
// is built, a channel of more than 1 GiB (n times the element's size): a
// channel's buffer is allocated when it is made.
func Capacity(n int) Option {
	if n < 0 {
		panic("stream: Capacity: n must not be negative")
	}
	checkMax(n, maxCapacity, "Capacity")
	return optionFunc(func(c *config) { c.capacity = n; c.set |= usesCapacity })
}

// Ordered makes a stage with [Workers](n > 1) emit its results in input
// order. The workers take the input in turn and each sends its results as
// soon as its element is the oldest not yet emitted (the head of the
// window); a worker whose element is not keeps them until it is. While one
// element is slow, the other workers go on: the reorder window holds at
// most 16·n elements, counted from when a worker receives an element until
// its last value is sent, so an element up to about 16 times slower than
// the others does not stall them. With [FlatMap] an element not at the head
// keeps up to 8 values; emit then blocks until it is at the head. An
// Ordered stage runs no goroutine besides its workers and adds no channel
// hop. Ordered applies to Map, Filter, FlatMap and Flatten; without Workers
// it changes nothing.
func Ordered() Option {
	return optionFunc(func(c *config) { c.ordered = true; c.set |= usesOrder })
}

// Limits on the sizes a stage allocates up front: goroutines (Workers,
// AdaptiveWorkers) and outputs (FanOut, Broadcast, Partition), and the
// capacity of a channel, in elements and in bytes. Beyond them a value is
// a mistake (math.MaxInt for "unbounded") that would crash the process
// with an allocation failure: it panics at construction instead.
const (
	maxWorkers   = 1 << 16
	maxCapacity  = 1 << 30
	maxChanBytes = 1 << 30
)

// checkMax panics if n exceeds max, which bounds the parameter of op.
func checkMax(n, max int, op string) {
	if n > max {
		panic("stream: " + op + ": " + strconv.Itoa(n) + " is too large (at most " + strconv.Itoa(max) + ")")
	}
}

// goroutines is the number of goroutines a stage with this config runs.
func (c config) goroutines() int {
	return c.workers
}

// stageConfig builds the config of a stage of the given kind from opts,
// panicking on options that do not apply to it. Name applies to every
// stage.
func stageConfig(kind string, opts []Option, allowed uses) config {
	c := newConfig(opts)
	if c.adaptive != nil && c.ordered {
		panic("stream: " + kind + ": AdaptiveWorkers and Ordered do not go together")
	}
	for _, o := range optionNames {
		if c.set&o.u != 0 && allowed&o.u == 0 {
			panic("stream: " + kind + ": " + o.name + " does not apply")
		}
	}
	return c
}

// typedConfig is stageConfig for a stage whose elements are of type T: a
// generic option (OnError, OnDrop) for another type panics here, before the
// stage is registered.
func typedConfig[T any](kind string, opts []Option, allowed uses) config {
	c := stageConfig(kind, opts, allowed)
	typedOption[func(T, error) error](c.onError, "OnError", kind)
	typedOption[func(T)](c.onDrop, "OnDrop", kind)
	return c
}
