// Package benchmarks compares github.com/pipewright/stream with hand-written
// channel code and with peer libraries, on the same workloads with the same
// element counts. It is a module of its own, so that the library's go.mod
// never depends on its competitors.
//
// The package holds only benchmarks and the tests that check every
// implementation delivers what its workload promises; cmd/table runs the
// suite and writes the table in README.md.
package benchmarks
