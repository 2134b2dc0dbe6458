// Hello is the README's first pipeline: a source, a stage with four
// workers, error handling and cancellation, in one small program.
//
//	go run ./examples/hello
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/pipewright/stream"
)

func main() {
	// Cancellation: Ctrl-C or 10 seconds, whichever comes first, ends every
	// stage; nothing outlives Wait.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()

	p := stream.New(ctx)
	ids := stream.FromSlice(p, []string{"1", "2", "x", "4", "5", "6"})

	// Four workers call parse at once. A failed element is skipped, counted
	// in Stats; return the error from OnError instead to fail the pipeline.
	squares := stream.Map(p, ids, parse,
		stream.Workers(4),
		stream.Name("parse"),
		stream.OnError(func(id string, err error) error {
			fmt.Println("skipped:", err)
			return nil
		}))

	// Reduce reads every result, then waits for the whole pipeline and
	// returns its first error: a stage's, or ctx's if it ended first.
	sum, err := stream.Reduce(p, squares, 0, func(acc, v int) int { return acc + v })
	if err != nil {
		fmt.Println("failed:", err)
		os.Exit(1)
	}
	fmt.Println("sum of squares:", sum)
}

// parse is the work of one element. Its context ends when the pipeline
// does: long calls should pass it on (to an HTTP request, a query).
func parse(ctx context.Context, id string) (int, error) {
	n, err := strconv.Atoi(id)
	if err != nil {
		return 0, errors.New("not a number: " + id)
	}
	return n * n, ctx.Err()
}
