package benchmarks

import (
	"bytes"
	"context"
	"flag"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pipewright/stream"
)

// The memory workload: a fast source, three Map stages and a slow consumer
// (about 160ns of CPU work per element), so every channel is full and stays
// full. A pipeline whose memory is bounded shows the same peak heap for 10
// million elements as for 100 thousand.

// consumerWork is the consumer's CPU work per element, in spin units.
const consumerWork = 100

func memoryWorkloads() []workload {
	return []workload{{
		want: func(n int) int {
			s := 0
			for i := range n {
				s += i + 3 + spin(consumerWork)
			}
			return s
		},
		impls: []impl{
			{"hand-fastpath", handMemory},
			{"stream", streamMemory},
		},
	}}
}

func handMemory(n int) (int, error) {
	done := make(chan struct{})
	defer close(done)
	c := handSource(n, done, sendFast[int])
	for range 3 {
		c = handStage(c, done, 1, sendFast[int], handInc)
	}
	s := 0
	for v := range c {
		s += v + spin(consumerWork)
	}
	return s, nil
}

func streamMemory(n int) (int, error) {
	p := stream.New(context.Background())
	c := stream.Generate(p, countTo(n))
	for range 3 {
		c = stream.Map(p, c, streamInc)
	}
	return stream.Reduce(p, c, 0, func(s, v int) int { return s + v + spin(consumerWork) })
}

// memorySizes are the element counts of the memory workload. Each run
// pushes n elements whatever b.N is, so the 10M runs take seconds; they run
// only when -bench names the benchmark (e.g. -bench Memory), not with
// -bench . (the CI smoke run).
var memorySizes = []struct {
	name     string
	n        int
	explicit bool
}{
	{"100k", 100_000, false},
	{"10M", 10_000_000, true},
}

// BenchmarkMemory reports, besides the cost per element, the peak heap
// (runtime/metrics /memory/classes/heap/objects:bytes, sampled every
// millisecond) and the peak resident set (VmHWM, reset before the run, or
// VmRSS sampled) of the process while the pipeline runs.
func BenchmarkMemory(b *testing.B) {
	for _, size := range memorySizes {
		for _, im := range memoryWorkloads()[0].impls {
			b.Run("n="+size.name+"/lib="+im.lib, func(b *testing.B) {
				if size.explicit && !memorySelected() {
					b.Skip("runs only when -bench names it, e.g. -bench Memory")
				}
				measureMemory(b, size.n, im.run)
			})
		}
	}
}

// memorySelected reports whether the -bench pattern names this benchmark.
func memorySelected() bool {
	f := flag.Lookup("test.bench")
	return f != nil && strings.Contains(f.Value.String(), "Memory")
}

// measureMemory runs run(n) b.N times and reports per-element cost (so
// ns/op, allocs/op and B/op stay per element, as in the other benchmarks)
// and the peaks.
func measureMemory(b *testing.B, n int, run func(int) (int, error)) {
	b.ReportAllocs()
	debug.FreeOSMemory() // a GC, and the heap of earlier benchmarks returned
	hwm := resetPeakRSS()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := startSampler()
	b.ResetTimer()
	for range b.N {
		if _, err := run(n); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	heap, rss := s.stop()
	runtime.ReadMemStats(&after)
	if hwm {
		rss = max(rss, readStatus("VmHWM:"))
	}
	elements := float64(b.N) * float64(n)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/elements, "ns/op")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/elements, "allocs/op")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/elements, "B/op")
	b.ReportMetric(float64(heap), "peak-heap-B")
	if rss > 0 {
		b.ReportMetric(float64(rss), "peak-RSS-B")
	}
}

// sampler records the peak heap and resident set from a goroutine of its
// own, without allocating as it goes.
type sampler struct {
	quit, done chan struct{}
	heap, rss  uint64
}

const heapObjects = "/memory/classes/heap/objects:bytes"

func startSampler() *sampler {
	s := &sampler{quit: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s
}

// stop ends the sampling and returns the peaks in bytes; rss is 0 where
// /proc is missing.
func (s *sampler) stop() (heap, rss uint64) {
	close(s.quit)
	<-s.done
	return s.heap, s.rss
}

func (s *sampler) loop() {
	defer close(s.done)
	samples := []metrics.Sample{{Name: heapObjects}}
	statm, err := os.Open("/proc/self/statm")
	if err == nil {
		defer statm.Close()
	}
	var buf [128]byte
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		metrics.Read(samples)
		s.heap = max(s.heap, samples[0].Value.Uint64())
		if statm != nil {
			s.rss = max(s.rss, readRSS(statm, buf[:]))
		}
		select {
		case <-s.quit:
			return
		case <-t.C:
		}
	}
}

// readRSS reads the resident set size from /proc/self/statm (its second
// field, in pages).
func readRSS(statm *os.File, buf []byte) uint64 {
	n, _ := statm.ReadAt(buf, 0)
	fields := bytes.Fields(buf[:n])
	if len(fields) < 2 {
		return 0
	}
	var pages uint64
	for _, c := range fields[1] {
		if c < '0' || c > '9' {
			return 0
		}
		pages = pages*10 + uint64(c-'0')
	}
	return pages * uint64(os.Getpagesize())
}

// resetPeakRSS resets the kernel's record of the process's peak resident
// set (VmHWM) to its current size, and reports whether it could.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// readStatus returns a size field of /proc/self/status, in bytes, or 0.
func readStatus(field string) uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
