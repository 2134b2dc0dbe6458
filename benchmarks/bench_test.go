package benchmarks

import (
	"strconv"
	"testing"
)

// The benchmarks push b.N elements through each implementation, so ns/op is
// the cost per element and allocs/op the allocations per element. Names read
// BenchmarkWorkload/case/lib=name; cmd/table turns them into the README's
// table, with each implementation's ratio to lib=hand-fastpath of the same
// case.

func BenchmarkOneHop(b *testing.B)       { runWorkloads(b, oneHop()) }
func BenchmarkPipeline3(b *testing.B)    { runWorkloads(b, pipeline3()) }
func BenchmarkParallelMap(b *testing.B)  { runWorkloads(b, parallelMap()) }
func BenchmarkOrderedMap(b *testing.B)   { runWorkloads(b, orderedMap()) }
func BenchmarkBatch(b *testing.B)        { runWorkloads(b, batch()) }
func BenchmarkFanOutMerge(b *testing.B)  { runWorkloads(b, fanOutMerge()) }
func BenchmarkBuffer(b *testing.B)       { runWorkloads(b, buffer()) }
func BenchmarkTimeout(b *testing.B)      { runWorkloads(b, timeoutMap()) }
func BenchmarkChain3(b *testing.B)       { runWorkloads(b, chain3()) }
func BenchmarkChain6(b *testing.B)       { runWorkloads(b, chain6()) }
func BenchmarkLoneElement5(b *testing.B) { runWorkloads(b, loneElement5()) }

func runWorkloads(b *testing.B, ws []workload) {
	for _, w := range ws {
		for _, im := range w.impls {
			b.Run(subName(w.name, im.lib), func(b *testing.B) {
				b.ReportAllocs()
				defer reportCPU(b)()
				if _, err := im.run(b.N); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

func subName(name, lib string) string {
	if name == "" {
		return "lib=" + lib
	}
	return name + "/lib=" + lib
}

// TestWorkloads checks that every implementation delivers every element,
// transformed as its workload says, and the ordered ones in order, so that
// no benchmark is fast because it skips work.
func TestWorkloads(t *testing.T) {
	all := map[string][]workload{
		"OneHop":       oneHop(),
		"Pipeline3":    pipeline3(),
		"ParallelMap":  parallelMap(),
		"OrderedMap":   orderedMap(),
		"Batch":        batch(),
		"FanOutMerge":  fanOutMerge(),
		"Buffer":       buffer(),
		"Timeout":      timeoutMap(),
		"Chain3":       chain3(),
		"Chain6":       chain6(),
		"LoneElement5": loneElement5(),
		"Memory":       memoryWorkloads(),
	}
	for bench, ws := range all {
		for _, w := range ws {
			for _, im := range w.impls {
				for _, n := range []int{0, 1, 1001} {
					t.Run(bench+"/"+subName(w.name, im.lib)+"/n="+strconv.Itoa(n), func(t *testing.T) {
						got, err := im.run(n)
						if err != nil {
							t.Fatal(err)
						}
						if want := w.want(n); got != want {
							t.Errorf("checksum = %d, want %d", got, want)
						}
					})
				}
			}
		}
	}
}
