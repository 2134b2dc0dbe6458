package main

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pipewright/stream"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// stageLog records which stages started and which stopped.
type stageLog struct {
	mu      sync.Mutex
	started map[string]bool
	stopped map[string]bool
}

func (l *stageLog) Observe(e stream.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch e.Kind {
	case stream.StageStarted:
		l.started[e.Stage] = true
	case stream.StageStopped:
		l.stopped[e.Stage] = true
	}
}

// A real client reads a few events over a real connection on 127.0.0.1,
// then disconnects mid-stream: every stage of that request's pipeline ends,
// the handler returns, and no goroutine is left.
func TestDisconnectEndsTheRequestsPipeline(t *testing.T) {
	testDisconnect(t, 5*time.Millisecond, 30)
}

// With an event an hour, nothing is written after the first event, so only
// the request's context can end the pipeline: it does, with the context's
// error.
func TestDisconnectWithoutWritesEndsItThroughTheRequestContext(t *testing.T) {
	err := testDisconnect(t, time.Hour, 1)
	require.ErrorIs(t, err, context.Canceled)
}

// testDisconnect reads n events, disconnects, checks that every stage of
// the request's pipeline ended and no goroutine is left, and returns the
// pipeline's result.
func testDisconnect(t *testing.T, every time.Duration, n int) (result error) {
	stages := &stageLog{started: map[string]bool{}, stopped: map[string]bool{}}
	ended := make(chan error, 1)
	mux := http.NewServeMux()
	mux.Handle("GET /events", &events{every: every, observer: stages, done: func(err error) { ended <- err }})
	srv := httptest.NewServer(mux) // listens on 127.0.0.1
	defer srv.Close()
	require.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1:"), srv.URL)

	ctx, disconnect := context.WithCancel(context.Background())
	defer disconnect()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events", nil)
	require.NoError(t, err)
	client := &http.Client{}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))

	lines := strings.Split(strings.TrimRight(deployLog, "\n"), "\n")
	body := bufio.NewReader(resp.Body)
	for i := 1; i <= n; i++ {
		want := []string{"id: " + itoa(i), "data: " + lines[(i-1)%len(lines)], ""}
		for _, w := range want {
			got, err := body.ReadString('\n')
			require.NoError(t, err)
			require.Equal(t, w, strings.TrimSuffix(got, "\n"), "event %d", i)
		}
	}

	disconnect() // mid-stream: the server keeps sending until it notices
	select {
	case result = <-ended: // by the request's context, or by a failed write
	case <-time.After(10 * time.Second):
		t.Fatal("the request's pipeline did not end after the client disconnected")
	}
	stages.mu.Lock()
	assert.Equal(t, map[string]bool{"replay": true, "pace": true, "number": true, "send": true}, stages.started)
	assert.Equal(t, stages.started, stages.stopped, "every stage that started has ended")
	stages.mu.Unlock()

	resp.Body.Close()
	client.CloseIdleConnections()
	srv.Close()
	goleak.VerifyNone(t)
	return result
}

func itoa(i int) string {
	return strconv.Itoa(i)
}
