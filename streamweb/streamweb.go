package streamweb

import (
	"embed"
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pipewright/stream"
)

//go:embed page/index.html page/app.js page/app.css
var page embed.FS

// minInterval is the shortest time between two reads of the pipeline's
// Stats: requests within it share one snapshot, so any number of clients
// costs the pipeline at most a few Stats calls a second.
const minInterval = 100 * time.Millisecond

// Handler returns a read-only HTTP handler showing p live: GET "/" is an
// HTML page drawing the pipeline as a graph (stages in topological
// columns, edges with their queue fill, the stage holding the others back
// highlighted, per-stage rates, drops, errors and latency quantiles) that
// refreshes itself from GET "/stats", the same data as JSON (see the
// package documentation for its fields). The page loads nothing from
// outside the handler, and shows stage names as text, never as markup.
//
// Methods other than GET and HEAD get 405; other paths 404. Mount it under
// a prefix with [http.StripPrefix], like net/http/pprof:
//
//	mux.Handle("/debug/stream/", http.StripPrefix("/debug/stream", streamweb.Handler(p)))
//
// A request for the prefix without its final slash is redirected to it,
// so that the page's relative links work. Requests within 100 ms of each
// other share one snapshot of p's Stats. A nil p panics.
func Handler(p *stream.Pipeline) http.Handler {
	if p == nil {
		panic("streamweb: Handler: nil Pipeline")
	}
	return &handler{p: p}
}

type handler struct {
	p *stream.Pipeline

	mu   sync.Mutex // guards the cached snapshot
	at   time.Time  // when body was made
	body []byte     // the last /stats answer
}

// securityHeaders go on every answer: the page runs only its own script,
// talks only to its own handler, and nothing sniffs a type.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "+
		"connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "streamweb is read-only: GET or HEAD", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // mounted with StripPrefix("/x/")
	}
	if p == "/" {
		if asked := requestPath(r); !strings.HasSuffix(asked, "/") {
			// Mounted with StripPrefix("/x") and asked for "/x": the
			// page's relative links need "/x/". The Location is relative
			// ("./x/"), so it stays on this server whatever the path holds.
			w.Header().Set("Location", "./"+path.Base(asked)+"/")
			w.WriteHeader(http.StatusMovedPermanently)
			return
		}
	}
	switch p {
	case "/", "/index.html":
		serveFile(w, "page/index.html", "text/html; charset=utf-8")
	case "/app.js":
		serveFile(w, "page/app.js", "text/javascript; charset=utf-8")
	case "/app.css":
		serveFile(w, "page/app.css", "text/css; charset=utf-8")
	case "/stats":
		body := h.stats()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(body)
	default:
		http.NotFound(w, r)
	}
}

// requestPath is the path the client asked for (escaped), before any
// StripPrefix.
func requestPath(r *http.Request) string {
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil {
		return u.EscapedPath()
	}
	return r.URL.EscapedPath()
}

func serveFile(w http.ResponseWriter, name, contentType string) {
	b, err := page.ReadFile(name)
	if err != nil { // cannot happen: the files are embedded
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}

// stats returns the /stats answer, from the cache when it is fresh.
func (h *handler) stats() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	if h.body != nil && now.Sub(h.at) < minInterval {
		return h.body
	}
	snap := snapshot(h.p.Stats(), now)
	body, err := json.Marshal(snap)
	if err != nil { // cannot happen: plain strings and numbers
		body = []byte(`{"stages":[],"edges":[]}`)
	}
	h.at, h.body = now, body
	return body
}

// statsJSON is the /stats answer.
type statsJSON struct {
	Time       float64     `json:"time"`       // when the snapshot was taken, in seconds since 1970 (rates are differences over it)
	Bottleneck string      `json:"bottleneck"` // the stage holding the others back, "" when none does
	Stages     []stageJSON `json:"stages"`
	Edges      []edgeJSON  `json:"edges"`
}

type stageJSON struct {
	Name     string  `json:"name"`
	Kind     string  `json:"kind"`
	Workers  int     `json:"workers"`
	Limit    int     `json:"limit"`
	Busy     int     `json:"busy"`
	Done     bool    `json:"done"`
	In       int64   `json:"in"`
	Out      int64   `json:"out"`
	Errors   int64   `json:"errors"`
	Skipped  int64   `json:"skipped"`
	Dropped  int64   `json:"dropped"`
	Retried  int64   `json:"retried"`
	Panics   int64   `json:"panics"`
	QueueLen int     `json:"queue_len"`
	QueueCap int     `json:"queue_cap"`
	Samples  int64   `json:"latency_samples"`
	P50      float64 `json:"p50_seconds"`
	P90      float64 `json:"p90_seconds"`
	P99      float64 `json:"p99_seconds"`
	Column   int     `json:"column"` // the layout: longest path from a source
	Row      int     `json:"row"`    // place within the column, top to bottom
}

type edgeJSON struct {
	From     string `json:"from"`
	To       string `json:"to"`
	QueueLen int    `json:"queue_len"`
	QueueCap int    `json:"queue_cap"`
}

// snapshot turns Stats into the /stats answer: the stages with their
// layout, one edge per channel between two stages, and the bottleneck.
func snapshot(stats []stream.StageStats, now time.Time) statsJSON {
	s := statsJSON{
		Time:   float64(now.UnixNano()) / 1e9,
		Stages: make([]stageJSON, len(stats)),
		Edges:  []edgeJSON{},
	}
	for i, st := range stats {
		s.Stages[i] = stageJSON{
			Name: st.Name, Kind: st.Kind, Workers: st.Workers, Limit: st.Limit, Busy: st.Busy, Done: st.Done,
			In: st.In, Out: st.Out, Errors: st.Errors, Skipped: st.Skipped, Dropped: st.Dropped,
			Retried: st.Retried, Panics: st.Panics, QueueLen: st.QueueLen, QueueCap: st.QueueCap,
			Samples: st.Latency.Samples, P50: st.Latency.P50.Seconds(), P90: st.Latency.P90.Seconds(),
			P99: st.Latency.P99.Seconds(),
		}
		for _, o := range st.Outputs {
			if o.To != "" {
				s.Edges = append(s.Edges, edgeJSON{From: st.Name, To: o.To, QueueLen: o.QueueLen, QueueCap: o.QueueCap})
			}
		}
	}
	cols, rows := layout(stats)
	for i := range s.Stages {
		s.Stages[i].Column, s.Stages[i].Row = cols[i], rows[i]
	}
	s.Bottleneck = bottleneck(stats)
	return s
}

// inputsOf lists, for each stage (by index in stats), the indexes of the
// stages feeding it, once per channel.
func inputsOf(stats []stream.StageStats) [][]int {
	index := make(map[string]int, len(stats))
	for i, st := range stats {
		index[st.Name] = i
	}
	ins := make([][]int, len(stats))
	for i, st := range stats {
		for _, o := range st.Outputs {
			if j, ok := index[o.To]; ok && o.To != "" {
				ins[j] = append(ins[j], i)
			}
		}
	}
	return ins
}

// layout places each stage in a column, the length of the longest path to
// it from a source, and orders each column by the mean row of the stages
// feeding it (then by the order the stages were added), which keeps edges
// mostly straight. A stage's inputs are always added before it, so one pass
// in order computes the columns.
func layout(stats []stream.StageStats) (cols, rows []int) {
	ins := inputsOf(stats)
	cols = make([]int, len(stats))
	rows = make([]int, len(stats))
	var byCol [][]int
	for i := range stats {
		for _, j := range ins[i] {
			if j < i { // always, as stages are added after their inputs
				cols[i] = max(cols[i], cols[j]+1)
			}
		}
		for len(byCol) <= cols[i] {
			byCol = append(byCol, nil)
		}
		byCol[cols[i]] = append(byCol[cols[i]], i)
	}
	for _, col := range byCol {
		key := make(map[int]float64, len(col))
		for _, i := range col {
			if len(ins[i]) == 0 {
				key[i] = float64(i) // sources: in the order they were added, after the others
				continue
			}
			sum := 0.0
			for _, j := range ins[i] {
				sum += float64(rows[j])
			}
			key[i] = sum / float64(len(ins[i]))
		}
		slices.SortStableFunc(col, func(a, b int) int {
			switch {
			case key[a] < key[b]:
				return -1
			case key[a] > key[b]:
				return 1
			}
			return 0
		})
		for r, i := range col {
			rows[i] = r
		}
	}
	return cols, rows
}

// bottleneck names the stage holding the others back: a running stage
// whose goroutines are all busy, whose outputs are not full (so nothing
// downstream holds it back) and whose input is at least half full (so it
// is not keeping up) — the one with the fullest input of those. It is ""
// when no stage is, as in a pipeline whose queues stay short.
func bottleneck(stats []stream.StageStats) string {
	ins := inputsOf(stats)
	best, bestFill := "", 0.0
	for i, st := range stats {
		if st.Done || st.Workers == 0 || st.Busy < st.Limit || st.Busy == 0 {
			continue
		}
		if fill(st.QueueLen, st.QueueCap) >= 0.9 {
			continue // blocked by its consumers, not slow itself
		}
		inLen, inCap := 0, 0
		for _, j := range ins[i] {
			for _, o := range stats[j].Outputs {
				if o.To == st.Name {
					inLen += o.QueueLen
					inCap += o.QueueCap
				}
			}
		}
		if f := fill(inLen, inCap); f >= 0.5 && f > bestFill {
			best, bestFill = st.Name, f
		}
	}
	return best
}

// fill is how full a queue is, from 0 to 1; an unbuffered one counts as
// empty.
func fill(n, c int) float64 {
	if c <= 0 {
		return 0
	}
	return float64(n) / float64(c)
}
