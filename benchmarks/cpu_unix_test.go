//go:build unix

package benchmarks

import (
	"syscall"
	"testing"
)

// reportCPU starts measuring the CPU time the process spends (user and
// system, every goroutine) and returns the function that reports it per
// element as cpu-ns/op. On a machine shared with other work, wall time per
// element varies with the load; the CPU time a pipeline burns varies much
// less, so the two together tell a slow pipeline from a busy machine.
// cmd/table ignores the unit.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func cpuTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
