package stream_test

import "encoding/binary"

// The random pipelines of random_test.go: the model of what each sink must
// receive.

// ---- the model ----

// orderMode is what a stage keeps of its input's order.
type orderMode int

const (
	keepsAll  orderMode = iota // one worker, or Ordered
	keepsEach                  // several workers: only the values one call emits stay in order
	keepsNone
)

// model is what a stream carries.
type model struct {
	vals    []rel // exactly, or at most, these (a multiset)
	exact   bool
	ordered bool // vals is the exact order of the stream
	count   int  // the number of elements, or -1 when unknown
	groups  [][]rel
	// groups are sequences whose relative order the stream keeps: the
	// elements of a group that arrive, arrive in the group's order.
}

func sourceModel(items []rel) *model {
	m := &model{vals: items, exact: true, ordered: true, count: len(items)}
	if len(items) > 1 {
		m.groups = [][]rel{items}
	}
	return m
}

// each applies an element-wise function; oneToOne says it maps every element
// to one, which keeps a known count.
func (m *model) each(f func(rel) []rel, order orderMode, oneToOne bool) *model {
	out := &model{exact: m.exact, count: -1}
	kids := make(map[uint64][]rel, len(m.vals))
	for _, v := range m.vals {
		k, ok := kids[v.val]
		if !ok {
			k = f(v)
			kids[v.val] = k
		}
		out.vals = append(out.vals, k...)
	}
	switch {
	case m.exact:
		out.count = len(out.vals)
	case oneToOne:
		out.count = m.count
	}
	if order == keepsAll {
		out.ordered = m.ordered
		for _, g := range m.groups {
			var ng []rel
			for _, v := range g {
				ng = append(ng, kids[v.val]...)
			}
			if len(ng) > 1 {
				out.groups = append(out.groups, ng)
			}
		}
	}
	if order != keepsNone {
		for _, k := range kids {
			if len(k) > 1 {
				out.groups = append(out.groups, k)
			}
		}
	}
	return out
}

func mergeModels(ms []*model) *model {
	out := &model{exact: true, ordered: true}
	nonEmpty := 0
	for _, m := range ms {
		out.vals = append(out.vals, m.vals...)
		out.exact = out.exact && m.exact
		if m.count < 0 || out.count < 0 {
			out.count = -1
		} else {
			out.count += m.count
		}
		out.groups = append(out.groups, m.groups...)
		if len(m.vals) > 0 {
			nonEmpty++
			out.ordered = m.ordered
		}
	}
	if nonEmpty > 1 {
		out.ordered = false
	}
	return out
}

func (m *model) take(n int) *model {
	switch {
	case n == 0:
		return &model{exact: true, ordered: true}
	case m.exact && len(m.vals) <= n:
		return m
	case m.exact && m.ordered:
		return &model{vals: m.vals[:n], exact: true, ordered: true, count: n, groups: only(m.groups, counts(m.vals[:n]))}
	}
	out := &model{vals: m.vals, count: -1, groups: m.groups}
	if m.count >= 0 {
		out.count = min(n, m.count)
	}
	return out
}

// minus removes what a Buffer dropped; bad reports a drop of an element the
// Buffer never had.
func (m *model) minus(dropped []rel, bad func(rel)) *model {
	left := counts(m.vals)
	skip := map[uint64]int{}
	for _, d := range dropped {
		if left[d.val] == 0 {
			bad(d)
			continue
		}
		left[d.val]--
		skip[d.val]++
	}
	// Dropped elements leave the groups: merged with another stream that
	// has them, they would say where that stream's copy arrives (and of an
	// element held twice, which copy was dropped is unknown).
	kept := map[uint64]int{}
	for v, n := range left {
		if skip[v] == 0 {
			kept[v] = n
		}
	}
	out := &model{exact: m.exact, ordered: m.ordered, count: -1, groups: only(m.groups, kept)}
	for _, v := range m.vals {
		if skip[v.val] > 0 {
			skip[v.val]--
			continue
		}
		out.vals = append(out.vals, v)
	}
	if m.exact {
		out.count = len(out.vals)
	}
	return out
}

// only restricts groups to the elements in keep: a group must hold only
// elements of its own stream.
func only(groups [][]rel, keep map[uint64]int) [][]rel {
	var out [][]rel
	for _, g := range groups {
		var ng []rel
		for _, v := range g {
			if keep[v.val] > 0 {
				ng = append(ng, v)
			}
		}
		if len(ng) > 1 {
			out = append(out, ng)
		}
	}
	return out
}

// branchInput is what one branch of a FanOut or Partition gets. For a
// branch of its own (union false) that is any part of m, each group's
// elements in order. For the model of all branches merged back (union true)
// it is all of m, but only per-key groups survive the merge, and only for
// Partition (keyMod > 0), which sends a key to one branch.
func (m *model) branchInput(keyMod uint32, union bool) *model {
	if !union {
		return &model{vals: m.vals, count: -1, groups: m.groups}
	}
	out := &model{vals: m.vals, exact: m.exact, count: m.count}
	if keyMod > 0 {
		for _, g := range m.groups {
			byKey := map[uint32][]rel{}
			var keys []uint32
			for _, v := range g {
				k := v.key % keyMod
				if byKey[k] == nil {
					keys = append(keys, k)
				}
				byKey[k] = append(byKey[k], v)
			}
			for _, k := range keys {
				if len(byKey[k]) > 1 {
					out.groups = append(out.groups, byKey[k])
				}
			}
		}
	}
	return out
}

// commonGroups keeps the groups every branch keeps: branches built from one
// template differ in their options, so in what order they keep.
func commonGroups(ms []*model) [][]rel {
	key := func(g []rel) string {
		b := make([]byte, 0, 8*len(g))
		for _, v := range g {
			b = binary.LittleEndian.AppendUint64(b, v.val)
		}
		return string(b)
	}
	seen := map[string]int{}
	for _, m := range ms {
		local := map[string]bool{}
		for _, g := range m.groups {
			if k := key(g); !local[k] {
				local[k] = true
				seen[k]++
			}
		}
	}
	var common [][]rel
	for _, g := range ms[0].groups {
		if k := key(g); seen[k] == len(ms) {
			common = append(common, g)
			seen[k] = 0
		}
	}
	return common
}

func counts(vs []rel) map[uint64]int {
	c := make(map[uint64]int, len(vs))
	for _, v := range vs {
		c[v.val]++
	}
	return c
}
