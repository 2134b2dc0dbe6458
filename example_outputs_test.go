package stream_test

import (
	"context"
	"fmt"

	"github.com/pipewright/stream"
)

// StageStats.Outputs gives the pipeline's edges with each channel's fill:
// here what a live view draws as the graph.
func ExampleStageStats_outputs() {
	p := stream.New(context.Background())
	src := stream.FromSlice(p, []int{1, 2, 3}, stream.Name("numbers"))
	evens := stream.Filter(p, src, func(_ context.Context, v int) (bool, error) { return v%2 == 0, nil }, stream.Name("evens"))
	if _, err := stream.Collect(p, evens); err != nil {
		fmt.Println(err)
	}
	for _, st := range p.Stats() {
		for _, o := range st.Outputs {
			fmt.Printf("%s -> %s (%d/%d)\n", st.Name, o.To, o.QueueLen, o.QueueCap)
		}
	}
	// Output:
	// numbers -> evens (0/64)
	// evens -> collect#3 (0/64)
}
