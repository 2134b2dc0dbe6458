// Command live runs a pipeline with a slow stage and serves its live view:
//
//	go run ./examples/live            # from streamweb/; prints the URL, runs until Ctrl-C
//	go run ./examples/live -duration 10s -addr 127.0.0.1:8080
//
// Open the printed URL: the "enrich" stage is the slow one, the buffer in
// front of it drops what it cannot take, and "parse" fails one element in
// 97 (skipped by OnError).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/pipewright/stream"
	"github.com/pipewright/stream/streamweb"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on (port 0: any free port)")
	duration := flag.Duration("duration", 0, "how long to run (0: until interrupted)")
	work := flag.Duration("work", 200*time.Microsecond, "time the slow stage spends per element")
	flag.Parse()
	if *duration < 0 || *work < 0 {
		log.Fatal("live: -duration and -work must not be negative")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}

	p := stream.New(ctx)
	orders := stream.Generate(p, func(ctx context.Context, emit func(int) error) error {
		for i := 0; ; i++ {
			if err := emit(i); err != nil {
				return err
			}
		}
	}, stream.Name("orders"))
	parsed := stream.Map(p, orders, func(_ context.Context, v int) (int, error) {
		if v%97 == 0 {
			return 0, errors.New("malformed order")
		}
		return v, nil
	}, stream.Name("parse"), stream.Workers(4), stream.OnError(func(int, error) error { return nil }))
	sampled := stream.Buffer(p, parsed, 256, stream.DropNewest, stream.Name("sample"))
	enriched := stream.Map(p, sampled, func(ctx context.Context, v int) (int, error) {
		t := time.NewTimer(*work)
		defer t.Stop()
		select {
		case <-t.C:
			return v * 2, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}, stream.Name("enrich"), stream.Workers(2))
	batches := stream.Batch(p, enriched, 50, 50*time.Millisecond, stream.Name("batch"))
	stored := 0
	stream.ForEach(p, batches, func(_ context.Context, b []int) error {
		stored += len(b)
		return nil
	}, stream.Name("store"))

	mux := http.NewServeMux()
	mux.Handle("/debug/stream/", http.StripPrefix("/debug/stream", streamweb.Handler(p)))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("live view: http://%s/debug/stream/\n", ln.Addr())

	err = p.Wait()
	shutdown, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		log.Fatal(err)
	}
	fmt.Printf("stored %d elements\n", stored)
}
