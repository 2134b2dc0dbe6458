// Package streamweb serves a live view of a stream pipeline over HTTP, in the
// spirit of net/http/pprof: a page that draws the pipeline as a graph and
// refreshes itself every second, and the JSON it reads.
//
//	mux.Handle("/debug/stream/", http.StripPrefix("/debug/stream", streamweb.Handler(p)))
//
// The page (GET "/") draws each stage as a box, in columns by topological
// depth (a stage's column is the longest path to it from a source) and
// rows ordered to keep edges straight, laid out by this package; each
// channel between two stages as a line whose width and colour show how full
// its queue is, with "len/cap" beside it. Each box shows the stage's kind
// and workers, busy goroutines, in/s and out/s (differences between two
// refreshes), drops, errors, its output queue and the p50 and p99 of its
// sampled latency; a table below repeats the counts. The stage holding
// the others back is drawn in red and named above the graph.
//
// # Which stage holds the others back
//
// A running stage whose goroutines are all busy ([stream.StageStats].Busy
// at its Limit), whose outputs are less than 90% full (nothing downstream
// holds it back) and whose input channels are at least half full (it is
// not keeping up): of those, the one with the fullest input. None when no
// stage is, as in a pipeline whose queues stay short or whose caller is the
// slow reader. Unbuffered inputs (Capacity(0)) tell nothing and never
// qualify. It is one snapshot's verdict, so it can move between refreshes
// when two stages are about as slow.
//
// # /stats
//
// GET "/stats" answers a JSON object:
//
//	{
//	  "time": 1796121152.66,   // the snapshot's time, seconds since 1970: rates are differences over it
//	  "bottleneck": "enrich",  // the stage holding the others back, "" when none
//	  "stages": [{"name", "kind", "workers", "limit", "busy", "done",
//	              "in", "out", "errors", "skipped", "dropped", "retried", "panics",
//	              "queue_len", "queue_cap", "latency_samples",
//	              "p50_seconds", "p90_seconds", "p99_seconds", "column", "row"}, …],
//	  "edges":  [{"from", "to", "queue_len", "queue_cap"}, …]
//	}
//
// Stages come in the order they were added, with the fields of
// [stream.StageStats] (latency quantiles in seconds, 0 without samples) and
// their place in the drawing. Edges are the channels between two stages,
// one per channel (a FanOut feeding one Merge gives several), from
// [stream.StageStats].Outputs; a channel the caller reads is in its stage's
// queue_len and queue_cap but is not an edge.
//
// # Safety
//
// The handler only reads: GET and HEAD, other methods get 405. The page
// loads nothing from outside the handler (no CDN; a Content-Security-Policy
// lets it run only its own script and talk only to its handler), and it
// shows stage names, which may carry user data, as text, never as markup.
// Requests within 100 ms of each other share one snapshot of
// [stream.Pipeline.Stats], so any number of viewers costs the pipeline at
// most ten Stats calls a second.
//
// # Several pipelines
//
// Mount one handler per pipeline, each under its own prefix:
//
//	mux.Handle("/debug/stream/ingest/", http.StripPrefix("/debug/stream/ingest", streamweb.Handler(ingest)))
//	mux.Handle("/debug/stream/export/", http.StripPrefix("/debug/stream/export", streamweb.Handler(export)))
//
// A handler keeps a reference to its pipeline (its Stats stay readable after
// Wait); drop the route when the pipeline is gone.
package streamweb
