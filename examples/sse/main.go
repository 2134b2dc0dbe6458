// SSE serves Server-Sent Events from a pipeline built per request and tied
// to the request's context: when the client goes away, the request's
// context ends, and with it every stage of that request's pipeline.
//
// Each GET /events replays an embedded deployment log, over and over, one
// line every -every (default 200ms), as events with an id, until the client
// disconnects:
//
//	go run ./examples/sse                     # serves on 127.0.0.1:8080
//	curl -N http://127.0.0.1:8080/events      # in another terminal; Ctrl-C to leave
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"iter"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/pipewright/stream"
)

//go:embed deploy.log
var deployLog string

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	every := flag.Duration("every", 200*time.Millisecond, "interval between events")
	flag.Parse()
	if *every <= 0 {
		log.Fatal("sse: -every must be positive")
	}
	mux := http.NewServeMux()
	mux.Handle("GET /events", &events{every: *every})
	log.Printf("serving events on http://%s/events", *addr)
	log.Fatal(http.ListenAndServe(*addr, mux))
}

// events is the handler of GET /events.
type events struct {
	every time.Duration
	// observer, when set, hears every stage event of every request's
	// pipeline (the test uses it to see that each stage ended).
	observer stream.Observer
	// done, when set, is called with Wait's result when a request's
	// pipeline has ended, before the handler returns.
	done func(error)
}

// event is one Server-Sent Event.
type event struct {
	id   int
	data string
}

func (h *events) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()

	// One pipeline per request, owned by the request's context: it ends
	// when the client disconnects (or the server shuts down).
	p := stream.New(r.Context())
	if h.observer != nil {
		p.SetObserver(h.observer)
	}
	lines := stream.FromSeq(p, replay(deployLog), stream.Name("replay"))
	// Throttle paces the replay; it holds no more than one element.
	paced := stream.Throttle(p, lines, float64(time.Second)/float64(h.every), 1, stream.Name("pace"), stream.Capacity(0))
	numbered := stream.Map(p, paced, number(), stream.Name("number"), stream.Capacity(0))
	stream.ForEach(p, numbered, func(_ context.Context, e event) error {
		// A write error means the client is gone; the request's context
		// ends too, and whichever comes first ends the pipeline.
		if _, err := fmt.Fprintf(w, "id: %d\ndata: %s\n\n", e.id, e.data); err != nil {
			return err
		}
		flusher.Flush()
		return nil
	}, stream.Name("send"))
	err := p.Wait()
	if h.done != nil {
		h.done(err)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Printf("sse: %v", err)
	}
}

// replay yields the lines of text, from the first to the last and again,
// forever; the pipeline stops it.
func replay(text string) iter.Seq[string] {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	return func(yield func(string) bool) {
		for {
			for _, line := range lines {
				if !yield(line) {
					return
				}
			}
		}
	}
}

// number returns a Map function giving each line the next event id. The
// stage has one worker, so the counter needs no lock.
func number() func(context.Context, string) (event, error) {
	id := 0
	return func(_ context.Context, line string) (event, error) {
		id++
		return event{id: id, data: line}, nil
	}
}
