package stream_test

// The random pipelines of random_test.go: the stream-processing operators
// (Scan, Distinct, Split, Zip, WindowReduce) and sinks (Count, Any, All,
// Values). Windows in processing time run on the bubble's fake clock.

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/pipewright/stream"
)

// streamEW draws one of the element-wise stream-processing operators.
func (rr *randomRun) streamEW() ewOp {
	switch rr.r.IntN(5) {
	case 4:
		return rr.debounceOp()
	case 0:
		return rr.scanOp()
	case 1:
		return rr.predSplitOp()
	case 2:
		return rr.zipOp()
	default:
		return rr.windowOp()
	}
}

// scanOp is Scan keeping the latest element as its state: the identity.
func (rr *randomRun) scanOp() ewOp {
	return ewOp{f: identity, build: func(in <-chan rel) ewInst {
		id, o := rr.newStage(optCapacity)
		fn := rr.newFn(id, o.name, "scan", capPanic|capP21)
		out := stream.Scan(rr.p, in, rel{}, func(_ rel, v rel) rel {
			_ = rr.enter(noContext, fn)
			return v
		}, o.opts...)
		rr.record(id, "scan", o.desc, []any{in}, []any{out}, fn)
		return ewInst{out: out, model: func(m *model) *model { return m.each(identity, keepsAll, true) }}
	}}
}

// debounceOp is Debounce: which elements pass depends on timing, so the
// model is "at most the input, in order"; the last element always passes.
func (rr *randomRun) debounceOp() ewOp {
	quiet := time.Duration(1+rr.r.IntN(4)) * time.Millisecond
	return ewOp{f: identity, build: func(in <-chan rel) ewInst {
		id, o := rr.newStage(optCapacity)
		out := stream.Debounce(rr.p, in, quiet, o.opts...)
		rr.record(id, "debounce", join(quiet.String(), o.desc), []any{in}, []any{out})
		return ewInst{out: out, model: func(m *model) *model {
			out := m.each(identity, keepsAll, false)
			out.exact, out.count = false, -1
			return out
		}}
	}}
}

// predSplitOp is Split by a predicate, both outputs merged back: the
// identity (minus what its error policy skips), order lost in the merge.
func (rr *randomRun) predSplitOp() ewOp {
	salt := rr.r.Uint64()
	pol := rr.genPolicy()
	f := pol.filter(identity)
	return ewOp{f: f, build: func(in <-chan rel) ewInst {
		id, o := rr.newStage(optWorkers | optCapacity | optPolicy)
		caps, tried := rr.policyOpts(pol, &o)
		fn := rr.newFn(id, o.name, "split", caps)
		yes, no := stream.Split(rr.p, in, func(ctx context.Context, v rel) (bool, error) {
			if err := rr.enter(ctx, fn); err != nil {
				return false, err
			}
			if err := pol.call(ctx, v, tried); err != nil {
				return false, err
			}
			return mix(v.val, salt)%2 == 0, nil
		}, o.opts...)
		rr.record(id, "split", o.desc, []any{in}, []any{yes, no}, fn)
		out := rr.mergeChans([]<-chan rel{yes, no})
		return ewInst{out: out, model: func(m *model) *model { return m.each(f, keepsNone, !pol.skipping()) }}
	}}
}

// zipOp is Broadcast into two, zipped back together, and a Map that checks
// each pair and keeps one of it: the identity, in order.
func (rr *randomRun) zipOp() ewOp {
	return ewOp{f: identity, build: func(in <-chan rel) ewInst {
		bid, bo := rr.newStage(optCapacity)
		outs := stream.Broadcast(rr.p, in, 2, bo.opts...)
		rr.record(bid, "broadcast", join("2", bo.desc), []any{in}, chansAny(outs))
		id, o := rr.newStage(optCapacity)
		pairs := stream.Zip(rr.p, outs[0], outs[1], o.opts...)
		rr.record(id, "zip", o.desc, []any{outs[0], outs[1]}, []any{pairs})
		mid, mo := rr.newStage(optCapacity)
		fn := rr.newFn(mid, mo.name, "unzip", capAll)
		out := stream.Map(rr.p, pairs, func(ctx context.Context, pr stream.Pair[rel, rel]) (rel, error) {
			if err := rr.enter(ctx, fn); err != nil {
				return rel{}, err
			}
			if pr.First != pr.Second {
				rr.violate("zip %d paired %v with %v", id, pr.First, pr.Second)
			}
			return pr.First, nil
		}, mo.opts...)
		rr.record(mid, "map", join("unzip", mo.desc), []any{pairs}, []any{out}, fn)
		return ewInst{out: out, model: func(m *model) *model { return m.each(identity, keepsAll, true) }}
	}}
}

// windowOp is WindowReduce in processing time collecting each pane's
// elements, then Flatten: the identity for Tumbling and Session (in order
// per key), every element size/every times for Sliding.
func (rr *randomRun) windowOp() ewOp {
	ms := time.Millisecond
	var (
		w      stream.Windowing
		desc   string
		copies = 1
	)
	switch rr.r.IntN(3) {
	case 0:
		d := time.Duration(1+rr.r.IntN(5)) * ms
		w, desc = stream.Tumbling(d), "tumbling"+d.String()
	case 1:
		every := time.Duration(1+rr.r.IntN(3)) * ms
		copies = 1 + rr.r.IntN(3)
		w, desc = stream.Sliding(time.Duration(copies)*every, every), fmt.Sprintf("sliding%v/%v", time.Duration(copies)*every, every)
	default:
		d := time.Duration(1+rr.r.IntN(3)) * ms
		w, desc = stream.Session(d), "session"+d.String()
	}
	keyMod := 1 + uint32(rr.r.IntN(8))
	maxPanes := 0
	if rr.r.IntN(4) == 0 {
		maxPanes = 1 + rr.r.IntN(4)
	}
	f := identity
	if copies > 1 {
		f = func(v rel) []rel {
			vs := make([]rel, copies)
			for i := range vs {
				vs[i] = v
			}
			return vs
		}
	}
	return ewOp{f: f, build: func(in <-chan rel) ewInst {
		id, o := rr.newStage(optCapacity)
		opts := o.opts
		d := join(desc, "key%"+strconv.Itoa(int(keyMod)), o.desc)
		if maxPanes > 0 {
			opts = append(opts, stream.MaxPanes(maxPanes))
			d = join(d, "max"+strconv.Itoa(maxPanes))
		}
		fn := rr.newFn(id, o.name, "window", capPanic|capP21)
		panes := stream.WindowReduce(rr.p, in, w, func(v rel) uint32 { return v.key % keyMod }, []rel(nil),
			func(acc []rel, v rel) []rel {
				_ = rr.enter(noContext, fn)
				return append(acc, v)
			}, opts...)
		rr.record(id, "window", d, []any{in}, []any{panes}, fn)
		pid, po := rr.newStage(optCapacity)
		elems := stream.Map(rr.p, panes, func(_ context.Context, pn stream.Pane[uint32, []rel]) ([]rel, error) {
			if len(pn.Value) != pn.Count || pn.Count == 0 || !pn.Start.Before(pn.End) {
				rr.violate("window %d: pane %+v", id, pn)
			}
			return pn.Value, nil
		}, po.opts...)
		rr.record(pid, "map", join("pane", po.desc), []any{panes}, []any{elems})
		fid, fo := rr.newStage(optCapacity)
		out := stream.Flatten(rr.p, elems, fo.opts...)
		rr.record(fid, "flatten", fo.desc, []any{elems}, []any{out})
		return ewInst{out: out, model: func(m *model) *model {
			if copies > 1 {
				out := m.each(f, keepsNone, true)
				if !m.exact && m.count >= 0 {
					// each counts one out per element in; a sliding
					// window puts every element in copies panes.
					out.count = m.count * copies
				}
				return out
			}
			return m.branchInput(keyMod, true) // all of it, in order per key
		}}
	}}
}

// streamPoolOp ends s with an operator that is not element-wise: Distinct,
// or WindowReduce in event time (whose late drops depend on arrival order).
func (rr *randomRun) streamPoolOp(s rstream) rstream {
	if rr.r.IntN(2) == 0 {
		return rr.distinct(s)
	}
	return rr.eventWindow(s)
}

// distinct is Distinct by lineage with room for every key: it removes the
// copies a Broadcast merged back made, and nothing else.
func (rr *randomRun) distinct(s rstream) rstream {
	id, o := rr.newStage(optCapacity)
	fn := rr.newFn(id, o.name, "key", capPanic|capP21)
	out := stream.Distinct(rr.p, s.ch, func(v rel) uint64 {
		_ = rr.enter(noContext, fn)
		return v.val
	}, 1<<20, o.opts...)
	rr.record(id, "distinct", o.desc, []any{s.ch}, []any{out}, fn)
	return rstream{ch: out, model: memo(func() *model {
		m := s.model()
		out := &model{exact: m.exact, ordered: m.ordered, count: -1}
		seen := map[uint64]bool{}
		for _, v := range m.vals {
			if !seen[v.val] {
				seen[v.val] = true
				out.vals = append(out.vals, v)
			}
		}
		if m.exact {
			out.count = len(out.vals)
		}
		out.groups = only(m.groups, counts(out.vals))
		if len(out.vals) != len(m.vals) {
			out.ordered = false // which copy comes first is unknown
			out.groups = nil
		}
		return out
	})}
}

// eventWindow is Tumbling or Session windows in event time (timestamps
// drawn from the lineage, so elements arrive out of order), with some
// lateness and maybe Idle, collecting each pane's elements, then Flatten:
// every element once, but those it dropped as late.
func (rr *randomRun) eventWindow(s rstream) rstream {
	ms := time.Millisecond
	var w stream.Windowing
	desc := "event"
	if rr.r.IntN(2) == 0 {
		d := time.Duration(1+rr.r.IntN(20)) * ms
		w, desc = stream.Tumbling(d), desc+",tumbling"+d.String()
	} else {
		d := time.Duration(1+rr.r.IntN(10)) * ms
		w, desc = stream.Session(d), desc+",session"+d.String()
	}
	lateness := time.Duration(rr.r.IntN(40)) * ms
	desc += ",late" + lateness.String()
	keyMod := 1 + uint32(rr.r.IntN(8))
	id, o := rr.newStage(optCapacity)
	if o.name == "" { // named, so that the count checks see its drops
		o.name = "s" + strconv.Itoa(id)
		o.opts = append(o.opts, stream.Name(o.name))
		rr.stageInfo(id).name = o.name
	}
	drops := &dropLog{stage: o.name}
	opts := append(o.opts, stream.EventTime(func(v rel) time.Time {
		return time.Unix(0, 0).Add(time.Duration(v.val%64) * ms)
	}, lateness), stream.OnDrop(drops.add))
	if rr.r.IntN(3) == 0 {
		idle := time.Duration(1+rr.r.IntN(5)) * ms
		opts = append(opts, stream.Idle(idle))
		desc += ",idle" + idle.String()
	}
	fn := rr.newFn(id, o.name, "window", capPanic|capP21)
	panes := stream.WindowReduce(rr.p, s.ch, w, func(v rel) uint32 { return v.key % keyMod }, []rel(nil),
		func(acc []rel, v rel) []rel {
			_ = rr.enter(noContext, fn)
			return append(acc, v)
		}, opts...)
	rr.record(id, "window", join(desc, o.desc), []any{s.ch}, []any{panes}, fn)
	fid, fo := rr.newStage(optCapacity)
	elems := stream.Map(rr.p, panes, func(_ context.Context, pn stream.Pane[uint32, []rel]) ([]rel, error) {
		return pn.Value, nil
	}, fo.opts...)
	rr.record(fid, "map", join("pane", fo.desc), []any{panes}, []any{elems})
	gid, gop := rr.newStage(optCapacity)
	out := stream.Flatten(rr.p, elems, gop.opts...)
	rr.record(gid, "flatten", gop.desc, []any{elems}, []any{out})
	return rstream{ch: out, model: memo(func() *model {
		drops.mu.Lock()
		defer drops.mu.Unlock()
		m := s.model().minus(drops.vals, func(v rel) {
			rr.violate("window %d dropped %v, which it never received", id, v)
		})
		m.ordered, m.groups = false, nil
		return m
	})}
}

// streamSink ends s with one of Count, Any, All or Values, returning the
// function that runs it.
func (rr *randomRun) streamSink(s rstream, log *sinkLog, kind string) func() error {
	switch kind {
	case "count":
		log.drain = true
		return func() error {
			n, err := stream.Count(rr.p, s.ch)
			log.n, log.counted = n, true
			return err
		}
	case "any", "all":
		rr.markReleasable(s.ch)
		log.partial = true
		salt, k := rr.r.Uint64(), uint64(1+rr.r.IntN(40))
		match := func(v rel) bool { return mix(v.val, salt)%k == 0 }
		fn := rr.newFn(log.id, "", kind, capPanic|capP21)
		pred := func(v rel) bool {
			_ = rr.enter(noContext, fn)
			log.add(v)
			return match(v)
		}
		return func() error {
			var (
				got bool
				err error
			)
			if kind == "any" {
				got, err = stream.Any(rr.p, s.ch, pred)
			} else {
				got, err = stream.All(rr.p, s.ch, func(v rel) bool { return !pred(v) })
			}
			hit := false
			for _, v := range log.obs {
				hit = hit || match(v)
			}
			if kind == "all" {
				got = !got // All(!match) is !Any(match)
				if err != nil {
					got = hit // All returns false on error
				}
			}
			if got != hit {
				rr.violate("%s returned %v, but a match was seen: %v", kind, got, hit)
			}
			if hit && len(log.obs) > 0 && !match(log.obs[len(log.obs)-1]) {
				rr.violate("%s read on after its answer", kind)
			}
			return err
		}
	default: // values
		brk := -1
		if rr.r.IntN(3) == 0 {
			brk = rr.r.IntN(20)
			rr.markReleasable(s.ch)
			log.partial = true
		}
		return func() error {
			var yielded error
			for v, err := range stream.Values(rr.p, s.ch) {
				if err != nil {
					if yielded != nil {
						rr.violate("Values yielded a second error %v after %v", err, yielded)
					}
					yielded = err
					continue
				}
				if yielded != nil {
					rr.violate("Values yielded %v after its error", v)
				}
				if len(log.obs) == brk {
					break
				}
				log.add(v)
			}
			if yielded == nil {
				return rr.p.Wait() // nil, unless Values missed an error
			}
			return yielded
		}
	}
}

// streamSinkCheck checks what a Count sink counted against the model.
func (rr *randomRun) streamSinkCheck(s *sinkLog, m *model, clean bool) {
	if s.counted && clean && m.count >= 0 && s.n != m.count {
		rr.violate("sink %d (count): counted %d, want %d", s.id, s.n, m.count)
	}
}
