package streamweb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
	"github.com/pipewright/stream/streamweb"
)

// loadPipeline moves n elements through a source and three stages, and
// returns the pipeline (not yet waited for). The source sends marks on
// progress (buffered: it never waits), evenly over its first 95%, so
// requests can be spread over the run whatever its speed.
func loadPipeline(ctx context.Context, n, marks int, progress chan<- struct{}) (*stream.Pipeline, <-chan int) {
	p := stream.New(ctx)
	every := n * 95 / 100 / marks
	c := stream.Generate(p, func(_ context.Context, emit func(int) error) error {
		for i := range n {
			if i%every == every-1 {
				select {
				case progress <- struct{}{}:
				default:
				}
			}
			if err := emit(i); err != nil {
				return err
			}
		}
		return nil
	}, stream.Name("source"))
	c = stream.Map(p, c, func(_ context.Context, v int) (int, error) { return v * 3, nil }, stream.Name("triple"))
	c = stream.Filter(p, c, func(_ context.Context, v int) (bool, error) { return v%2 == 0, nil }, stream.Name("even"))
	c = stream.Map(p, c, func(_ context.Context, v int) (int, error) { return v + 1, nil }, stream.Name("inc"))
	return p, c
}

// TestStatsUnderLoad: 1,000 requests to /stats while a pipeline moves 10
// million elements leave its throughput within 5% of a run without
// requests. The requests are spread over the run by the source's progress
// (one per 1/1000 of its first 95%), each waiting for the previous answer, like a
// busy viewer. Runs alternate (quiet, loaded, …) and medians are compared,
// as the machine may be shared. Gated: STREAMWEB_LOAD=1 (or =N for N pairs of
// runs, default 5); it takes about a minute and is not run by CI.
//
//	STREAMWEB_LOAD=5 go test -run TestStatsUnderLoad -count=1 -v .
func TestStatsUnderLoad(t *testing.T) {
	pairs, _ := strconv.Atoi(os.Getenv("STREAMWEB_LOAD"))
	if pairs <= 0 {
		t.Skip("set STREAMWEB_LOAD=1 (or a number of run pairs) to run the load test")
	}
	const elements, requests = 10_000_000, 1000

	run := func(load bool) (perSec float64, answered int, last time.Duration) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		progress := make(chan struct{}, requests+1)
		start := time.Now()
		p, out := loadPipeline(ctx, elements, requests, progress)
		srv := httptest.NewServer(streamweb.Handler(p))
		defer srv.Close()
		client := srv.Client()
		done := make(chan struct{})
		if load {
			go func() {
				defer close(done)
				for range requests {
					<-progress // the next step of the run
					last = time.Since(start)
					resp, err := client.Get(srv.URL + "/stats")
					if err != nil {
						t.Error(err)
						return
					}
					var s struct{ Stages []json.RawMessage }
					err = json.NewDecoder(resp.Body).Decode(&s)
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if err != nil || resp.StatusCode != http.StatusOK || len(s.Stages) != 5 {
						t.Errorf("a /stats answer: %v, %d, %d stages", err, resp.StatusCode, len(s.Stages))
						return
					}
					answered++
				}
			}()
		} else {
			close(done)
		}
		require.NoError(t, stream.Drain(p, out))
		took := time.Since(start)
		<-done
		require.Equal(t, int64(elements), p.Stats()[1].In)
		if load && last > took {
			t.Errorf("the last request started %v after the pipeline ended (%v): not all under load", last-took, took)
		}
		return float64(elements) / took.Seconds(), answered, last
	}

	warm, _, _ := run(false)
	t.Logf("warm-up: %.2fM elements/s", warm/1e6)
	var quiet, loaded, ratios []float64
	for i := range pairs {
		q, _, _ := run(false)
		l, n, last := run(true)
		quiet, loaded, ratios = append(quiet, q), append(loaded, l), append(ratios, l/q)
		t.Logf("pair %d: quiet %.3fM/s, with %d requests %.3fM/s (%+.1f%%; last request at %v)",
			i+1, q/1e6, n, l/1e6, 100*(l/q-1), last.Round(time.Millisecond))
		require.Equal(t, requests, n)
	}
	mq, ml, mr := median(quiet), median(loaded), median(ratios)
	t.Logf("medians of %d pairs: quiet %.3fM elements/s, with 1000 requests %.3fM elements/s; median ratio %s",
		pairs, mq/1e6, ml/1e6, fmt.Sprintf("%+.2f%%", 100*(mr-1)))
	assert.GreaterOrEqual(t, mr, 0.95, "throughput with requests within 5%% of without (median of the pairs' ratios)")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
