package benchmarks

import (
	"context"
	"errors"
	"sync"

	"github.com/pipewright/stream"
	"github.com/samber/ro"
)

// Every channel in this suite, hand-written or a peer's buffer, has the
// library's default capacity, so no implementation wins by buffering more.
const capacity = stream.DefaultCapacity

// impl is one library's implementation of a workload: run pushes n elements
// through it and returns a checksum of what the consumer received.
type impl struct {
	lib string
	run func(n int) (int, error)
}

// workload is one case of a benchmark: the same n elements through every
// implementation. want is the checksum computed without concurrency.
type workload struct {
	name  string // sub-benchmark path before "lib=", e.g. "work=1us/workers=2"
	want  func(n int) int
	impls []impl
}

// errOutOfOrder is returned by the consumer of an ordered implementation
// that received an element before one that came earlier in the input.
var errOutOfOrder = errors.New("benchmarks: element out of order")

// Sends: the three ways hand-written code sends on a channel.

// sendPlain ignores done: the fastest send, and the one that leaks a
// goroutine when the consumer goes away.
func sendPlain[T any](out chan<- T, v T, _ <-chan struct{}) bool {
	out <- v
	return true
}

// sendSelect always selects on out and done.
func sendSelect[T any](out chan<- T, v T, done <-chan struct{}) bool {
	select {
	case out <- v:
		return true
	case <-done:
		return false
	}
}

// sendFast tries a non-blocking send first, then selects: leak-free, and as
// cheap as a plain send while the channel has room. This is the baseline the
// library is held to.
func sendFast[T any](out chan<- T, v T, done <-chan struct{}) bool {
	select {
	case out <- v:
		return true
	default:
	}
	select {
	case out <- v:
		return true
	case <-done:
		return false
	}
}

// sender is one way of sending, for the element types the workloads use.
type sender struct {
	lib   string
	int   func(chan<- int, int, <-chan struct{}) bool
	slice func(chan<- []int, []int, <-chan struct{}) bool
}

var senders = []sender{
	{"hand-plain", sendPlain[int], sendPlain[[]int]},
	{"hand-select", sendSelect[int], sendSelect[[]int]},
	{"hand-fastpath", sendFast[int], sendFast[[]int]},
}

// handSource sends 0..n-1 from a goroutine of its own.
func handSource(n int, done <-chan struct{}, send func(chan<- int, int, <-chan struct{}) bool) <-chan int {
	out := make(chan int, capacity)
	go func() {
		defer close(out)
		for i := range n {
			if !send(out, i, done) {
				return
			}
		}
	}()
	return out
}

// handStage is a hand-written Map (or Filter, when fn's bool is false) with
// workers goroutines; its output closes when they have all returned.
func handStage(in <-chan int, done <-chan struct{}, workers int, send func(chan<- int, int, <-chan struct{}) bool, fn func(int) (int, bool)) <-chan int {
	out := make(chan int, capacity)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for v := range in {
				if u, ok := fn(v); ok && !send(out, u, done) {
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(out) }()
	return out
}

// sum is the hand-written consumer.
func sum(in <-chan int) int {
	s := 0
	for v := range in {
		s += v
	}
	return s
}

func add(a, v int) int { return a + v }

// Element functions. The hand-written code uses the (int, bool) form, the
// library the context form, peers the plain form.

func inc(v int) int { return v + 1 }

func handInc(v int) (int, bool)  { return v + 1, true }
func handEven(v int) (int, bool) { return v, v&1 == 0 }

func streamInc(_ context.Context, v int) (int, error)   { return v + 1, nil }
func streamEven(_ context.Context, v int) (bool, error) { return v&1 == 0, nil }

// countTo is the library's allocation-free source of 0..n-1.
func countTo(n int) func(ctx context.Context, emit func(int) error) error {
	return func(_ context.Context, emit func(int) error) error {
		for i := range n {
			if err := emit(i); err != nil {
				return err
			}
		}
		return nil
	}
}

// streamFn adapts a plain element function to the library's form.
func streamFn(fn func(int) int) func(context.Context, int) (int, error) {
	return func(_ context.Context, v int) (int, error) { return fn(v), nil }
}

// roSum subscribes to obs and waits until it completes, adding each value
// to the checksum with fold.
func roSum[T any](obs ro.Observable[T], fold func(int, T) int) (int, error) {
	var (
		s    int
		err  error
		done = make(chan struct{})
	)
	obs.Subscribe(ro.NewObserver(
		func(v T) { s = fold(s, v) },
		func(e error) { err = e; close(done) },
		func() { close(done) },
	))
	<-done
	return s, err
}

func roAdd(a int, v int64) int { return a + int(v) }

// CPU work. spin does n units of work a few nanoseconds each, which the
// compiler cannot discard; its result is 0 or 1 and depends on n only, so
// checksums stay exact.
func spin(n int) int {
	x := uint64(n) | 1
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return int(x & 1)
}

// microsecond is the number of spin units that take about 1µs on the
// machine the README's table was made on (1.6ns a unit).
const microsecond = 625

// The work functions return 2v or 2v+1, so they are strictly increasing
// in v and the ordered consumers can check the order.

func work1us(v int) int { return v<<1 | spin(microsecond) }

// workSkewed takes about 1µs, except for one element in 100, chosen by a
// hash of its index so the slow ones are spread, which takes ten times as long.
func workSkewed(v int) int {
	if mix(uint64(v))%100 == 0 {
		return v<<1 | spin(10*microsecond)
	}
	return v<<1 | spin(microsecond)
}

// mix is the splitmix64 finaliser.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// sumOf is the checksum of fn applied to 0..n-1, computed sequentially.
func sumOf(fn func(int) int) func(n int) int {
	return func(n int) int {
		s := 0
		for i := range n {
			s += fn(i)
		}
		return s
	}
}

// inOrder is a consumer of mapped values that checks they arrive in input
// order: every work function here is strictly increasing in its input.
type inOrder struct {
	sum, last int
	started   bool
	err       error
}

func (o *inOrder) add(v int) error {
	if o.started && v <= o.last {
		o.err = errOutOfOrder
	}
	o.sum, o.last, o.started = o.sum+v, v, true
	return o.err
}
