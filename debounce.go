package stream

import (
	"strconv"
	"time"
)

// Debounce emits an element of in only once quiet has passed without a
// newer one: of a burst of elements less than quiet apart, only the last is
// emitted, quiet after it arrived. It suits streams where only the latest
// state matters once it settles (a search box, file-change events, a
// configuration being edited). A stream that never pauses for quiet emits
// nothing until it does. When in closes, the element still waiting, if any,
// is emitted at once and then the output closes; on cancellation it is
// discarded. It holds at most one element; superseded elements are not
// counted as dropped (the stage's In − Out in [Pipeline.Stats] is their
// number). It runs one goroutine and one timer, stopped when it ends.
// Name and [Capacity] apply. A nil p or in, or quiet <= 0, panics.
func Debounce[T any](p *Pipeline, in <-chan T, quiet time.Duration, opts ...Option) <-chan T {
	checkPipeline(p)
	checkInput(in, "Debounce")
	if quiet <= 0 {
		panic("stream: Debounce: quiet must be positive, got " + strconv.FormatInt(int64(quiet), 10) + "ns")
	}
	s := p.addStage("debounce", stageConfig("debounce", opts, usesCapacity), []any{in})
	out := output[T](s)
	ip := input(s, in, true)
	s.start(func(w *worker) error {
		timer := time.NewTimer(quiet)
		timer.Stop()
		defer timer.Stop()
		var (
			pending T
			ticks   <-chan time.Time // nil while nothing waits
		)
		flush := func() error {
			v := pending
			var zero T
			pending, ticks = zero, nil // hold no reference once handed on
			return send(w, out, v, w.done)
		}
		for {
			v, err := take(w, ip, ticks)
			switch {
			case err == errTimeout:
				if err := flush(); err != nil {
					return err
				}
				continue
			case err == errClosed && ticks != nil:
				timer.Stop()
				return flush()
			case err != nil:
				return err
			}
			w.received()
			pending = v
			timer.Reset(quiet)
			ticks = timer.C
		}
	})
	return out.ch
}
