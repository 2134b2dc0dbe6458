package streamotel_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/pipewright/stream"
	"github.com/pipewright/stream/streamotel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
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

// lines collects once from reader and returns the rendered lines that
// start with prefix (see render in render_test.go).
func lines(reader *sdkmetric.ManualReader, prefix string) []string {
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(render(rm), "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// Register the counters and gauges of a pipeline on a meter, and read them
// with a manual reader (a real program uses a periodic reader and an
// exporter).
func ExampleRegister() {
	p := squares()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())
	reg, err := streamotel.Register(provider.Meter(streamotel.ScopeName), p)
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Unregister()
	for _, l := range lines(reader, "stream.stage.elements.out{") {
		fmt.Println(l)
	}
	// Output:
	// stream.stage.elements.out{kind="drain",stage="drain#3"} 0
	// stream.stage.elements.out{kind="map",stage="square"} 5
	// stream.stage.elements.out{kind="slice",stage="numbers"} 5
}

// The latency histograms come from a producer given to the reader. The
// bucket counts depend on the machine; the example prints the number of
// samples: each worker's first element, then one in 64.
func ExampleNewProducer() {
	p := squares()
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(streamotel.NewProducer(p)))
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())
	for _, l := range lines(reader, "stream.stage.latency{") {
		fmt.Println(l[:strings.Index(l, " sum=")])
	}
	// Output:
	// stream.stage.latency{kind="drain",stage="drain#3"} count=1
	// stream.stage.latency{kind="map",stage="square"} count=1
	// stream.stage.latency{kind="slice",stage="numbers"} count=1
}

// Attributes tell several pipelines apart.
func ExampleAttributes() {
	p := squares()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())
	_, err := streamotel.Register(provider.Meter(streamotel.ScopeName), p,
		streamotel.Attributes(attribute.String("pipeline", "squares")))
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range lines(reader, `stream.stage.done{kind="map"`) {
		fmt.Println(l)
	}
	// Output:
	// stream.stage.done{kind="map",pipeline="squares",stage="square"} 1
}

func ExampleDefaultLatencyBounds() {
	b := streamotel.DefaultLatencyBounds()
	fmt.Println(len(b), "bounds from", b[0], "to", b[len(b)-1])
	// Output: 26 bounds from 1.024µs to 34.359738368s
}

// Three bounds (and the bucket above them) in place of the default 26.
func ExampleLatencyBounds() {
	p := squares()
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(
		streamotel.NewProducer(p, streamotel.LatencyBounds(time.Microsecond, time.Millisecond, time.Second))))
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())
	for _, l := range lines(reader, "# stream.stage.latency ") {
		fmt.Println(l)
	}
	// Output:
	// # stream.stage.latency histogram s CumulativeTemporality bounds=[1e-06 0.001 1]
}
