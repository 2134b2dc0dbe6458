package stream_test

import (
	"context"
	"testing"

	"github.com/pipewright/stream"
)

// BenchmarkStats measures one Stats call on a finished pipeline of five
// stages with eight workers in all: what a scrape or a refresh of a live
// view costs. The latency histogram of each worker is merged on every call.
func BenchmarkStats(b *testing.B) {
	p := stream.New(context.Background())
	c := stream.Generate(p, countTo(1000))
	c = stream.Map(p, c, inc, stream.Workers(4))
	c = stream.Filter(p, c, even, stream.Workers(2))
	if err := stream.Drain(p, c); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Stats()
	}
}
