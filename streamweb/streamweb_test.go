package streamweb_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
	"github.com/pipewright/stream/streamweb"
)

// finished runs a small FanOut + Merge pipeline to its end.
func finished(t *testing.T) *stream.Pipeline {
	t.Helper()
	p := stream.New(context.Background())
	src := stream.FromSlice(p, []int{1, 2, 3, 4}, stream.Name("src"))
	outs := stream.FanOut(p, src, 2, stream.Name("fan"), stream.Capacity(8))
	merged := stream.Merge(p, outs, stream.Name(`<b>"merge"</b>`))
	got, err := stream.Collect(p, merged)
	require.NoError(t, err)
	require.Len(t, got, 4)
	return p
}

func get(t *testing.T, h http.Handler, method, target string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec.Result()
}

// TestStatsContract: /stats is a JSON object with "stages" (every field
// the design names) and "edges" (one per channel between two stages).
func TestStatsContract(t *testing.T) {
	p := finished(t)
	resp := get(t, streamweb.Handler(p), http.MethodGet, "/stats")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	var got struct {
		Stages     []map[string]any
		Edges      []map[string]any
		Bottleneck *string
		Time       float64
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	require.Len(t, got.Stages, 4)
	for _, st := range got.Stages {
		for _, k := range []string{"name", "kind", "in", "out", "dropped", "errors", "queue_len", "queue_cap",
			"workers", "busy", "done", "p50_seconds", "p99_seconds", "column", "row"} {
			assert.Contains(t, st, k)
		}
	}
	merge := got.Stages[2]
	assert.Equal(t, `<b>"merge"</b>`, merge["name"])
	assert.Equal(t, "merge", merge["kind"])
	assert.EqualValues(t, 4, merge["in"])
	assert.EqualValues(t, 4, merge["out"])
	assert.EqualValues(t, 2, merge["column"])
	assert.Equal(t, []map[string]any{
		{"from": "src", "to": "fan", "queue_len": 0.0, "queue_cap": 64.0},
		{"from": "fan", "to": `<b>"merge"</b>`, "queue_len": 0.0, "queue_cap": 8.0},
		{"from": "fan", "to": `<b>"merge"</b>`, "queue_len": 0.0, "queue_cap": 8.0},
		{"from": `<b>"merge"</b>`, "to": "collect#4", "queue_len": 0.0, "queue_cap": 64.0},
	}, got.Edges)
	require.NotNil(t, got.Bottleneck)
	assert.Empty(t, *got.Bottleneck)
	assert.InDelta(t, float64(time.Now().Unix()), got.Time, 60)
}

// TestStatsOfAnEmptyPipeline: no stages give empty lists, not null.
func TestStatsOfAnEmptyPipeline(t *testing.T) {
	p := stream.New(context.Background())
	resp := get(t, streamweb.Handler(p), http.MethodGet, "/stats")
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Contains(t, string(body), `"stages":[]`)
	assert.Contains(t, string(body), `"edges":[]`)
	require.NoError(t, p.Wait())
}

// TestReadOnly: only GET and HEAD; everything else gets 405 with Allow.
func TestReadOnly(t *testing.T) {
	h := streamweb.Handler(finished(t))
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions, "PROPFIND"} {
		for _, path := range []string{"/", "/stats", "/app.js", "/nothing"} {
			resp := get(t, h, m, path)
			assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, m+" "+path)
			assert.Equal(t, "GET, HEAD", resp.Header.Get("Allow"), m+" "+path)
		}
	}
	for _, path := range []string{"/", "/stats", "/app.js", "/app.css"} {
		resp := get(t, h, http.MethodHead, path)
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
	}
}

func TestPagesAndNotFound(t *testing.T) {
	h := streamweb.Handler(finished(t))
	for path, ctype := range map[string]string{
		"/":           "text/html; charset=utf-8",
		"/index.html": "text/html; charset=utf-8",
		"/app.js":     "text/javascript; charset=utf-8",
		"/app.css":    "text/css; charset=utf-8",
	} {
		resp := get(t, h, http.MethodGet, path)
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.Equal(t, ctype, resp.Header.Get("Content-Type"), path)
		assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'", path)
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), path)
	}
	for _, path := range []string{"/stats/", "/page/app.js", "/../go.mod", "/x"} {
		assert.Equal(t, http.StatusNotFound, get(t, h, http.MethodGet, path).StatusCode, path)
	}
}

// TestPageLoadsNothingFromOutside: no absolute or protocol-relative URL in
// the page, its script or its style; and the script never writes markup.
func TestPageLoadsNothingFromOutside(t *testing.T) {
	h := streamweb.Handler(finished(t))
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import|import\s*\(`)
	for _, path := range []string{"/", "/app.js", "/app.css"} {
		body, err := io.ReadAll(get(t, h, http.MethodGet, path).Body)
		require.NoError(t, err)
		assert.NotRegexp(t, external, string(body), path)
		assert.NotContains(t, string(body), "innerHTML", path)
		assert.NotContains(t, string(body), "insertAdjacentHTML", path)
		assert.NotContains(t, string(body), "document.write", path)
	}
}

// TestMountedUnderAPrefix: like net/http/pprof, under StripPrefix with or
// without the final slash; the bare prefix redirects to the page relative
// to itself.
func TestMountedUnderAPrefix(t *testing.T) {
	p := finished(t)
	for _, prefix := range []string{"/debug/stream", "/debug/stream/"} {
		mux := http.NewServeMux()
		mux.Handle("/debug/stream/", http.StripPrefix(prefix, streamweb.Handler(p)))
		srv := httptest.NewServer(mux)
		for path, want := range map[string]int{"/debug/stream/": 200, "/debug/stream/stats": 200, "/debug/stream/app.js": 200, "/debug/stream/x": 404} {
			resp, err := http.Get(srv.URL + path)
			require.NoError(t, err)
			_ = resp.Body.Close()
			assert.Equal(t, want, resp.StatusCode, prefix+" "+path)
		}
		srv.Close()
	}

	// Mounted at "/debug/stream" exactly: "/debug/stream" itself redirects.
	mux := http.NewServeMux()
	mux.Handle("/debug/stream", http.StripPrefix("/debug/stream", streamweb.Handler(p)))
	resp := get(t, mux, http.MethodGet, "/debug/stream")
	assert.Equal(t, http.StatusMovedPermanently, resp.StatusCode)
	assert.Equal(t, "./stream/", resp.Header.Get("Location"))
}

// TestSnapshotShared: requests within 100 ms share one snapshot, so a
// storm of requests costs the pipeline a bounded number of Stats calls.
func TestSnapshotShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := finished(t)
		h := streamweb.Handler(p)
		body := func() string {
			b, err := io.ReadAll(get(t, h, http.MethodGet, "/stats").Body)
			require.NoError(t, err)
			return string(b)
		}
		first := body()
		time.Sleep(99 * time.Millisecond)
		assert.Equal(t, first, body(), "within 100 ms: the same snapshot")
		time.Sleep(time.Millisecond)
		assert.NotEqual(t, first, body(), "after 100 ms: a new one (its time differs)")
	})
}

// TestEmbeddedFilesAreServed guards the embed list: every file of the page
// is reachable.
func TestEmbeddedFilesAreServed(t *testing.T) {
	h := streamweb.Handler(finished(t))
	page, err := io.ReadAll(get(t, h, http.MethodGet, "/").Body)
	require.NoError(t, err)
	for _, ref := range regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(string(page), -1) {
		resp := get(t, h, http.MethodGet, "/"+ref[1])
		assert.Equal(t, http.StatusOK, resp.StatusCode, ref[1])
	}
}

func TestHandlerNilPanics(t *testing.T) {
	assert.PanicsWithValue(t, "streamweb: Handler: nil Pipeline", func() { streamweb.Handler(nil) })
}

// TestHostileNamesStayText: names are JSON strings (markup escaped), never
// anything else.
func TestHostileNamesStayText(t *testing.T) {
	p := stream.New(context.Background())
	names := []string{`</script><script>alert(1)</script>`, "\"}],\"edges\":[{\"from\":\"x", "\x00\xff", strings.Repeat("n", 10_000)}
	var c <-chan int = stream.FromSlice(p, []int{1}, stream.Name(names[0]))
	for _, n := range names[1:] {
		c = stream.Map(p, c, func(_ context.Context, v int) (int, error) { return v, nil }, stream.Name(n))
	}
	require.NoError(t, stream.Drain(p, c))
	body, err := io.ReadAll(get(t, streamweb.Handler(p), http.MethodGet, "/stats").Body)
	require.NoError(t, err)
	assert.NotContains(t, string(body), "<script>")
	var got struct{ Stages []struct{ Name string } }
	require.NoError(t, json.Unmarshal(body, &got))
	require.Len(t, got.Stages, 5)
	assert.Equal(t, names[0], got.Stages[0].Name)
	assert.Equal(t, names[1], got.Stages[1].Name)
	assert.Equal(t, "\x00\ufffd", got.Stages[2].Name) // JSON carries valid UTF-8
}

// TestConcurrentRequestsWhileRunning: many clients at once while the
// pipeline moves elements (-race checks the shared snapshot), each answer
// a complete JSON document.
func TestConcurrentRequestsWhileRunning(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := stream.New(ctx)
	src := stream.Generate(p, func(ctx context.Context, emit func(int) error) error {
		for i := 0; ; i++ {
			if err := emit(i); err != nil {
				return err
			}
		}
	}, stream.Name("src"))
	stream.ForEach(p, stream.Map(p, src, func(_ context.Context, v int) (int, error) { return v, nil }, stream.Workers(2)),
		func(context.Context, int) error { return nil })
	h := streamweb.Handler(p)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				resp := get(t, h, http.MethodGet, "/stats")
				var s struct{ Stages []map[string]any }
				if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || len(s.Stages) != 3 {
					t.Errorf("answer: %v, %d stages", err, len(s.Stages))
					return
				}
			}
		})
	}
	wg.Wait()
	cancel()
	require.ErrorIs(t, p.Wait(), context.Canceled)
}
