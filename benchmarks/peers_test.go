package benchmarks

import (
	"sync"

	"github.com/alitto/pond/v2"
	"github.com/panjf2000/ants/v2"
	"github.com/samber/lo"
	"github.com/samber/ro"
	"github.com/sourcegraph/conc/pool"
	cstream "github.com/sourcegraph/conc/stream"
	"golang.org/x/sync/errgroup"
)

// Peer implementations, each with the peer's own idiom for the workload.
// The pools (conc, pond, ants, errgroup) take a task per element from a
// submitting goroutine and send the results on a channel of the same
// capacity as everyone else's; ro puts each stage on a goroutine of its own
// with ObserveOn, its operator for that.

// loSource is lo's channel source: a goroutine yielding 0..n-1.
func loSource(n int) <-chan int {
	//lint:ignore SA1019 Generator is lo's channel source; its replacement, iter, makes no channel.
	return lo.Generator(capacity, func(yield func(int)) {
		for i := range n {
			yield(i)
		}
	})
}

func loOneHop(n int) (int, error) {
	return sum(loSource(n)), nil
}

// loBatch batches with lo.Buffer, which reads up to 100 elements into a new
// slice, in a goroutine between the source and the consumer.
func loBatch(n int) (int, error) {
	in := loSource(n)
	out := make(chan []int, capacity)
	go func() {
		defer close(out)
		for {
			b, length, _, ok := lo.Buffer(in, batchSize)
			if length > 0 {
				out <- b
			}
			if !ok {
				return
			}
		}
	}()
	total := 0
	for b := range out {
		total = sumBatch(total, b)
	}
	return total, nil
}

// loFanOutMerge distributes with lo.ChannelDispatcher (round robin, lo's
// default strategy) and merges with lo.FanIn. (lo.FanOut broadcasts every
// element to every output, a different workload.)
func loFanOutMerge(n int) (int, error) {
	outs := lo.ChannelDispatcher(loSource(n), fanWidth, capacity, lo.DispatchingStrategyRoundRobin[int])
	return sum(lo.FanIn(capacity, outs...)), nil
}

func roInc(v int64) int64                { return v + 1 }
func roEven(v int64) bool                { return v&1 == 0 }
func roRange(n int) ro.Observable[int64] { return ro.Range(0, int64(n)) }

// roOneHop moves the values of ro.Range to another goroutine with
// ObserveOn: one hop.
func roOneHop(n int) (int, error) {
	return roSum(ro.Pipe1(roRange(n), ro.ObserveOn[int64](capacity)), roAdd)
}

// roPipeline3 runs each operator on a goroutine of its own, as the
// channel pipelines do: four ObserveOn hops.
func roPipeline3(n int) (int, error) {
	return roSum(ro.Pipe7(
		roRange(n),
		ro.ObserveOn[int64](capacity),
		ro.Map(roInc),
		ro.ObserveOn[int64](capacity),
		ro.Filter(roEven),
		ro.ObserveOn[int64](capacity),
		ro.Map(roInc),
		ro.ObserveOn[int64](capacity),
	), roAdd)
}

// roBatch batches with BufferWithCount on a goroutine between the source
// and the consumer.
func roBatch(n int) (int, error) {
	return roSum(ro.Pipe3(
		roRange(n),
		ro.ObserveOn[int64](capacity),
		ro.BufferWithCount[int64](batchSize),
		ro.ObserveOn[[]int64](capacity),
	), func(a int, b []int64) int {
		for _, v := range b {
			a += int(v)
		}
		return a
	})
}

// poolMap runs a parallel map on a pool: a goroutine submits one task per
// element with submit and then calls wait; each task sends its result to
// the consumer.
func poolMap(n int, submit func(task func()) error, wait func() error, fn func(int) int) (int, error) {
	out := make(chan int, capacity)
	var err error
	go func() {
		defer close(out)
		for i := range n {
			if err = submit(func() { out <- fn(i) }); err != nil {
				break
			}
		}
		if werr := wait(); err == nil {
			err = werr
		}
	}()
	s := sum(out)
	return s, err // out is closed: err is written
}

func concPool(workers int, fn func(int) int) func(int) (int, error) {
	return func(n int) (int, error) {
		p := pool.New().WithMaxGoroutines(workers)
		return poolMap(n, func(task func()) error { p.Go(task); return nil }, func() error { p.Wait(); return nil }, fn)
	}
}

// pondPool bounds pond's task queue (unbounded by default) to the common
// capacity, so that the submitter blocks as every other producer here does.
func pondPool(workers int, fn func(int) int) func(int) (int, error) {
	return func(n int) (int, error) {
		p := pond.NewPool(workers, pond.WithQueueSize(capacity))
		return poolMap(n, p.Go, func() error { p.StopAndWait(); return nil }, fn)
	}
}

func errgroupMap(workers int, fn func(int) int) func(int) (int, error) {
	return func(n int) (int, error) {
		var g errgroup.Group
		g.SetLimit(workers)
		return poolMap(n, func(task func()) error { g.Go(func() error { task(); return nil }); return nil }, g.Wait, fn)
	}
}

// antsPool uses ants' generic pool with a function, which passes the
// element without a closure per task; ants has no Wait, so a WaitGroup
// counts the tasks, as its documentation shows.
func antsPool(workers int, fn func(int) int) func(int) (int, error) {
	return func(n int) (int, error) {
		out := make(chan int, capacity)
		var wg sync.WaitGroup
		p, err := ants.NewPoolWithFuncGeneric(workers, func(v int) {
			out <- fn(v)
			wg.Done()
		})
		if err != nil {
			return 0, err
		}
		go func() {
			defer close(out)
			defer p.Release()
			for i := range n {
				wg.Add(1)
				if err = p.Invoke(i); err != nil {
					wg.Done()
					break
				}
			}
			wg.Wait()
		}()
		s := sum(out)
		return s, err
	}
}

// concStream is conc's ordered stream: each task returns a callback, and
// the callbacks run in submission order on one goroutine, the consumer.
func concStream(workers int, fn func(int) int) func(int) (int, error) {
	return func(n int) (int, error) {
		s := cstream.New().WithMaxGoroutines(workers)
		var o inOrder
		for i := range n {
			s.Go(func() cstream.Callback {
				v := fn(i)
				return func() { _ = o.add(v) }
			})
		}
		s.Wait()
		return o.sum, o.err
	}
}
