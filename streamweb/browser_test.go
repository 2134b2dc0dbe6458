package streamweb_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
	"github.com/pipewright/stream/streamweb"
)

// browser finds a Chromium to drive; without one the test skips, except
// under CI=true, where it fails (.ci/run installs Debian's chromium).
func browser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium found (chromium, chromium-browser, google-chrome, headless-shell): .ci/run installs it")
	}
	t.Skip("no Chromium found: apt-get install chromium")
	return ""
}

// pageState is what the test reads from the rendered page.
type pageState struct {
	Refreshes  int
	Stages     []string         // names shown in the graph's boxes (g.stage[data-name])
	Texts      []string         // the boxes' name texts as drawn
	Rows       []string         // names in the table
	In         map[string]int64 // the table's "in" cells
	Slow       []string         // boxes highlighted as holding the others back
	Bottleneck string           // the summary's name
	Rates      []string         // the table's in/s cells
	Markup     int              // elements a name could have injected
	Pwned      bool
	Edges      int
}

const readPage = `(() => {
  const s = {};
  s.Refreshes = Number(document.body.dataset.refreshes || 0);
  s.Stages = [...document.querySelectorAll('#graph g.stage')].map(g => g.dataset.name);
  s.Texts = [...document.querySelectorAll('#graph g.stage text.name')].map(t => t.textContent);
  s.Rows = [...document.querySelectorAll('#stages tbody td.name')].map(td => td.textContent);
  s.In = {};
  for (const tr of document.querySelectorAll('#stages tbody tr')) s.In[tr.dataset.name] = Number(tr.querySelector('td.in').textContent);
  s.Slow = [...document.querySelectorAll('#graph g.stage.slow')].map(g => g.dataset.name);
  const b = document.getElementById('bottleneck');
  s.Bottleneck = b ? b.textContent : '';
  s.Rates = [...document.querySelectorAll('#stages tbody td.in-rate')].map(td => td.textContent);
  s.Markup = document.querySelectorAll('img, script:not([src]), b, iframe').length;
  s.Pwned = !!window.pwned;
  s.Edges = document.querySelectorAll('#graph g.edge-group').length;
  return JSON.stringify(s);
})()`

// TestBrowser opens the live view in headless Chromium while a pipeline
// with one slow stage runs, and checks what a person would see: every
// stage's name (a hostile one as plain text), counters that move between
// two refreshes, and the slow stage highlighted. It saves a screenshot in
// the test's temp dir and logs the page's size and load time.
func TestBrowser(t *testing.T) {
	chrome := browser(t)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := stream.New(ctx)
	hostile := `<img src=x onerror=pwned=1>` // short enough to be drawn whole
	src := stream.Generate(p, func(ctx context.Context, emit func(int) error) error {
		for i := 0; ; i++ {
			if err := emit(i); err != nil {
				return err
			}
		}
	}, stream.Name("source"))
	parsed := stream.Map(p, src, func(_ context.Context, v int) (int, error) { return v, nil }, stream.Name("parse"), stream.Workers(2))
	slow := stream.Map(p, parsed, func(ctx context.Context, v int) (int, error) {
		// The slow stage: a millisecond per element (no timing is asserted).
		tm := time.NewTimer(time.Millisecond)
		defer tm.Stop()
		select {
		case <-tm.C:
			return v, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}, stream.Name("slow"))
	named := stream.Map(p, slow, func(_ context.Context, v int) (int, error) { return v, nil }, stream.Name(hostile))
	stream.ForEach(p, named, func(context.Context, int) error { return nil }, stream.Name("sink"))
	names := []string{"source", "parse", "slow", hostile, "sink"}
	defer func() {
		cancel()
		_ = p.Wait()
	}()

	mux := http.NewServeMux()
	mux.Handle("/debug/stream/", http.StripPrefix("/debug/stream", streamweb.Handler(p)))
	srv := httptest.NewServer(mux) // on 127.0.0.1
	defer srv.Close()
	url := srv.URL + "/debug/stream/"

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.NoSandbox, // CI runs as root
		chromedp.WindowSize(1700, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	bctx, cancelTimeout := context.WithTimeout(bctx, 90*time.Second)
	defer cancelTimeout()

	read := func(minRefreshes int) pageState {
		t.Helper()
		_, err := chromedp.Run(bctx, chromedp.Poll[bool](
			`Number(document.body.dataset.refreshes || 0) >= `+itoa(minRefreshes), chromedp.WithPollingTimeout(30*time.Second)))
		require.NoError(t, err, "the page did not refresh %d times", minRefreshes)
		raw, err := chromedp.Run(bctx, chromedp.Evaluate[string](readPage))
		require.NoError(t, err)
		var s pageState
		require.NoError(t, json.Unmarshal([]byte(raw), &s))
		return s
	}

	start := time.Now()
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(url)), "Chromium could not start or load the page")
	first := read(2) // two refreshes: rates are known
	t.Logf("first read after %v (two refreshes)", time.Since(start).Round(time.Millisecond))

	assert.Equal(t, names, first.Stages, "every stage has a box")
	assert.Equal(t, names, first.Rows, "every stage has a row")
	assert.Contains(t, first.Texts, hostile, "a name that looks like markup is shown as text")
	assert.Zero(t, first.Markup, "no name became markup")
	assert.False(t, first.Pwned)
	assert.Equal(t, 4, first.Edges)

	// The slow stage is the one highlighted, on the next refresh too
	// (the others' queues are full or empty, never both).
	second := read(first.Refreshes + 1)
	assert.Equal(t, []string{"slow"}, second.Slow, "the highlighted box")
	assert.Equal(t, "slow", second.Bottleneck, "the summary")
	for _, name := range names[1:] { // the source has no input
		assert.Greater(t, second.In[name], first.In[name], "%s: its in counter moves between refreshes", name)
	}
	for i, r := range second.Rates {
		if i > 0 {
			assert.NotEqual(t, "–", r, "%s: a rate is shown", names[i])
		}
	}

	// Size and load time as the browser measured them.
	perf, err := chromedp.Run(bctx, chromedp.Evaluate[string](`JSON.stringify({
		firstDraw: performance.getEntriesByName('first-draw').map(e => e.startTime),
		nav: performance.getEntriesByType('navigation').map(e => ({t: e.loadEventEnd - e.startTime, size: e.transferSize, body: e.decodedBodySize})),
		res: performance.getEntriesByType('resource').filter(e => !e.name.endsWith('/stats')).map(e => ({name: e.name.split('/').pop(), t: e.duration, size: e.transferSize, body: e.decodedBodySize}))
	})`))
	require.NoError(t, err)
	t.Logf("page load (navigation, resources): %s", perf)

	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	shot := filepath.Join(t.TempDir(), "live.png")
	require.NoError(t, os.WriteFile(shot, png, 0o644))
	if dir := os.Getenv("STREAMWEB_SCREENSHOT_DIR"); dir != "" {
		// Keep a copy outside the temp dir (which the test removes).
		require.NoError(t, os.WriteFile(filepath.Join(dir, "live.png"), png, 0o644))
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))

	require.NoError(t, chromedp.Cancel(bctx)) // closes the browser and waits for it
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
