package stream

import "runtime"

// goid returns the id of the calling goroutine, read from the first line of
// its traceback ("goroutine 42 [running]:"). It costs about a microsecond
// (a few on a loaded machine):
// it is called once per worker and once per Wait, never per element, so
// that Wait can tell a call from the pipeline's own goroutines, which would
// wait for themselves. Goroutine ids are never reused.
func goid() uint64 {
	// Room for "goroutine " and 19 digits, no more: the traceback is
	// printed only as far as the buffer goes, which halves the cost.
	var buf [32]byte
	b := buf[:runtime.Stack(buf[:], false)]
	const prefix = "goroutine "
	if len(b) < len(prefix) {
		return 0
	}
	var id uint64
	for _, c := range b[len(prefix):] {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}
