package benchmarks

import (
	"github.com/destel/rill"
)

// rill (github.com/destel/rill v0.7.0, the version the module proxy serves
// us) with its own idiom: Generate as the source, its Map, Filter,
// OrderedMap and Batch as the stages, a range over the last channel of
// rill.Try as the consumer. Its stages use their own channels (unbuffered:
// rill has no capacity parameter), so unlike the others they do not run
// with channels of capacity 64.

func rillSource(n int) <-chan rill.Try[int] {
	return rill.Generate(func(send func(int), _ func(error)) {
		for i := range n {
			send(i)
		}
	})
}

// rillSum is the consumer: it stops at the first error and drains the rest
// in the background, as rill's documentation asks.
func rillSum(in <-chan rill.Try[int]) (int, error) {
	s := 0
	for t := range in {
		if t.Error != nil {
			rill.DrainNB(in)
			return 0, t.Error
		}
		s += t.Value
	}
	return s, nil
}

func rillFn(fn func(int) int) func(int) (int, error) {
	return func(v int) (int, error) { return fn(v), nil }
}

func rillOneHop(n int) (int, error) { return rillSum(rillSource(n)) }

func rillPipeline3(n int) (int, error) {
	c := rill.Map(rillSource(n), 1, rillFn(inc))
	c = rill.Filter(c, 1, func(v int) (bool, error) { return v&1 == 0, nil })
	c = rill.Map(c, 1, rillFn(inc))
	return rillSum(c)
}

func rillMap(workers int, fn func(int) int) func(int) (int, error) {
	return func(n int) (int, error) { return rillSum(rill.Map(rillSource(n), workers, rillFn(fn))) }
}

func rillOrderedMap(workers int, fn func(int) int) func(int) (int, error) {
	return func(n int) (int, error) { return rillSum(rill.OrderedMap(rillSource(n), workers, rillFn(fn))) }
}

// rillBatch batches 100 elements with no time limit (-1).
func rillBatch(n int) (int, error) {
	s := 0
	for t := range rill.Batch(rillSource(n), 100, -1) {
		if t.Error != nil {
			return 0, t.Error
		}
		for _, v := range t.Value {
			s += v
		}
	}
	return s, nil
}
