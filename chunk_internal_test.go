package stream

import (
	"context"
	"testing"
	"testing/synctest"
)

// TestChunkNoLostWakeup: a chain of single-worker stages (and an Ordered
// one) fed in rounds; after each round, once every goroutine is blocked,
// every stage has received every element. It repeats the run many times:
// a consumer that stole a producer's pending chunk, then began to wait
// again while the producer, seeing the wait, failed to send the chunk
// already stolen, used to wait forever with the producer's next elements
// pending (the producer took the wait as served).
func TestChunkNoLostWakeup(t *testing.T) {
	runs := 300
	if testing.Short() {
		runs = 50
	}
	for range runs {
		synctest.Test(t, func(t *testing.T) {
			p := New(context.Background())
			defer func() { p.Stop(); _ = p.Wait() }()
			next := make(chan int)
			id := func(_ context.Context, v int) (int, error) { return v, nil }
			c := Capacity(32)
			src := Generate(p, func(ctx context.Context, emit func(int) error) error {
				i := 0
				for k := range next {
					for range k {
						if err := emit(i); err != nil {
							return err
						}
						i++
					}
				}
				return nil
			}, c, Name("src"))
			ch := Map(p, src, id, c, Name("map"))
			ch = Filter(p, ch, func(context.Context, int) (bool, error) { return true, nil }, c, Name("filter"))
			ch = FlatMap(p, ch, func(_ context.Context, v int, emit func(int) error) error { return emit(v) }, c, Name("flatmap"))
			ch = Scan(p, ch, 0, func(_, v int) int { return v }, c, Name("scan"))
			ch = Map(p, ch, id, c, Name("ordered"), Workers(3), Ordered())
			ch = Take(p, ch, 1<<30, c, Name("take"))
			ForEach(p, ch, func(context.Context, int) error { return nil }, Name("sink"))
			total := 0
			for _, k := range []int{1, 16, 17, 100, 15, 1000} {
				next <- k
				total += k
				synctest.Wait()
				for _, s := range p.Stats() {
					if s.Name != "src" && s.In != int64(total) {
						t.Fatalf("after %d elements, %s received %d: elements pending while it waits", total, s.Name, s.In)
					}
				}
			}
			close(next)
		})
	}
}
