package streamnats_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pipewright/stream"
	"github.com/pipewright/stream/streamnats"
)

// item is what the stages of TestRandomFailures pass on: the delivery it
// came from and which of its parts it is.
type item struct {
	id        string
	delivered uint64
	part      int
}

// fails decides, the same way every time, whether a stage fails for a
// delivery's part: about pct percent of them.
func fails(stage string, id string, delivered uint64, part, pct int) bool {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%s/%d/%d", stage, id, delivered, part)
	return int(h.Sum32()%100) < pct
}

// Random failures in every kind of stage, with concurrent workers: each
// message ends acknowledged after its first delivery on which nothing
// failed, or dead-lettered after `budget` deliveries that all failed,
// never anything else.
func TestRandomFailures_EveryMessageEndsAckedOrDeadLettered(t *testing.T) {
	e := newEnv(t)
	e.stream(t, "T")
	dead := e.stream(t, "DEAD")
	c := e.consumer(t, "T", "c", 30*time.Second)
	const n, budget = 400, 3
	e.publish(t, "T.x", n)

	var mu sync.Mutex
	failed := map[string]map[uint64]bool{} // id → delivery → something failed
	mark := func(it item, bad bool) {
		mu.Lock()
		defer mu.Unlock()
		if failed[it.id] == nil {
			failed[it.id] = map[uint64]bool{}
		}
		failed[it.id][it.delivered] = failed[it.id][it.delivered] || bad
	}
	boom := errors.New("random failure")

	p := stream.New(testCtx(t, 60*time.Second))
	msgs := streamnats.Source(p, c, streamnats.PullMax(32),
		streamnats.MaxDeliveries(budget), streamnats.NakDelay(time.Millisecond, 2*time.Millisecond),
		streamnats.DeadLetter(e.js, "DEAD.T"))
	items := streamnats.Map(p, msgs, func(_ context.Context, m streamnats.Message) (item, error) {
		it := item{id: m.ID, delivered: m.Delivered}
		mark(it, false)
		if fails("map", m.ID, m.Delivered, 0, 25) {
			mark(it, true)
			return it, boom
		}
		return it, nil
	}, stream.Workers(3))
	parts := streamnats.FlatMap(p, items, func(_ context.Context, it item, emit func(item) error) error {
		k, _ := strconv.Atoi(it.id[2:])
		for part := range k % 4 { // 0 to 3 parts
			if err := emit(item{it.id, it.delivered, part}); err != nil {
				return err
			}
		}
		if fails("flatmap", it.id, it.delivered, 0, 10) {
			mark(it, true)
			return boom
		}
		return nil
	}, stream.Workers(2))
	kept := streamnats.Filter(p, parts, func(_ context.Context, it item) (bool, error) {
		if fails("filter", it.id, it.delivered, it.part, 5) {
			mark(it, true)
			return false, boom
		}
		return it.part != 1, nil
	})
	batches := streamnats.Batch(p, kept, 7, 5*time.Millisecond)
	streamnats.ForEach(p, batches, func(_ context.Context, b []item) error {
		for _, it := range b {
			if fails("foreach", it.id, it.delivered, it.part, 3) {
				for _, it := range b { // the whole batch fails
					mark(it, true)
				}
				return boom
			}
		}
		return nil
	}, stream.Workers(2))

	eventually(t, 45*time.Second, "every message settled", settledAll(t, c, n))
	p.Stop()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	si, err := dead.Info(testCtx(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	wantDead := 0
	for i := range n {
		ds := failed[id(i)]
		last := uint64(len(ds))
		for d := uint64(1); d < last; d++ {
			if !ds[d] {
				t.Fatalf("%s: delivery %d of %d succeeded, yet it was delivered again", id(i), d, last)
			}
		}
		switch {
		case last == 0:
			t.Fatalf("%s never delivered", id(i))
		case ds[last] && last < budget:
			t.Fatalf("%s: its last delivery (%d) failed under the budget, yet it is settled", id(i), last)
		case ds[last]:
			wantDead++
		}
	}
	if int(si.State.Msgs) != wantDead {
		t.Fatalf("%d dead letters, want %d", si.State.Msgs, wantDead)
	}
	t.Logf("%d messages: %d dead-lettered after %d failed deliveries, the rest acknowledged", n, wantDead, budget)
}
