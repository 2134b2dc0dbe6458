package stream

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"
)

// Internal adversarial tests of the chunked hand-off: interleavings of the
// producer's and the consumer's steps that a real run hits too rarely to
// test, replayed step by step with the engine's own functions on one
// goroutine. See chunk_adversary_test.go for the public ones.

// handoffRig is one chunked edge between two stages that never start: the
// test plays both ends.
type handoffRig struct {
	out    *port[int]
	in     *inport[int]
	l      *link[int]
	wp, wc *worker
}

func newHandoffRig(t *testing.T, capacity int) *handoffRig {
	t.Helper()
	p := New(context.Background())
	t.Cleanup(p.Stop)
	ps := p.addStage("prod", newConfig([]Option{Capacity(capacity)}), nil)
	out := output[int](ps)
	require.NotNil(t, out.l, "a single-worker stage's output of capacity %d carries chunks", capacity)
	cs := p.addStage("cons", newConfig(nil), []any{(<-chan int)(out.ch)})
	in := input(cs, (<-chan int)(out.ch), true)
	return &handoffRig{
		out: out, in: in, l: out.l,
		wp: &worker{s: ps, c: &ps.counters[0], lat: &ps.latency[0], done: ps.ctx.Done()},
		wc: &worker{s: cs, c: &cs.counters[0], lat: &cs.latency[0], done: cs.ctx.Done()},
	}
}

// send is the producer's send of v.
func (r *handoffRig) send(t *testing.T, v int) {
	t.Helper()
	require.NoError(t, send(r.wp, r.out, v, r.wp.done))
}

// take is the consumer's take, which must not block.
func (r *handoffRig) take(t *testing.T) int {
	t.Helper()
	v, err := take(r.wc, r.in, nil)
	require.NoError(t, err)
	return v
}

// TestChunkAloneElementKeepsItsPlace replays a race between a consumer's
// steal and an element sent alone:
//
//  1. the consumer finds its queue empty and nothing pending, says that it
//     waits, and steals the chunk the producer appended x to meanwhile;
//  2. the producer, seeing the wait, flushes that chunk: it was stolen, so
//     the wait still looks unserved;
//  3. the consumer hands x on, comes back, and finds its queue empty;
//  4. the producer sends a alone (a wait looks unserved and nothing is
//     pending), then appends b to a new pending chunk;
//  5. the consumer steals that chunk: b would overtake a, queued.
//
// The consumer must hold the stolen chunk back until a is read: every item
// takes a place in the producer's sequence, elements sent alone too.
func TestChunkAloneElementKeepsItsPlace(t *testing.T) {
	r := newHandoffRig(t, 32)
	r.send(t, 0)                   // the output switches to chunks: 0 pending
	require.Equal(t, 0, r.take(t)) // stolen (the queue is empty)

	// 1. The consumer: queue empty, nothing to steal; it says that it waits.
	r.in.chunked = true
	c, _ := r.in.steal()
	require.Nil(t, c)
	r.l.waits.Add(1)
	// The producer appends x (the add sees the wait: it will flush).
	require.True(t, r.out.add(1))
	r.wp.sent()
	// The consumer's second look steals x.
	c, k := r.in.steal()
	require.NotNil(t, c)
	require.Equal(t, uint32(1), k)
	require.Equal(t, r.in.next, c.seq, "nothing precedes x")
	r.in.load(c, k)
	// 2. The producer's flush finds x stolen.
	require.NoError(t, r.out.flush(r.wp, r.wp.done))
	// 3. The consumer hands x on.
	require.Equal(t, 1, r.take(t))

	// 4. (The consumer found its queue empty.) The producer sends a, then b.
	r.send(t, 2)
	r.send(t, 3)
	require.Equal(t, 1, len(r.l.chunks), "a is queued")

	// 5. The consumer steals b's chunk: it must not come before a.
	c, k = r.in.steal()
	require.NotNil(t, c, "b is pending")
	require.NotEqual(t, r.in.next, c.seq,
		"a chunk stolen while an element sent alone before it is queued must be held back")
	r.in.held, r.in.heldN = c, k
	require.Equal(t, 2, r.take(t))
	require.Equal(t, 3, r.take(t))
}

// TestChunkableElementSize: elements of up to 1 KiB travel in chunks (a
// chunk holds 16 KiB at most); larger ones go element by element, and so
// do outputs too small for a chunk.
func TestChunkableElementSize(t *testing.T) {
	p := New(context.Background())
	defer p.Stop()
	s := p.addStage("s", newConfig([]Option{Capacity(16)}), nil)
	require.True(t, chunkable[struct{}](s))
	require.True(t, chunkable[[1024]byte](s))
	require.False(t, chunkable[[1025]byte](s))
	small := p.addStage("small", newConfig([]Option{Capacity(15)}), nil)
	require.False(t, chunkable[int](small))
}

// TestChunkRingNeverOverwrites: a full free ring lets a recycled chunk go
// to the garbage collector; it never overwrites one the producer has not
// taken (which it would then take twice, while the chunk is in use).
func TestChunkRingNeverOverwrites(t *testing.T) {
	l := &link[int]{free: make([]*chunk[int], 4)}
	var cs []*chunk[int]
	for range 6 {
		c := new(chunk[int])
		cs = append(cs, c)
		l.recycle(c)
	}
	for i := range 4 {
		require.Same(t, cs[i], l.reuse(), "chunk %d", i)
	}
	require.Nil(t, l.reuse(), "the ring held four")
}

// TestChunkPollKeepsHeldBack: the Ordered reader's poll, like take, hands
// out a chunk stolen ahead of queued ones only after them. The consumer's
// steal is replayed as take makes it when the producer put chunk 1 after
// the consumer found its queue empty.
func TestChunkPollKeepsHeldBack(t *testing.T) {
	r := newHandoffRig(t, 32)
	r.in.chunked = true
	for i := range chunkSize + 1 {
		r.send(t, i) // 0..15 fill chunk 1, sent; 16 pending in chunk 2
	}
	require.Equal(t, 1, len(r.l.chunks))
	c, k := r.in.steal()
	require.NotNil(t, c)
	require.NotEqual(t, r.in.next, c.seq, "chunk 1 is queued before it")
	r.in.held, r.in.heldN = c, k
	for i := range chunkSize + 1 {
		v, ok := r.in.poll()
		require.True(t, ok, "element %d is there", i)
		require.Equal(t, i, v)
	}
	_, ok := r.in.poll()
	require.False(t, ok)
}

// TestChunkHeldNotReplaced: a consumer holding a stolen chunk back behind
// one still in flight (its producer's put not landed) steals nothing more:
// a second steal would take the place of the held chunk, whose elements
// would be lost, and the consumer would wait forever for them.
func TestChunkHeldNotReplaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newHandoffRig(t, 32)
		r.in.chunked = true
		for i := range chunkSize + 1 {
			r.send(t, i) // 0..15: chunk 1, queued; 16 pending in chunk 2
		}
		inFlight := <-r.l.chunks // chunk 1's put has not landed yet
		c, k := r.in.steal()     // the consumer found its queue empty and stole chunk 2
		require.NotNil(t, c)
		r.in.held, r.in.heldN = c, k
		r.send(t, chunkSize+1) // chunk 2 was stolen: 17 is pending in chunk 3
		got := make(chan int)
		go func() {
			v, _ := take(r.wc, r.in, nil) // must wait for chunk 1
			got <- v
		}()
		synctest.Wait()
		r.l.chunks <- inFlight
		require.Equal(t, 0, <-got)
		for i := 1; i <= chunkSize+1; i++ {
			require.Equal(t, i, r.take(t))
		}
	})
}
