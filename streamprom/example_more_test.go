package streamprom_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/pipewright/stream"
	"github.com/pipewright/stream/streamprom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
)

// squares runs a small pipeline to its end: numbers (slice) → square (map)
// → drain.
func squares() *stream.Pipeline {
	p := stream.New(context.Background())
	nums := stream.FromSlice(p, []int{1, 2, 3, 4, 5}, stream.Name("numbers"))
	sq := stream.Map(p, nums, func(_ context.Context, v int) (int, error) { return v * v, nil }, stream.Name("square"))
	if err := stream.Drain(p, sq); err != nil {
		log.Fatal(err)
	}
	return p
}

// gathered returns the lines of the text exposition of c that start with
// prefix.
func gathered(c prometheus.Collector, prefix string) []string {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		log.Fatal(err)
	}
	var lines []string
	for _, mf := range families {
		var b strings.Builder
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			log.Fatal(err)
		}
		for _, l := range strings.Split(b.String(), "\n") {
			if strings.HasPrefix(l, prefix) {
				lines = append(lines, l)
			}
		}
	}
	return lines
}

func ExampleNewCollector() {
	c := streamprom.NewCollector(squares())
	fmt.Println(testutil.CollectAndCount(c, "stream_stage_elements_out_total"), "stages")
	for _, l := range gathered(c, "stream_stage_elements_out_total") {
		fmt.Println(l)
	}
	// Output:
	// 3 stages
	// stream_stage_elements_out_total{kind="drain",stage="drain#3"} 0
	// stream_stage_elements_out_total{kind="map",stage="square"} 5
	// stream_stage_elements_out_total{kind="slice",stage="numbers"} 5
}

func ExampleNamespace() {
	c := streamprom.NewCollector(squares(), streamprom.Namespace("jobs"))
	for _, l := range gathered(c, "jobs_stage_elements_in_total") {
		fmt.Println(l)
	}
	// Output:
	// jobs_stage_elements_in_total{kind="drain",stage="drain#3"} 5
	// jobs_stage_elements_in_total{kind="map",stage="square"} 5
	// jobs_stage_elements_in_total{kind="slice",stage="numbers"} 0
}

func ExampleConstLabels() {
	c := streamprom.NewCollector(squares(), streamprom.ConstLabels(prometheus.Labels{"pipeline": "squares"}))
	for _, l := range gathered(c, `stream_stage_done{kind="map"`) {
		fmt.Println(l)
	}
	// Output:
	// stream_stage_done{kind="map",pipeline="squares",stage="square"} 1
}

// The default bounds: every power of two of nanoseconds from about 1µs to
// about 34s.
func ExampleDefaultLatencyBounds() {
	b := streamprom.DefaultLatencyBounds()
	fmt.Println(len(b), "bounds from", b[0], "to", b[len(b)-1])
	// Output: 26 bounds from 1.024µs to 34.359738368s
}

// Three buckets (and +Inf) in place of the default 26. The counts depend
// on the machine; the example prints the bucket lines' bounds and the
// number of samples: each worker's first element, then one in 64.
func ExampleLatencyBounds() {
	c := streamprom.NewCollector(squares(),
		streamprom.LatencyBounds(1<<10, 1<<20, 1<<30)) // 1.024µs, 1.05ms, 1.07s
	for _, l := range gathered(c, `stream_stage_latency_seconds_`) {
		if strings.Contains(l, `stage="square"`) {
			if i := strings.Index(l, "le="); i >= 0 {
				fmt.Println("bucket", l[i:strings.Index(l, "}")])
			} else if strings.HasPrefix(l, "stream_stage_latency_seconds_count") {
				fmt.Println("count", l[strings.LastIndex(l, " ")+1:])
			}
		}
	}
	// Output:
	// bucket le="1.024e-06"
	// bucket le="0.001048576"
	// bucket le="1.073741824"
	// bucket le="+Inf"
	// count 1
}
