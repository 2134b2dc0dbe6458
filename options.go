package stream

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
// pipeline, as in "map#3". An empty name panics.
func Name(name string) Option {
	if name == "" {
		panic("stream: Name: empty name")
	}
	return optionFunc(func(c *config) { c.name = name })
}

// Workers sets how many goroutines call the stage's function concurrently;
// the default is 1. With n > 1 the function must be safe for concurrent use,
// and elements leave the stage in completion order. n < 1 panics.
func Workers(n int) Option {
	if n < 1 {
		panic("stream: Workers: n must be at least 1")
	}
	return optionFunc(func(c *config) { c.workers = n })
}

// Capacity sets the capacity of the stage's output channel (of each output,
// for stages with several); the default is [DefaultCapacity]. 0 makes the
// output unbuffered. n < 0 panics.
func Capacity(n int) Option {
	if n < 0 {
		panic("stream: Capacity: n must not be negative")
	}
	return optionFunc(func(c *config) { c.capacity = n })
}
