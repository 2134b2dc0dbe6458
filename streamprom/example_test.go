package streamprom_test

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"strings"

	"github.com/pipewright/stream"
	"github.com/pipewright/stream/streamprom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Register a pipeline's collector and serve it on /metrics; here the server
// is an httptest one on loopback, and the example prints the element counts
// a scrape shows once the pipeline has ended.
func Example() {
	p := stream.New(context.Background())
	reg := prometheus.NewRegistry()
	reg.MustRegister(streamprom.NewCollector(p, streamprom.ConstLabels(prometheus.Labels{"pipeline": "squares"})))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	nums := stream.FromSlice(p, []int{1, 2, 3, 4, 5}, stream.Name("numbers"))
	squares := stream.Map(p, nums, func(_ context.Context, v int) (int, error) {
		return v * v, nil
	}, stream.Name("square"))
	if err := stream.Drain(p, squares); err != nil {
		log.Fatal(err)
	}

	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "stream_stage_elements_") {
			fmt.Println(sc.Text())
		}
	}
	// Output:
	// stream_stage_elements_in_total{kind="drain",pipeline="squares",stage="drain#3"} 5
	// stream_stage_elements_in_total{kind="map",pipeline="squares",stage="square"} 5
	// stream_stage_elements_in_total{kind="slice",pipeline="squares",stage="numbers"} 0
	// stream_stage_elements_out_total{kind="drain",pipeline="squares",stage="drain#3"} 0
	// stream_stage_elements_out_total{kind="map",pipeline="squares",stage="square"} 5
	// stream_stage_elements_out_total{kind="slice",pipeline="squares",stage="numbers"} 5
}
