package stream_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pipewright/stream"
)

// This example counts words in a few lines of text: a source, a concurrent
// transform, a filter and a blocking sink, all owned by one pipeline.
func Example_pipeline() {
	lines := []string{
		"the quick brown fox",
		"jumps over the lazy dog",
		"the dog sleeps",
	}
	p := stream.New(context.Background())

	// Split each line into words, with two workers.
	words := stream.FlatMap(p, stream.FromSlice(p, lines),
		func(_ context.Context, line string, emit func(string) error) error {
			for w := range strings.FieldsSeq(line) {
				if err := emit(w); err != nil {
					return err // the pipeline is ending
				}
			}
			return nil
		}, stream.Workers(2))

	// Drop the short words.
	long := stream.Filter(p, words, func(_ context.Context, w string) (bool, error) {
		return len(w) > 3, nil
	})

	// Count the rest. Reduce waits for the whole pipeline.
	counts, err := stream.Reduce(p, long, map[string]int{}, func(acc map[string]int, w string) map[string]int {
		acc[w]++
		return acc
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, w := range slices.Sorted(maps.Keys(counts)) {
		fmt.Println(w, counts[w])
	}
	// Output:
	// brown 1
	// jumps 1
	// lazy 1
	// over 1
	// quick 1
	// sleeps 1
}

func ExampleNew() {
	p := stream.New(context.Background())
	squares := stream.Map(p, stream.FromSlice(p, []int{1, 2, 3}), func(_ context.Context, v int) (int, error) {
		return v * v, nil
	})
	got, err := stream.Collect(p, squares) // Collect calls p.Wait
	fmt.Println(got, err)
	// Output: [1 4 9] <nil>
}

func ExampleRun() {
	err := stream.Run(context.Background(), func(p *stream.Pipeline) error {
		words := stream.FromSlice(p, []string{"alpha", "beta", "gamma"})
		stream.ForEach(p, words, func(_ context.Context, w string) error {
			fmt.Println(strings.ToUpper(w))
			return nil
		})
		return nil
	})
	fmt.Println("err:", err)
	// Output:
	// ALPHA
	// BETA
	// GAMMA
	// err: <nil>
}

func ExamplePipeline_Go() {
	p := stream.New(context.Background())

	// A custom stage feeding a channel of its own. It closes its output when
	// done, and watches ctx so that it never blocks once the pipeline ends.
	numbers := make(chan int)
	p.Go("countdown", func(ctx context.Context) error {
		defer close(numbers)
		for i := 3; i > 0; i-- {
			select {
			case numbers <- i:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})

	got, err := stream.Collect(p, numbers)
	fmt.Println(got, err)
	// Output: [3 2 1] <nil>
}

func ExamplePipeline_Stop() {
	p := stream.New(context.Background())
	naturals := stream.Generate(p, func(_ context.Context, emit func(int) error) error {
		for i := 0; ; i++ {
			if err := emit(i); err != nil {
				return err
			}
		}
	})
	sum := 0
	stream.ForEach(p, naturals, func(_ context.Context, v int) error {
		sum += v
		if v == 4 {
			p.Stop() // enough: end the pipeline without an error
		}
		return nil
	})
	err := p.Wait()
	fmt.Println(sum, err, context.Cause(p.Context()) == stream.ErrStopped)
	// Output: 10 <nil> true
}

func ExamplePipeline_Wait() {
	p := stream.New(context.Background())
	stream.ForEach(p, stream.FromSlice(p, []string{"1", "2", "x"}), func(_ context.Context, s string) error {
		_, err := strconv.Atoi(s)
		return err
	}, stream.Name("atoi"))
	fmt.Println(p.Wait())
	// Output: stream: stage atoi: strconv.Atoi: parsing "x": invalid syntax
}

func ExamplePipeline_Context() {
	p := stream.New(context.Background())
	stream.ForEach(p, stream.FromSlice(p, []int{1, 2, 3}), func(_ context.Context, v int) error {
		if v == 2 {
			return errors.New("two is too many")
		}
		return nil
	}, stream.Name("check"))
	_ = p.Wait()

	// The first stage error is the cause of the context's cancellation.
	<-p.Context().Done()
	fmt.Println(context.Cause(p.Context()))
	// Output: stream: stage check: two is too many
}

func ExamplePipeline_Stats() {
	p := stream.New(context.Background())
	evens := stream.Filter(p, stream.FromSlice(p, []int{1, 2, 3, 4, 5}), func(_ context.Context, v int) (bool, error) {
		return v%2 == 0, nil
	}, stream.Name("evens"))
	if err := stream.Drain(p, evens); err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range p.Stats() {
		fmt.Printf("%-8s %-7s in=%d out=%d\n", s.Name, s.Kind, s.In, s.Out)
	}
	// Output:
	// slice#1  slice   in=0 out=5
	// evens    filter  in=5 out=2
	// drain#3  drain   in=2 out=0
}

func ExamplePipeline_Graph() {
	p := stream.New(context.Background())
	names := stream.FromSlice(p, []string{"a", "b"}, stream.Name("names"))
	upper := stream.Map(p, names, func(_ context.Context, s string) (string, error) {
		return strings.ToUpper(s), nil
	}, stream.Name("upper"), stream.Workers(2), stream.Capacity(8))
	_ = stream.Drain(p, upper)
	fmt.Print(p.Graph())
	// Output:
	// flowchart LR
	//     s1["names<br/><small>slice</small>"]
	//     s2["upper<br/><small>map ×2</small>"]
	//     s3["drain#3<br/><small>drain</small>"]
	//     s1 -->|64| s2
	//     s2 -->|8| s3
}

func ExampleFromSlice() {
	p := stream.New(context.Background())
	got, err := stream.Collect(p, stream.FromSlice(p, []string{"a", "b", "c"}))
	fmt.Println(got, err)
	// Output: [a b c] <nil>
}

func ExampleFromSeq() {
	p := stream.New(context.Background())
	fields := stream.FromSeq(p, strings.FieldsSeq("  lazy   iterators\twork "))
	got, err := stream.Collect(p, fields)
	fmt.Printf("%q %v\n", got, err)
	// Output: ["lazy" "iterators" "work"] <nil>
}

func ExampleFromSeq2() {
	// A sequence of values and errors, as a reader of records would yield.
	records := func(yield func(int, error) bool) {
		for _, s := range []string{"10", "20", "oops", "40"} {
			n, err := strconv.Atoi(s)
			if !yield(n, err) {
				return
			}
		}
	}
	p := stream.New(context.Background())
	err := stream.Drain(p, stream.FromSeq2(p, records)) // the error ends the stream
	fmt.Println(err)
	fmt.Println(errors.Is(err, strconv.ErrSyntax))
	// Output:
	// stream: stage seq2#1: strconv.Atoi: parsing "oops": invalid syntax
	// true
}

func ExampleGenerate() {
	p := stream.New(context.Background())
	fib := stream.Generate(p, func(_ context.Context, emit func(int) error) error {
		a, b := 0, 1
		for a < 100 {
			if err := emit(a); err != nil {
				return err
			}
			a, b = b, a+b
		}
		return nil
	})
	got, err := stream.Collect(p, fib)
	fmt.Println(got, err)
	// Output: [0 1 1 2 3 5 8 13 21 34 55 89] <nil>
}

func ExampleTick() {
	p := stream.New(context.Background())
	ticks := 0
	stream.ForEach(p, stream.Tick(p, time.Millisecond), func(_ context.Context, t time.Time) error {
		if ticks++; ticks == 3 {
			p.Stop() // a ticker never ends by itself
		}
		return nil
	})
	err := p.Wait()
	fmt.Println(ticks, "ticks,", err)
	// Output: 3 ticks, <nil>
}

func ExampleMap() {
	p := stream.New(context.Background())
	lengths := stream.Map(p, stream.FromSlice(p, []string{"go", "stream", "map", "channel"}),
		func(_ context.Context, s string) (int, error) {
			return len(s), nil
		}, stream.Workers(4))
	got, err := stream.Collect(p, lengths)
	slices.Sort(got) // four workers: results arrive in completion order
	fmt.Println(got, err)
	// Output: [2 3 6 7] <nil>
}

func ExampleFilter() {
	p := stream.New(context.Background())
	odd := stream.Filter(p, stream.FromSlice(p, []int{1, 2, 3, 4, 5, 6, 7}), func(_ context.Context, v int) (bool, error) {
		return v%2 == 1, nil
	})
	got, err := stream.Collect(p, odd)
	fmt.Println(got, err)
	// Output: [1 3 5 7] <nil>
}

func ExampleFlatMap() {
	p := stream.New(context.Background())
	repeated := stream.FlatMap(p, stream.FromSlice(p, []int{1, 2, 3}), func(_ context.Context, v int, emit func(int) error) error {
		for range v { // emit v, v times
			if err := emit(v); err != nil {
				return err
			}
		}
		return nil
	})
	got, err := stream.Collect(p, repeated)
	fmt.Println(got, err)
	// Output: [1 2 2 3 3 3] <nil>
}

func ExampleForEach() {
	p := stream.New(context.Background())
	stream.ForEach(p, stream.FromSlice(p, []string{"one", "two", "three"}), func(_ context.Context, s string) error {
		fmt.Println(s) // one worker: in input order
		return nil
	})
	if err := p.Wait(); err != nil { // ForEach does not block
		fmt.Println(err)
	}
	// Output:
	// one
	// two
	// three
}

func ExampleCollect() {
	p := stream.New(context.Background())
	doubled := stream.Map(p, stream.FromSlice(p, []int{1, 2, 3, 4}), func(_ context.Context, v int) (int, error) {
		return 2 * v, nil
	})
	got, err := stream.Collect(p, doubled) // reads to the end, then waits
	fmt.Println(got, err)
	// Output: [2 4 6 8] <nil>
}

func ExampleReduce() {
	p := stream.New(context.Background())
	sum, err := stream.Reduce(p, stream.FromSlice(p, []int{1, 2, 3, 4}), 0, func(acc, v int) int {
		return acc + v
	})
	fmt.Println(sum, err)
	// Output: 10 <nil>
}

func ExampleFirst() {
	p := stream.New(context.Background())
	// An endless source: First releases it after one match, and it stops.
	naturals := stream.Generate(p, func(_ context.Context, emit func(int) error) error {
		for i := 1; ; i++ {
			if err := emit(i); err != nil {
				return err
			}
		}
	})
	big := stream.Filter(p, naturals, func(_ context.Context, v int) (bool, error) {
		return v*v > 50, nil
	})
	v, err := stream.First(p, big)
	fmt.Println(v, err)
	// Output: 8 <nil>
}

func ExampleFirst_empty() {
	p := stream.New(context.Background())
	_, err := stream.First(p, stream.FromSlice(p, []int(nil)))
	fmt.Println(errors.Is(err, stream.ErrEmpty))
	// Output: true
}

func ExampleDrain() {
	p := stream.New(context.Background())
	// Run a pipeline for its side effects only.
	checked := stream.Map(p, stream.FromSlice(p, []string{"8080", "443", "http"}), func(_ context.Context, s string) (int, error) {
		return strconv.Atoi(s)
	}, stream.Name("port"))
	err := stream.Drain(p, checked)
	fmt.Println(err)
	// Output: stream: stage port: strconv.Atoi: parsing "http": invalid syntax
}

func ExampleName() {
	p := stream.New(context.Background())
	src := stream.FromSlice(p, []int{1}, stream.Name("numbers"))
	_ = stream.Drain(p, src)
	for _, s := range p.Stats() {
		fmt.Println(s.Name) // unnamed stages are called kind#N
	}
	// Output:
	// numbers
	// drain#2
}

func ExampleWorkers() {
	p := stream.New(context.Background())
	squares := stream.Map(p, stream.FromSlice(p, []int{1, 2, 3, 4, 5}), func(_ context.Context, v int) (int, error) {
		return v * v, nil // must be safe for concurrent use
	}, stream.Workers(3))
	got, err := stream.Collect(p, squares)
	slices.Sort(got)
	fmt.Println(got, err, p.Stats()[1].Workers)
	// Output: [1 4 9 16 25] <nil> 3
}

func ExampleCapacity() {
	p := stream.New(context.Background())
	src := stream.FromSlice(p, []int{1, 2, 3}, stream.Capacity(1))
	_ = stream.Drain(p, src)
	fmt.Println(p.Stats()[0].QueueCap)
	// Output: 1
}

func ExampleError() {
	errNegative := errors.New("negative")
	p := stream.New(context.Background())
	checked := stream.Map(p, stream.FromSlice(p, []int{3, -1, 2}), func(_ context.Context, v int) (int, error) {
		if v < 0 {
			return 0, fmt.Errorf("%d: %w", v, errNegative)
		}
		return v, nil
	}, stream.Name("validate"))
	err := stream.Drain(p, checked)

	var se *stream.Error
	if errors.As(err, &se) {
		fmt.Println("stage:", se.Stage)
		fmt.Println("cause:", se.Err)
	}
	fmt.Println(errors.Is(err, errNegative))
	// Output:
	// stage: validate
	// cause: -1: negative
	// true
}

func ExamplePanicError() {
	p := stream.New(context.Background())
	inverse := stream.Map(p, stream.FromSlice(p, []int{2, 0}), func(_ context.Context, v int) (int, error) {
		return 10 / v, nil // panics on 0
	}, stream.Name("inverse"))
	err := stream.Drain(p, inverse)

	var pe *stream.PanicError
	if errors.As(err, &pe) {
		fmt.Println("recovered:", pe.Value)
		fmt.Println("has stack:", len(pe.Stack) > 0)
	}
	fmt.Println(err)
	// Output:
	// recovered: runtime error: integer divide by zero
	// has stack: true
	// stream: stage inverse: panic: runtime error: integer divide by zero
}
