package stream_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pipewright/stream"
)

func ExampleMerge() {
	p := stream.New(context.Background())
	odd := stream.FromSlice(p, []int{1, 3, 5})
	even := stream.FromSlice(p, []int{2, 4, 6})
	got, err := stream.Collect(p, stream.Merge(p, []<-chan int{odd, even}))
	slices.Sort(got) // arrival order interleaves the inputs
	fmt.Println(got, err)
	// Output: [1 2 3 4 5 6] <nil>
}

func ExampleFanOut() {
	p := stream.New(context.Background())
	jobs := stream.FanOut(p, stream.FromSlice(p, []int{1, 2, 3, 4, 5, 6}), 3)

	// Each output has its own consumer; every job goes to exactly one.
	var done []<-chan string
	for i, out := range jobs {
		done = append(done, stream.Map(p, out, func(_ context.Context, v int) (string, error) {
			return fmt.Sprintf("job %d (consumer %d)", v, i), nil
		}))
	}
	got, err := stream.Collect(p, stream.Merge(p, done))
	fmt.Println(len(got), "jobs done,", err)
	// Output: 6 jobs done, <nil>
}

func ExampleBroadcast() {
	p := stream.New(context.Background())
	outs := stream.Broadcast(p, stream.FromSlice(p, []int{1, 2, 3, 4}), 2)

	// Both consumers see every element.
	sum, product := 0, 1
	stream.ForEach(p, outs[0], func(_ context.Context, v int) error { sum += v; return nil })
	stream.ForEach(p, outs[1], func(_ context.Context, v int) error { product *= v; return nil })
	err := p.Wait() // the counters may be read once Wait has returned
	fmt.Println(sum, product, err)
	// Output: 10 24 <nil>
}

// Partition sends all the events of one user to the same output, so that
// each output can have its own worker while every user's events stay in order.
func ExamplePartition() {
	type event struct {
		user string
		seq  int
	}
	events := []event{{"ann", 1}, {"bob", 1}, {"ann", 2}, {"cat", 1}, {"bob", 2}, {"ann", 3}}
	p := stream.New(context.Background())
	parts := stream.Partition(p, stream.FromSlice(p, events), 3, func(e event) string { return e.user })

	var handled []<-chan event
	for _, part := range parts { // one goroutine per partition: in parallel, in order
		handled = append(handled, stream.Map(p, part, func(_ context.Context, e event) (event, error) {
			return e, nil // apply the event to the user's state
		}))
	}
	got, err := stream.Collect(p, stream.Merge(p, handled))

	seqs := map[string][]int{}
	for _, e := range got {
		seqs[e.user] = append(seqs[e.user], e.seq)
	}
	for _, user := range slices.Sorted(maps.Keys(seqs)) {
		fmt.Println(user, seqs[user])
	}
	fmt.Println(err)
	// Output:
	// ann [1 2 3]
	// bob [1 2]
	// cat [1]
	// <nil>
}

func ExampleBatch() {
	p := stream.New(context.Background())
	// maxWait 0: a batch is emitted only when full, or at the end.
	batches := stream.Batch(p, stream.FromSlice(p, []int{1, 2, 3, 4, 5, 6, 7}), 3, 0)
	got, err := stream.Collect(p, batches)
	fmt.Println(got, err)
	// Output: [[1 2 3] [4 5 6] [7]] <nil>
}

func ExampleFlatten() {
	p := stream.New(context.Background())
	pages := stream.FromSlice(p, [][]string{{"a", "b"}, {}, {"c"}})
	got, err := stream.Collect(p, stream.Flatten(p, pages))
	fmt.Println(got, err)
	// Output: [a b c] <nil>
}

func ExampleTake() {
	p := stream.New(context.Background())
	naturals := stream.Generate(p, func(_ context.Context, emit func(int) error) error {
		for i := 0; ; i++ {
			if err := emit(i); err != nil {
				return err // Take has released us: stop
			}
		}
	})
	got, err := stream.Collect(p, stream.Take(p, naturals, 5))
	fmt.Println(got, err)
	// Output: [0 1 2 3 4] <nil>
}

func ExampleOrdered() {
	p := stream.New(context.Background())
	// Four workers finish their calls in any order; the output keeps the
	// input's.
	tens := stream.Map(p, stream.FromSlice(p, []int{1, 2, 3, 4, 5}), func(_ context.Context, v int) (int, error) {
		return v * 10, nil
	}, stream.Workers(4), stream.Ordered())
	got, err := stream.Collect(p, tens) // no sort needed
	fmt.Println(got, err)
	// Output: [10 20 30 40 50] <nil>
}

func ExampleBuffer() {
	p := stream.New(context.Background())
	// Block: a bursty producer may run up to 16 elements ahead of its
	// consumer, and then waits. Nothing is lost.
	buffered := stream.Buffer(p, stream.FromSlice(p, []int{1, 2, 3, 4, 5}), 16, stream.Block)
	got, err := stream.Collect(p, buffered)
	fmt.Println(got, err, p.Stats()[1].Dropped)
	// Output: [1 2 3 4 5] <nil> 0
}

// DropOldest keeps the latest readings when the consumer falls behind.
func ExampleBuffer_dropOldest() {
	p := stream.New(context.Background())
	latest := stream.Buffer(p, stream.FromSlice(p, []int{1, 2, 3, 4, 5, 6}), 3, stream.DropOldest)

	// A dropping Buffer never blocks, so the pipeline can end before anyone
	// reads: here the consumer reads only then, and is as slow as can be.
	err := p.Wait()
	for v := range latest {
		fmt.Print(v, " ")
	}
	fmt.Println(err, "dropped:", p.Stats()[1].Dropped)
	// Output: 4 5 6 <nil> dropped: 3
}

func ExampleOnDrop() {
	p := stream.New(context.Background())
	var dropped []int // appended to by the Buffer's one goroutine
	kept := stream.Buffer(p, stream.FromSlice(p, []int{1, 2, 3, 4, 5}), 2, stream.DropNewest,
		stream.OnDrop(func(v int) { dropped = append(dropped, v) }))

	err := p.Wait() // nobody reads until the Buffer is done: the outcome is certain
	var got []int
	for v := range kept {
		got = append(got, v)
	}
	fmt.Println("kept:", got, "dropped:", dropped, err)
	// Output: kept: [1 2] dropped: [3 4 5] <nil>
}

func ExampleOverflow() {
	p := stream.New(context.Background())
	// Fail: a full buffer is an error, for a consumer that must keep up.
	_ = stream.Buffer(p, stream.FromSlice(p, []int{1, 2, 3}), 2, stream.Fail, stream.Name("queue"))
	err := p.Wait() // nobody reads: the third element overflows
	fmt.Println(err)
	fmt.Println(errors.Is(err, stream.ErrOverflow))
	// Output:
	// stream: stage queue: buffer overflow
	// true
}

func ExampleThrottle() {
	p := stream.New(context.Background())
	// At most 200 elements a second, in bursts of at most 2.
	paced := stream.Throttle(p, stream.FromSlice(p, []string{"a", "b", "c", "d", "e"}), 200, 2)
	got, err := stream.Collect(p, paced)
	fmt.Println(len(got), "requests sent,", err)
	// Output: 5 requests sent, <nil>
}

func ExampleTimeout() {
	p := stream.New(context.Background())
	fetched := stream.Map(p, stream.FromSlice(p, []string{"fast", "hangs"}), func(ctx context.Context, url string) (string, error) {
		if url == "hangs" {
			<-ctx.Done() // a call that would never return by itself
			return "", ctx.Err()
		}
		return url, nil
	}, stream.Timeout(10*time.Millisecond), stream.Name("fetch"))
	err := stream.Drain(p, fetched)
	fmt.Println(err)
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	// Output:
	// stream: stage fetch: context deadline exceeded
	// true
}

func ExampleRetry() {
	p := stream.New(context.Background())
	calls := 0
	answers := stream.Map(p, stream.FromSlice(p, []string{"question"}), func(_ context.Context, q string) (string, error) {
		if calls++; calls < 3 {
			return "", errors.New("service unavailable")
		}
		return "answer to " + q, nil
	}, stream.Retry(stream.RetryPolicy{Attempts: 3, Initial: time.Millisecond}))
	got, err := stream.Collect(p, answers)
	fmt.Println(got, err, "retries:", p.Stats()[1].Retried)
	// Output: [answer to question] <nil> retries: 2
}

func ExampleOnError() {
	p := stream.New(context.Background())
	numbers := stream.Map(p, stream.FromSlice(p, []string{"1", "two", "3"}), strconvAtoi,
		stream.OnError(func(s string, err error) error {
			fmt.Printf("skipping %q\n", s)
			return nil // skip the element; an error would fail the pipeline
		}))
	got, err := stream.Collect(p, numbers)
	fmt.Println(got, err, "skipped:", p.Stats()[1].Skipped)
	// Output:
	// skipping "two"
	// [1 3] <nil> skipped: 1
}

func ExampleAdaptiveWorkers() {
	p := stream.New(context.Background())
	// Between 1 and 8 concurrent calls, growing while they take at most 5ms.
	replies := stream.Map(p, stream.FromSlice(p, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}), func(_ context.Context, v int) (int, error) {
		return v * v, nil // in a real program: a call to a service
	}, stream.AdaptiveWorkers(1, 8, 5*time.Millisecond))
	got, err := stream.Collect(p, replies)
	slices.Sort(got) // several workers: completion order
	limit := p.Stats()[1].Limit
	fmt.Println(got, err, 1 <= limit && limit <= 8)
	// Output: [1 4 9 16 25 36 49 64 81 100] <nil> true
}

func ExampleWithObserver() {
	p := stream.New(context.Background())
	// Only this stage is observed. It has one worker, so events come in order.
	logEvents := stream.ObserverFunc(func(e stream.Event) {
		fmt.Println(e.Stage, e.Kind, e.Err)
	})
	numbers := stream.Map(p, stream.FromSlice(p, []string{"1", "x"}), strconvAtoi,
		stream.Name("parse"), stream.WithObserver(logEvents),
		stream.OnError(func(string, error) error { return nil }))
	_, err := stream.Collect(p, numbers)
	fmt.Println(err)
	// Output:
	// parse stage-started <nil>
	// parse element-failed strconv.Atoi: parsing "x": invalid syntax
	// parse stage-stopped <nil>
	// <nil>
}

func ExamplePipeline_SetObserver() {
	p := stream.New(context.Background())
	// Every stage added from now on tells this observer. Stages run
	// concurrently, so it must be safe for concurrent use.
	var mu sync.Mutex
	var stages []string
	p.SetObserver(stream.ObserverFunc(func(e stream.Event) {
		if e.Kind == stream.StageStopped {
			mu.Lock()
			defer mu.Unlock()
			stages = append(stages, e.Stage)
		}
	}))
	src := stream.FromSlice(p, []int{1, 2, 3}, stream.Name("source"))
	err := stream.Drain(p, stream.Take(p, src, 1, stream.Name("head")))
	slices.Sort(stages)
	fmt.Println("stopped:", stages, err)
	// Output: stopped: [drain#3 head source] <nil>
}

func ExampleSlogObserver() {
	// Drop the time so that the output is reproducible.
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}))
	p := stream.New(context.Background())
	p.SetObserver(stream.SlogObserver(logger)) // starts and stops log at Debug: not shown
	numbers := stream.Map(p, stream.FromSlice(p, []string{"1", "x", "3"}), strconvAtoi,
		stream.Name("parse"), stream.OnError(func(string, error) error { return nil }))
	got, err := stream.Collect(p, numbers)
	fmt.Println(got, err)
	// Output:
	// level=ERROR msg="stream: element-failed" stage=parse kind=map err="strconv.Atoi: parsing \"x\": invalid syntax"
	// [1 3] <nil>
}

func ExampleObserverFunc() {
	p := stream.New(context.Background())
	onRetry := stream.ObserverFunc(func(e stream.Event) {
		if e.Kind == stream.ElementRetried {
			fmt.Printf("attempt %d failed: %v\n", e.Attempt, e.Err)
		}
	})
	calls := 0
	flaky := stream.Map(p, stream.FromSlice(p, []string{"ping"}), func(_ context.Context, s string) (string, error) {
		if calls++; calls < 3 {
			return "", errors.New("timeout")
		}
		return strings.Replace(s, "i", "o", 1), nil
	}, stream.Retry(stream.RetryPolicy{Initial: time.Millisecond}), stream.WithObserver(onRetry))
	got, err := stream.Collect(p, flaky)
	fmt.Println(got, err)
	// Output:
	// attempt 1 failed: timeout
	// attempt 2 failed: timeout
	// [pong] <nil>
}

// strconvAtoi is strconv.Atoi as a stage function.
func strconvAtoi(_ context.Context, s string) (int, error) {
	return strconv.Atoi(s)
}
