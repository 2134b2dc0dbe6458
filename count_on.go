//go:build !stream_nocount

package stream

// counting is on: element counts and latency samples are kept. Building with
// -tags stream_nocount turns them off, only to measure what they cost (see
// BenchmarkCounting); Stats then reports zero counts.
const counting = true
