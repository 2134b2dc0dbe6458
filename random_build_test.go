package stream_test

// The random pipelines of random_test.go: building them, their element-wise
// operators, their sinks and the plan of what to inject.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pipewright/stream"
)

// ---- building ----

// stageOpts are the options drawn for one stage.
type stageOpts struct {
	opts  []stream.Option
	name  string
	order orderMode // what the stage keeps of its input's order
	desc  string
}

type optSet uint8

const (
	optWorkers optSet = 1 << iota
	optOrdered
	optCapacity
	optPolicy // AdaptiveWorkers
)

func (rr *randomRun) newID() int {
	rr.nextID++
	return rr.nextID
}

// newStage draws an id and the options of a stage that accepts set.
func (rr *randomRun) newStage(set optSet) (int, stageOpts) {
	id := rr.newID()
	var o stageOpts
	var d []string
	if rr.r.IntN(5) > 0 {
		o.name = "s" + strconv.Itoa(id)
		o.opts = append(o.opts, stream.Name(o.name))
		rr.stageInfo(id).name = o.name
	}
	o.order = keepsAll
	if set&optWorkers != 0 {
		w := 1
		if rr.r.IntN(5) > 1 {
			w = 1 + rr.r.IntN(6)
		}
		switch {
		case set&optPolicy != 0 && rr.r.IntN(10) == 0:
			lo := 1 + rr.r.IntN(w)
			o.opts = append(o.opts, stream.AdaptiveWorkers(lo, w, 2*time.Millisecond))
			d = append(d, fmt.Sprintf("adaptive%d-%d", lo, w))
			if w > 1 {
				o.order = keepsEach
			}
		case w > 1 || rr.r.IntN(4) == 0:
			o.opts = append(o.opts, stream.Workers(w))
			d = append(d, "w"+strconv.Itoa(w))
			if set&optOrdered != 0 && rr.r.IntN(2) == 0 {
				o.opts = append(o.opts, stream.Ordered())
				d = append(d, "ord")
			} else if w > 1 {
				o.order = keepsEach
			}
		}
	}
	if set&optCapacity != 0 && rr.r.IntN(3) > 0 {
		c := rr.r.IntN(9)
		if rr.r.IntN(4) == 0 {
			// Around the chunk size of the hand-off (16): below it an
			// edge moves elements one by one, from it in chunks.
			c = []int{15, 16, 17, 32}[rr.r.IntN(4)]
		}
		o.opts = append(o.opts, stream.Capacity(c))
		d = append(d, "c"+strconv.Itoa(c))
	}
	o.desc = strings.Join(d, ",")
	return id, o
}

func (rr *randomRun) newFn(id int, name, kind string, caps fnCaps) *fnNode {
	n := &fnNode{id: id, name: name, kind: kind, caps: caps}
	if caps&capStall != 0 && rr.r.IntN(2) == 0 {
		n.nap = 1 + rr.r.IntN(3)
	}
	rr.fns = append(rr.fns, n)
	return n
}

// record adds a stage to the description and registers its outputs: the
// stage that made them and the user functions upstream of them.
func (rr *randomRun) record(id int, kind, args string, ins, outs []any, fns ...*fnNode) {
	var from []string
	var up []*fnNode
	info := rr.stageInfo(id)
	info.kind, info.outs = kind, len(outs)
	upStages := []int{id}
	for _, in := range ins {
		from = append(from, strconv.Itoa(rr.chanID[in]))
		up = append(up, rr.up[in]...)
		upStages = append(upStages, rr.upStages[in]...)
		info.ins = append(info.ins, rr.chanID[in])
	}
	up = append(up, fns...)
	for _, out := range outs {
		rr.chanID[out] = id
		rr.up[out] = up
		rr.upStages[out] = upStages
	}
	s := strconv.Itoa(id) + ":" + kind
	if args != "" {
		s += "(" + args + ")"
	}
	if len(from) > 0 {
		s += "<-" + strings.Join(from, ",")
	}
	rr.desc = append(rr.desc, s)
}

func join(parts ...string) string {
	var nonEmpty []string
	for _, p := range parts {
		if p != "" {
			nonEmpty = append(nonEmpty, p)
		}
	}
	return strings.Join(nonEmpty, ",")
}

// rstream is an open stream of the pipeline being built, with the lazy
// model of what it carries (lazy: dropping Buffers are only known after the
// run).
type rstream struct {
	ch    <-chan rel
	model func() *model
}

func memo(f func() *model) func() *model {
	var m *model
	return func() *model {
		if m == nil {
			m = f()
		}
		return m
	}
}

// build adds the random stages and returns the function that runs the
// pipeline's end: a blocking sink, or nothing (Wait is called after it).
func (rr *randomRun) build() func() error {
	injectorFirst := rr.mode == modeInject && rr.r.IntN(2) == 0
	if injectorFirst {
		rr.injector()
	}
	var pool []rstream
	for range 1 + rr.r.IntN(3) {
		pool = append(pool, rr.source())
	}
	steps := rr.r.IntN(8)
	actAt := rr.r.IntN(steps + 1)
	for step := range steps {
		if rr.trigger == triggerBuild && step == actAt {
			rr.act(false) // the stages added from now on start ended
		}
		if rr.nextID > 40 {
			break
		}
		if len(pool) == 0 {
			pool = append(pool, rr.source())
			continue
		}
		i := rr.r.IntN(len(pool))
		s := pool[i]
		switch x := rr.r.IntN(100); {
		case x < 45:
			pool[i] = rr.applyEW(rr.genEW(0), s)
		case x < 52:
			pool[i] = rr.take(s)
		case x < 58:
			pool[i] = rr.dropBuffer(s)
		case x < 61 && rr.allowFail:
			pool[i] = rr.failBuffer(s)
		case x < 70:
			k := rr.r.IntN(min(len(pool), 3) + 1)
			rr.r.Shuffle(len(pool), func(a, b int) { pool[a], pool[b] = pool[b], pool[a] })
			merged := rr.merge(pool[:k])
			pool = append(slices.Clone(pool[k:]), merged)
		case x < 78:
			pool = slices.Delete(pool, i, i+1)
			pool = append(pool, rr.broadcast(s)...)
		case x < 86:
			pool = slices.Delete(pool, i, i+1)
			rr.separate(s)
		case x < 91:
			pool[i] = rr.streamPoolOp(s)
		default:
			pool = append(pool, rr.source())
		}
	}
	if rr.trigger == triggerBuild {
		rr.act(false) // if the loop ended first: no effect otherwise
	}
	if rr.mode == modeInject && !injectorFirst {
		rr.injector()
	}
	if len(pool) == 0 {
		return func() error { return nil }
	}
	for _, s := range pool[:len(pool)-1] {
		rr.sink(s, nil)
	}
	return rr.mainSink(pool[len(pool)-1])
}

// size draws a source's length: small, mostly.
func (rr *randomRun) size() int {
	switch x := rr.r.IntN(100); {
	case x < 5:
		return 0
	case x < 35:
		return 1 + rr.r.IntN(10)
	case x < 88:
		return 10 + rr.r.IntN(50)
	default:
		return 60 + rr.r.IntN(141)
	}
}

func (rr *randomRun) source() rstream {
	n := rr.size()
	rr.maxSource = max(rr.maxSource, n)
	id, o := rr.newStage(optCapacity)
	var items []rel
	if n > 0 || rr.r.IntN(2) == 0 {
		items = make([]rel, n)
	}
	for i := range items {
		items[i] = rel{key: uint32(id)<<16 | uint32(i), val: mix(rr.seed, uint64(id)<<32|uint64(i))}
	}
	s := rstream{model: memo(func() *model { return sourceModel(items) })}
	args := join("n="+strconv.Itoa(n), o.desc)
	switch x := rr.r.IntN(100); {
	case x < 35:
		s.ch = stream.FromSlice(rr.p, items, o.opts...)
		rr.record(id, "slice", args, nil, []any{s.ch})
		rr.libElems += n
	case x < 50:
		fn := rr.newFn(id, o.name, "seq", capPanic)
		s.ch = stream.FromSeq(rr.p, func(yield func(rel) bool) {
			for _, v := range items {
				_ = rr.enter(noContext, fn)
				if !yield(v) {
					return
				}
			}
		}, o.opts...)
		rr.record(id, "seq", args, nil, []any{s.ch}, fn)
		rr.libElems += n
	case x < 60:
		fn := rr.newFn(id, o.name, "seq2", capErr|capPanic)
		s.ch = stream.FromSeq2(rr.p, func(yield func(rel, error) bool) {
			for _, v := range items {
				if err := rr.enter(noContext, fn); err != nil {
					yield(rel{}, err)
					return
				}
				if !yield(v, nil) {
					return
				}
			}
		}, o.opts...)
		rr.record(id, "seq2", args, nil, []any{s.ch}, fn)
		rr.libElems += n
	case x < 80:
		fn := rr.newFn(id, o.name, "generate", capErr|capPanic|capStall)
		s.ch = stream.Generate(rr.p, func(ctx context.Context, emit func(rel) error) error {
			for _, v := range items {
				if err := rr.enter(ctx, fn); err != nil {
					return err
				}
				if err := emit(v); err != nil {
					return err
				}
			}
			return nil
		}, o.opts...)
		rr.record(id, "generate", args, nil, []any{s.ch}, fn)
		rr.libElems += n
	case x < 92:
		// A channel made and fed by the caller, who must stop feeding it
		// when the pipeline ends.
		ch := make(chan rel, rr.r.IntN(4))
		done := rr.p.Context().Done()
		rr.wg.Go(func() {
			defer close(ch)
			for _, v := range items {
				select {
				case ch <- v:
				case <-done:
					return
				}
			}
		})
		s.ch = ch
		rr.fed[s.ch] = true
		rr.record(id, "chan", "n="+strconv.Itoa(n), nil, []any{s.ch})
	default:
		every := time.Duration(1+rr.r.IntN(3)) * 100 * time.Millisecond
		if !rr.fake {
			every = time.Millisecond
		}
		ticks := stream.Tick(rr.p, every, o.opts...)
		rr.record(id, "tick", join(every.String(), o.desc), nil, []any{ticks})
		tid, to := rr.newStage(optCapacity)
		taken := stream.Take(rr.p, ticks, n, to.opts...)
		rr.record(tid, "take", join(strconv.Itoa(n), to.desc), []any{ticks}, []any{taken})
		mid, mo := rr.newStage(optCapacity)
		next := 0 // one worker: no lock
		s.ch = stream.Map(rr.p, taken, func(context.Context, time.Time) (rel, error) {
			v := items[next]
			next++
			return v, nil
		}, mo.opts...)
		rr.record(mid, "map", join("tick→elem", mo.desc), []any{taken}, []any{s.ch})
		rr.libElems++ // Tick never runs dry
	}
	return s
}

func (rr *randomRun) injector() {
	id := rr.newID()
	rr.injName = "s" + strconv.Itoa(id)
	rr.p.Go(rr.injName, func(ctx context.Context) error {
		select {
		case <-rr.injectNow:
			if rr.injPanic {
				panic(rr.panicVal)
			}
			return rr.injErr
		case <-ctx.Done():
			return nil
		}
	})
	rr.record(id, "go", map[bool]string{true: "panics", false: "fails"}[rr.injPanic], nil, nil)
}

func (rr *randomRun) applyEW(op ewOp, s rstream) rstream {
	inst := op.build(s.ch)
	return rstream{ch: inst.out, model: memo(func() *model { return inst.model(s.model()) })}
}

func (rr *randomRun) take(s rstream) rstream {
	n := rr.r.IntN(12)
	if rr.r.IntN(4) == 0 {
		n = rr.r.IntN(150)
	}
	id, o := rr.newStage(optCapacity)
	out := stream.Take(rr.p, s.ch, n, o.opts...)
	rr.markReleasable(s.ch)
	rr.record(id, "take", join(strconv.Itoa(n), o.desc), []any{s.ch}, []any{out})
	return rstream{ch: out, model: memo(func() *model { return s.model().take(n) })}
}

// markReleasable notes that the stages upstream of ch may be released before
// their input ends, so an error they return then may go unreported.
func (rr *randomRun) markReleasable(ch any) {
	for _, fn := range rr.up[ch] {
		fn.releasable = true
	}
	for _, id := range rr.upStages[ch] {
		rr.stageInfo(id).releasable = true
	}
}

// stageInfo is what the count checks need to know of a stage.
type stageInfo struct {
	name       string // "" for a default name: not found in Stats
	kind       string
	ins        []int // the stages whose outputs it reads, one per input
	outs       int
	dropOldest bool // a Buffer whose Out counts the elements it later drops
	releasable bool // a Take or First downstream may release it
}

func (rr *randomRun) stageInfo(id int) *stageInfo {
	if rr.stages[id] == nil {
		rr.stages[id] = &stageInfo{}
	}
	return rr.stages[id]
}

func (rr *randomRun) dropBuffer(s rstream) rstream {
	size := 1 + rr.r.IntN(6)
	policy := stream.DropNewest
	if rr.r.IntN(2) == 0 {
		policy = stream.DropOldest
	}
	id, o := rr.newStage(0)
	var mu sync.Mutex
	var dropped []rel
	opts := append(o.opts, stream.OnDrop(func(v rel) {
		mu.Lock()
		dropped = append(dropped, v)
		mu.Unlock()
	}))
	out := stream.Buffer(rr.p, s.ch, size, policy, opts...)
	rr.stageInfo(id).dropOldest = policy == stream.DropOldest
	rr.record(id, "buffer", join(strconv.Itoa(size), policy.String()), []any{s.ch}, []any{out})
	return rstream{ch: out, model: memo(func() *model {
		mu.Lock()
		defer mu.Unlock()
		return s.model().minus(dropped, func(v rel) {
			rr.violate("buffer %d dropped %v, which it never received or had dropped already", id, v)
		})
	})}
}

func (rr *randomRun) failBuffer(s rstream) rstream {
	size := 1 + rr.r.IntN(8)
	id := rr.newID()
	name := "s" + strconv.Itoa(id)
	rr.failNames = append(rr.failNames, name)
	rr.stageInfo(id).name = name
	out := stream.Buffer(rr.p, s.ch, size, stream.Fail, stream.Name(name))
	rr.record(id, "buffer", join(strconv.Itoa(size), "Fail"), []any{s.ch}, []any{out})
	return rstream{ch: out, model: s.model}
}

func (rr *randomRun) merge(ss []rstream) rstream {
	id, o := rr.newStage(optCapacity)
	ins := make([]<-chan rel, len(ss))
	keys := make([]any, len(ss))
	models := make([]func() *model, len(ss))
	for i, s := range ss {
		ins[i], keys[i], models[i] = s.ch, s.ch, s.model
	}
	out := stream.Merge(rr.p, ins, o.opts...)
	rr.record(id, "merge", o.desc, keys, []any{out})
	return rstream{ch: out, model: memo(func() *model {
		ms := make([]*model, len(models))
		for i, m := range models {
			ms[i] = m()
		}
		return mergeModels(ms)
	})}
}

// mergeChans merges the ends of branches inside an element-wise operator.
func (rr *randomRun) mergeChans(ins []<-chan rel) <-chan rel {
	id, o := rr.newStage(optCapacity)
	out := stream.Merge(rr.p, ins, o.opts...)
	keys := make([]any, len(ins))
	for i, in := range ins {
		keys[i] = in
	}
	rr.record(id, "merge", o.desc, keys, []any{out})
	return out
}

func (rr *randomRun) broadcast(s rstream) []rstream {
	n := 1 + rr.r.IntN(3)
	id, o := rr.newStage(optCapacity)
	outs := stream.Broadcast(rr.p, s.ch, n, o.opts...)
	rr.record(id, "broadcast", join(strconv.Itoa(n), o.desc), []any{s.ch}, chansAny(outs))
	streams := make([]rstream, n)
	for i, out := range outs {
		streams[i] = rstream{ch: out, model: s.model}
	}
	return streams
}

func chansAny[T any](chans []<-chan T) []any {
	keys := make([]any, len(chans))
	for i, ch := range chans {
		keys[i] = ch
	}
	return keys
}

// split adds a FanOut, or a Partition when keyMod > 0.
func (rr *randomRun) split(in <-chan rel, n int, keyMod uint32) []<-chan rel {
	outs, _ := rr.splitWith(in, n, keyMod, false)
	return outs
}

// splitWith is split, and with named true the stage always has a name,
// returned, and an OnDrop that records what it drops.
func (rr *randomRun) splitWith(in <-chan rel, n int, keyMod uint32, named bool) ([]<-chan rel, *dropLog) {
	id, o := rr.newStage(optCapacity)
	var drops *dropLog
	if named {
		if o.name == "" {
			o.name = "s" + strconv.Itoa(id)
			o.opts = append(o.opts, stream.Name(o.name))
			rr.stageInfo(id).name = o.name
		}
		drops = &dropLog{stage: o.name}
		o.opts = append(o.opts, stream.OnDrop(drops.add))
	}
	if keyMod == 0 {
		outs := stream.FanOut(rr.p, in, n, o.opts...)
		rr.record(id, "fanout", join(strconv.Itoa(n), o.desc), []any{in}, chansAny(outs))
		return outs, drops
	}
	fn := rr.newFn(id, o.name, "key", capPanic|capP21)
	outs := stream.Partition(rr.p, in, n, func(v rel) uint32 {
		_ = rr.enter(noContext, fn)
		return v.key % keyMod
	}, o.opts...)
	rr.record(id, "partition", join(strconv.Itoa(n), "key%"+strconv.Itoa(int(keyMod)), o.desc), []any{in}, chansAny(outs), fn)
	return outs, drops
}

// dropLog records the elements a stage passes to OnDrop.
type dropLog struct {
	stage string
	mu    sync.Mutex
	vals  []rel
}

func (d *dropLog) add(v rel) {
	d.mu.Lock()
	d.vals = append(d.vals, v)
	d.mu.Unlock()
}

// separate splits s with FanOut or Partition into branches that each run
// the same template and end in a sink of their own: together they must
// receive what one branch would have.
func (rr *randomRun) separate(s rstream) {
	t := rr.template(0)
	n := 1 + rr.r.IntN(4)
	var keyMod uint32
	if rr.r.IntN(2) == 0 {
		keyMod = 1 + uint32(rr.r.IntN(8))
	}
	g := &branchGroup{keyMod: keyMod}
	rr.groups = append(rr.groups, g)
	if n > 1 && rr.r.IntN(3) == 0 {
		rr.separateReleased(s, n, g)
		return
	}
	insts := make([]ewInst, n)
	for i, out := range rr.split(s.ch, n, keyMod) {
		inst := t.build(out)
		insts[i] = inst
		rr.sink(rstream{ch: inst.out, model: memo(func() *model {
			return inst.model(s.model().branchInput(0, false))
		})}, g)
	}
	g.union = memo(func() *model { return insts[0].model(s.model()) })
}

// separateReleased is separate with one branch cut short by a Take: the
// splitter drops what it would send to that branch once it is released, and
// what was left in its buffer, and goes on with the others. Every element is
// delivered once, or dropped and counted (the branches do nothing else to
// the elements, so counts can be compared).
func (rr *randomRun) separateReleased(s rstream, n int, g *branchGroup) {
	outs, drops := rr.splitWith(s.ch, n, g.keyMod, true)
	g.drops = drops
	g.union = s.model
	cut := rr.r.IntN(n)
	for i, out := range outs {
		branch := rstream{ch: out, model: memo(func() *model { return s.model().branchInput(0, false) })}
		if i == cut {
			branch = rr.take(branch)
		}
		rr.sink(branch, g)
	}
}

// ---- element-wise operators ----

// ewOp is an element-wise operator: what it does to each element does not
// depend on the others, so it can be built several times (the branches of
// a FanOut or Partition) with different options and the same function.
type ewOp struct {
	f     func(rel) []rel
	build func(in <-chan rel) ewInst
}

// ewInst is one built copy of an ewOp.
type ewInst struct {
	out   <-chan rel
	model func(in *model) *model
}

func identity(v rel) []rel { return []rel{v} }

// policy is an element-wise operator's error policy, part of its function
// (every built copy has it): elements whose call always fails, or always
// outlives its Timeout, are skipped by OnError; elements whose first call
// fails are recovered by Retry.
type policy struct {
	failSalt, slowSalt, flakySalt uint64
}

var (
	errPermanent = errors.New("permanent failure")
	errFlaky     = errors.New("transient failure")
)

const policyTimeout = 20 * time.Millisecond

func (rr *randomRun) genPolicy() policy {
	var pol policy
	if rr.r.IntN(8) == 0 {
		pol.failSalt = rr.r.Uint64() | 1
	}
	if rr.r.IntN(12) == 0 {
		pol.slowSalt = rr.r.Uint64() | 1
	}
	if rr.r.IntN(8) == 0 {
		pol.flakySalt = rr.r.Uint64() | 1
	}
	return pol
}

func (pol policy) fails(v rel) bool { return pol.failSalt != 0 && mix(v.val, pol.failSalt)%5 == 0 }
func (pol policy) slow(v rel) bool  { return pol.slowSalt != 0 && mix(v.val, pol.slowSalt)%7 == 0 }
func (pol policy) flaky(v rel) bool { return pol.flakySalt != 0 && mix(v.val, pol.flakySalt)%4 == 0 }
func (pol policy) skipping() bool   { return pol.failSalt != 0 || pol.slowSalt != 0 }

// filter makes f skip the elements the policy skips.
func (pol policy) filter(f func(rel) []rel) func(rel) []rel {
	if !pol.skipping() {
		return f
	}
	return func(v rel) []rel {
		if pol.fails(v) || pol.slow(v) {
			return nil
		}
		return f(v)
	}
}

// call is the failing part of a user function: tried records the elements
// that failed once already.
func (pol policy) call(ctx context.Context, v rel, tried *sync.Map) error {
	if pol.flaky(v) {
		if _, again := tried.LoadOrStore(v.val, true); !again {
			return errFlaky
		}
	}
	if pol.fails(v) {
		return errPermanent
	}
	if pol.slow(v) {
		<-ctx.Done() // the call's Timeout, or the stage's end
		return ctx.Err()
	}
	return nil
}

// policyOpts adds the options pol needs (and maybe a Retry it does not) to
// o, and returns what the stage's function may do: with OnError or Retry an
// injected error would be skipped or retried, so it is not injected; with
// Timeout a stall would time out.
func (rr *randomRun) policyOpts(pol policy, o *stageOpts) (fnCaps, *sync.Map) {
	caps := capAll
	var d []string
	if pol.skipping() {
		o.opts = append(o.opts, stream.OnError(func(rel, error) error { return nil }))
		d = append(d, "onerror")
		caps &^= capErr
	}
	if pol.slowSalt != 0 {
		o.opts = append(o.opts, stream.Timeout(policyTimeout))
		d = append(d, "timeout")
		caps &^= capStall
	}
	if pol.flakySalt != 0 || (pol.skipping() && rr.r.IntN(3) == 0) {
		r := stream.RetryPolicy{Attempts: 2 + rr.r.IntN(3), Initial: time.Millisecond, Max: 4 * time.Millisecond}
		if rr.r.IntN(2) == 0 {
			r.Jitter = -1
		}
		o.opts = append(o.opts, stream.Retry(r))
		d = append(d, fmt.Sprintf("retry%d", r.Attempts))
		caps &^= capErr
	}
	o.desc = join(o.desc, strings.Join(d, ","))
	return caps, new(sync.Map)
}

func (rr *randomRun) genEW(depth int) ewOp {
	x := rr.r.IntN(100)
	if depth >= 2 && x >= 80 {
		x = rr.r.IntN(80)
	}
	switch {
	case x < 22:
		return rr.mapOp()
	case x < 38:
		return rr.filterOp()
	case x < 54:
		return rr.flatMapOp()
	case x < 66:
		return rr.batchOp()
	case x < 73:
		return rr.blockBufferOp()
	case x < 80:
		return rr.throttleOp()
	case x < 87:
		return rr.splitOp(depth, 0)
	case x < 94:
		return rr.splitOp(depth, 1+uint32(rr.r.IntN(8)))
	case x < 97 || depth >= 2:
		return rr.broadcastOp(depth)
	default:
		return rr.streamEW()
	}
}

// template is a chain of up to two element-wise operators.
func (rr *randomRun) template(depth int) ewOp {
	ops := make([]ewOp, rr.r.IntN(3))
	for i := range ops {
		ops[i] = rr.genEW(depth + 1)
	}
	return ewOp{
		f: func(v rel) []rel {
			vs := []rel{v}
			for _, op := range ops {
				var next []rel
				for _, v := range vs {
					next = append(next, op.f(v)...)
				}
				vs = next
			}
			return vs
		},
		build: func(in <-chan rel) ewInst {
			insts := make([]ewInst, len(ops))
			for i, op := range ops {
				insts[i] = op.build(in)
				in = insts[i].out
			}
			return ewInst{out: in, model: func(m *model) *model {
				for _, inst := range insts {
					m = inst.model(m)
				}
				return m
			}}
		},
	}
}

func (rr *randomRun) mapOp() ewOp {
	salt := rr.r.Uint64()
	pol := rr.genPolicy()
	f := func(v rel) rel { return rel{key: v.key, val: mix(v.val, salt)} }
	ff := pol.filter(func(v rel) []rel { return []rel{f(v)} })
	return ewOp{
		f: ff,
		build: func(in <-chan rel) ewInst {
			id, o := rr.newStage(optWorkers | optOrdered | optCapacity | optPolicy)
			caps, tried := rr.policyOpts(pol, &o)
			fn := rr.newFn(id, o.name, "map", caps)
			out := stream.Map(rr.p, in, func(ctx context.Context, v rel) (rel, error) {
				if err := rr.enter(ctx, fn); err != nil {
					return rel{}, err
				}
				if err := pol.call(ctx, v, tried); err != nil {
					return rel{}, err
				}
				return f(v), nil
			}, o.opts...)
			rr.record(id, "map", o.desc, []any{in}, []any{out}, fn)
			return ewInst{out: out, model: func(m *model) *model { return m.each(ff, o.order, !pol.skipping()) }}
		},
	}
}

func (rr *randomRun) filterOp() ewOp {
	salt := rr.r.Uint64()
	threshold := uint64(rr.r.IntN(9)) // keeps threshold/8 of the elements
	pol := rr.genPolicy()
	keep := func(v rel) bool { return mix(v.val, salt)%8 < threshold }
	f := pol.filter(func(v rel) []rel {
		if keep(v) {
			return []rel{v}
		}
		return nil
	})
	return ewOp{
		f: f,
		build: func(in <-chan rel) ewInst {
			id, o := rr.newStage(optWorkers | optOrdered | optCapacity | optPolicy)
			caps, tried := rr.policyOpts(pol, &o)
			fn := rr.newFn(id, o.name, "filter", caps)
			out := stream.Filter(rr.p, in, func(ctx context.Context, v rel) (bool, error) {
				if err := rr.enter(ctx, fn); err != nil {
					return false, err
				}
				if err := pol.call(ctx, v, tried); err != nil {
					return false, err
				}
				return keep(v), nil
			}, o.opts...)
			rr.record(id, "filter", join(fmt.Sprintf("%d/8", threshold), o.desc), []any{in}, []any{out}, fn)
			return ewInst{out: out, model: func(m *model) *model { return m.each(f, o.order, false) }}
		},
	}
}

func (rr *randomRun) flatMapOp() ewOp {
	salt := rr.r.Uint64()
	most := uint64(rr.r.IntN(4)) // children per element: 0..most
	pol := rr.genPolicy()
	kids := func(v rel) []rel {
		h := mix(v.val, salt)
		kids := make([]rel, h%(most+1))
		for j := range kids {
			kids[j] = rel{key: v.key, val: mix(h, uint64(j+1))}
		}
		return kids
	}
	f := pol.filter(kids)
	return ewOp{
		f: f,
		build: func(in <-chan rel) ewInst {
			id, o := rr.newStage(optWorkers | optOrdered | optCapacity | optPolicy)
			caps, tried := rr.policyOpts(pol, &o)
			fn := rr.newFn(id, o.name, "flatmap", caps)
			out := stream.FlatMap(rr.p, in, func(ctx context.Context, v rel, emit func(rel) error) error {
				if err := rr.enter(ctx, fn); err != nil {
					return err
				}
				// A failing call emits nothing: values emitted before a
				// failure are not taken back.
				if err := pol.call(ctx, v, tried); err != nil {
					return err
				}
				for _, k := range kids(v) {
					if err := emit(k); err != nil {
						return err
					}
				}
				return nil
			}, o.opts...)
			rr.record(id, "flatmap", join(fmt.Sprintf("0-%d", most), o.desc), []any{in}, []any{out}, fn)
			return ewInst{out: out, model: func(m *model) *model { return m.each(f, o.order, false) }}
		},
	}
}

// batchOp is Batch, a Map that checks every batch, and Flatten: the
// identity on elements.
func (rr *randomRun) batchOp() ewOp {
	return ewOp{f: identity, build: func(in <-chan rel) ewInst {
		size := 1 + rr.r.IntN(8)
		var wait time.Duration
		if rr.r.IntN(3) == 0 {
			wait = time.Duration(1+rr.r.IntN(5)) * time.Millisecond
		}
		id, o := rr.newStage(optCapacity)
		batches := stream.Batch(rr.p, in, size, wait, o.opts...)
		rr.record(id, "batch", join(strconv.Itoa(size), wait.String(), o.desc), []any{in}, []any{batches})
		probe := &batchProbe{id: id, size: size, timed: wait > 0}
		rr.probes = append(rr.probes, probe)
		pid, po := rr.newStage(optWorkers | optOrdered | optCapacity | optPolicy)
		fn := rr.newFn(pid, po.name, "probe", capAll)
		checked := stream.Map(rr.p, batches, func(ctx context.Context, b []rel) ([]rel, error) {
			if err := rr.enter(ctx, fn); err != nil {
				return nil, err
			}
			probe.add(len(b))
			return b, nil
		}, po.opts...)
		rr.record(pid, "map", join("probe", po.desc), []any{batches}, []any{checked}, fn)
		fid, fo := rr.newStage(optWorkers | optOrdered | optCapacity)
		out := stream.Flatten(rr.p, checked, fo.opts...)
		rr.record(fid, "flatten", fo.desc, []any{checked}, []any{out})
		order := keepsNone
		if po.order == keepsAll && fo.order == keepsAll {
			order = keepsAll
		}
		return ewInst{out: out, model: func(m *model) *model { return m.each(identity, order, true) }}
	}}
}

func (rr *randomRun) blockBufferOp() ewOp {
	return ewOp{f: identity, build: func(in <-chan rel) ewInst {
		size := 1 + rr.r.IntN(8)
		id, o := rr.newStage(0)
		out := stream.Buffer(rr.p, in, size, stream.Block, o.opts...)
		rr.record(id, "buffer", join(strconv.Itoa(size), "Block"), []any{in}, []any{out})
		return ewInst{out: out, model: func(m *model) *model { return m }}
	}}
}

func (rr *randomRun) throttleOp() ewOp {
	return ewOp{f: identity, build: func(in <-chan rel) ewInst {
		rate := []float64{200, 1000, 10000}[rr.r.IntN(3)]
		if !rr.fake {
			rate = 1e6
		}
		burst := 1 + rr.r.IntN(5)
		id, o := rr.newStage(optCapacity)
		out := stream.Throttle(rr.p, in, rate, burst, o.opts...)
		rr.record(id, "throttle", join(fmt.Sprintf("%g/s", rate), "burst"+strconv.Itoa(burst), o.desc), []any{in}, []any{out})
		return ewInst{out: out, model: func(m *model) *model { return m }}
	}}
}

// splitOp is FanOut (keyMod 0) or Partition into branches running the same
// template, merged back.
func (rr *randomRun) splitOp(depth int, keyMod uint32) ewOp {
	t := rr.template(depth)
	n := 1 + rr.r.IntN(4)
	return ewOp{f: t.f, build: func(in <-chan rel) ewInst {
		outs := rr.split(in, n, keyMod)
		insts := make([]ewInst, n)
		ends := make([]<-chan rel, n)
		for i, out := range outs {
			insts[i] = t.build(out)
			ends[i] = insts[i].out
		}
		return ewInst{out: rr.mergeChans(ends), model: func(m *model) *model {
			in := m.branchInput(keyMod, true)
			outs := make([]*model, n)
			for i, inst := range insts {
				outs[i] = inst.model(in)
			}
			r := *outs[0]
			r.ordered = n == 1 && outs[0].ordered
			r.groups = commonGroups(outs)
			return &r
		}}
	}}
}

// broadcastOp is Broadcast into branches running different templates,
// merged back: each element comes out once per branch.
func (rr *randomRun) broadcastOp(depth int) ewOp {
	ts := make([]ewOp, 1+rr.r.IntN(3))
	for i := range ts {
		ts[i] = rr.template(depth)
	}
	return ewOp{
		f: func(v rel) []rel {
			var vs []rel
			for _, t := range ts {
				vs = append(vs, t.f(v)...)
			}
			return vs
		},
		build: func(in <-chan rel) ewInst {
			id, o := rr.newStage(optCapacity)
			outs := stream.Broadcast(rr.p, in, len(ts), o.opts...)
			rr.record(id, "broadcast", join(strconv.Itoa(len(ts)), o.desc), []any{in}, chansAny(outs))
			insts := make([]ewInst, len(ts))
			ends := make([]<-chan rel, len(ts))
			for i, out := range outs {
				insts[i] = ts[i].build(out)
				ends[i] = insts[i].out
			}
			return ewInst{out: rr.mergeChans(ends), model: func(m *model) *model {
				ms := make([]*model, len(insts))
				for i, inst := range insts {
					ms[i] = inst.model(m)
				}
				return mergeModels(ms)
			}}
		},
	}
}

// ---- sinks ----

type sinkLog struct {
	id      int
	kind    string
	model   func() *model
	ordered bool // arrival order is the stream's order (one reader)
	first   bool // First: one element at most
	drain   bool // Drain: nothing observed
	partial bool // Any, All, Values with break: a prefix observed
	counted bool // Count: n is the count
	n       int
	mu      sync.Mutex
	obs     []rel
}

func (s *sinkLog) add(v rel) {
	s.mu.Lock()
	s.obs = append(s.obs, v)
	s.mu.Unlock()
}

// branchGroup is the sinks of the branches of one FanOut or Partition.
type branchGroup struct {
	keyMod uint32 // Partition's key is key % keyMod; 0 for FanOut
	union  func() *model
	sinks  []*sinkLog
	drops  *dropLog // when a branch is released early: what the splitter dropped
}

// batchProbe records the size of every batch of one Batch stage.
type batchProbe struct {
	id, size int
	timed    bool
	mu       sync.Mutex
	sizes    []int
}

func (b *batchProbe) add(n int) {
	b.mu.Lock()
	b.sizes = append(b.sizes, n)
	b.mu.Unlock()
}

// sink ends s with a ForEach or the caller's own loop.
func (rr *randomRun) sink(s rstream, g *branchGroup) {
	log := &sinkLog{model: s.model}
	rr.sinks = append(rr.sinks, log)
	if g != nil {
		g.sinks = append(g.sinks, log)
	}
	// A caller's loop reading a caller's channel leaves the pipeline out:
	// the feeder would stop when the pipeline ends, before the channel does.
	if rr.r.IntN(3) > 0 || rr.fed[s.ch] {
		id, o := rr.newStage(optWorkers | optPolicy)
		var pol policy
		if g == nil { // the branches of a group must receive what the group's model says
			pol = rr.genPolicy()
		}
		caps, tried := rr.policyOpts(pol, &o)
		if pol.skipping() {
			log.model = memo(func() *model { return s.model().each(pol.filter(identity), keepsAll, false) })
		}
		fn := rr.newFn(id, o.name, "foreach", caps)
		stream.ForEach(rr.p, s.ch, func(ctx context.Context, v rel) error {
			if err := rr.enter(ctx, fn); err != nil {
				return err
			}
			if err := pol.call(ctx, v, tried); err != nil {
				return err
			}
			log.add(v)
			return nil
		}, o.opts...)
		log.id, log.kind, log.ordered = id, "foreach", o.order == keepsAll
		rr.record(id, "foreach", o.desc, []any{s.ch}, nil, fn)
		return
	}
	id := rr.newID()
	log.id, log.kind, log.ordered = id, "caller", true
	rr.wg.Go(func() {
		for v := range s.ch {
			log.add(v)
		}
	})
	rr.record(id, "range", "", []any{s.ch}, nil)
}

// mainSink ends s with a blocking sink, run once the plan is set, or with
// an ordinary sink.
func (rr *randomRun) mainSink(s rstream) func() error {
	log := &sinkLog{model: s.model, ordered: true}
	kind := []string{"none", "collect", "reduce", "first", "drain", "count", "any", "all", "values"}[rr.r.IntN(9)]
	if kind == "none" {
		rr.sink(s, nil)
		return func() error { return nil }
	}
	rr.sinks = append(rr.sinks, log)
	log.id, log.kind = rr.newID(), kind
	rr.record(log.id, kind, "", []any{s.ch}, nil)
	switch kind {
	case "collect":
		return func() error {
			items, err := stream.Collect(rr.p, s.ch)
			log.obs = items
			return err
		}
	case "reduce":
		fn := rr.newFn(log.id, "", "reduce", capPanic|capP21)
		return func() error {
			acc, err := stream.Reduce(rr.p, s.ch, []rel(nil), func(acc []rel, v rel) []rel {
				_ = rr.enter(noContext, fn)
				return append(acc, v)
			})
			log.obs = acc
			return err
		}
	case "first":
		log.first = true
		rr.markReleasable(s.ch)
		return func() error {
			v, err := stream.First(rr.p, s.ch)
			if err == nil || v != (rel{}) {
				log.obs = []rel{v}
			}
			return err
		}
	case "drain":
		log.drain = true
		return func() error { return stream.Drain(rr.p, s.ch) }
	default:
		return rr.streamSink(s, log, kind)
	}
}

// ---- the plan ----

// plan picks, once the pipeline is built, where the fault, the trigger and
// the stalls go.
func (rr *randomRun) plan() {
	plans := map[*fnNode]*fnPlan{}
	planOf := func(n *fnNode) *fnPlan {
		if plans[n] == nil {
			plans[n] = &fnPlan{}
		}
		return plans[n]
	}
	pick := func(caps fnCaps) *fnNode {
		var cands []*fnNode
		for _, n := range rr.fns {
			if n.caps&caps != 0 {
				cands = append(cands, n)
			}
		}
		if len(cands) == 0 {
			return nil
		}
		return cands[rr.r.IntN(len(cands))]
	}
	at := func(scale int) int64 { return 1 + int64(rr.r.IntN(scale+1)) }
	switch rr.mode {
	case modeFault:
		n := pick(capErr | capPanic)
		if n == nil {
			rr.mode = modeClean
			break
		}
		pl := planOf(n)
		pl.faultAt = at(rr.maxSource)
		pl.panic = n.caps&capErr == 0 || (n.caps&capPanic != 0 && rr.r.IntN(2) == 0)
		pl.goexit = pl.panic && rr.r.IntN(3) == 0 // a function that calls t.FailNow, say
		what := map[bool]string{true: "panic", false: "error"}[pl.panic]
		if pl.goexit {
			what = "goexit"
		}
		rr.planDesc = append(rr.planDesc, fmt.Sprintf("%s=%s@%d#%d", what, n.kind, n.id, pl.faultAt))
	}
	if (rr.mode == modeFault || rr.mode == modeInject) && rr.r.IntN(2) == 0 {
		for range 1 + rr.r.IntN(3) {
			if n := pick(capErr); n != nil {
				planOf(n).late = true
				rr.planDesc = append(rr.planDesc, fmt.Sprintf("late=%s#%d", n.kind, n.id))
			}
		}
	}
	switch rr.mode {
	case modeStop, modeCancel, modeInject:
		if rr.trigger == triggerData {
			if n := pick(capErr | capPanic | capStall | capP21); n != nil {
				pl := planOf(n)
				pl.triggerAt = at(rr.maxSource)
				rr.planDesc = append(rr.planDesc, fmt.Sprintf("trigger=%s@%d#%d", n.kind, n.id, pl.triggerAt))
			}
		}
		if rr.r.IntN(2) == 0 {
			for range 1 + rr.r.IntN(2) {
				n := pick(capStall)
				if n == nil {
					break
				}
				pl := planOf(n)
				pl.stallAt = at(rr.maxSource / 2)
				pl.stallTriggers = !rr.fake || rr.r.IntN(2) == 0
				rr.planDesc = append(rr.planDesc, fmt.Sprintf("stall=%s@%d#%d", n.kind, n.id, pl.stallAt))
			}
		}
	}
	for n, pl := range plans {
		n.plan.Store(pl)
	}
}
