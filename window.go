package stream

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"
)

// This file holds the time windows: Windowing, Pane, WindowReduce and its
// options. The open panes of a stage live in a map (per key and window
// start, or per key for sessions) and in a heap ordered by end, so the
// panes to close are found at the top; closed panes are recycled, so a
// stage in steady state allocates nothing per element.

// Windowing says how [WindowReduce] cuts a stream into windows: [Tumbling],
// [Sliding] or [Session]. The zero Windowing is invalid.
type Windowing struct {
	kind  windowKind
	size  int64 // the length of a window; for a session, the gap
	every int64 // the distance between window starts (size when tumbling)
	align int64 // window starts are align + k·every: aligned to the zero time
}

type windowKind uint8

const (
	tumbling windowKind = iota + 1
	sliding
	session
)

// Tumbling cuts time into windows of length size that do not overlap:
// [start, start+size), aligned to the zero time as [time.Time.Truncate]
// aligns (so a Tumbling(time.Minute) window starts on a whole minute). Each
// element is in exactly one window. size <= 0 panics.
func Tumbling(size time.Duration) Windowing {
	if size <= 0 {
		panic("stream: Tumbling: size must be positive, got " + size.String())
	}
	return Windowing{kind: tumbling, size: int64(size), every: int64(size), align: alignment(size)}
}

// Sliding makes windows of length size, one starting every `every`,
// aligned like [Tumbling](every): each element is in about size/every
// windows (exactly that many when every divides size), and is folded into
// each, so an element costs size/every folds: at most [MaxSlidingWindows].
// Sliding(d, d) is Tumbling(d). size <= 0, every <= 0, every > size or
// size/every > MaxSlidingWindows panics.
func Sliding(size, every time.Duration) Windowing {
	if size <= 0 || every <= 0 || every > size {
		panic("stream: Sliding: need 0 < every <= size, got size " + size.String() + ", every " + every.String())
	}
	if size/every > MaxSlidingWindows {
		panic("stream: Sliding: size/every is above MaxSlidingWindows, got size " + size.String() + ", every " + every.String())
	}
	return Windowing{kind: sliding, size: int64(size), every: int64(every), align: alignment(every)}
}

// MaxSlidingWindows is the largest number of windows of a [Sliding]
// windowing an element may fall in (size/every): each costs a fold per
// element and an open pane per key.
const MaxSlidingWindows = 10_000

// Session makes one window per key per burst of activity: a session starts
// at its first element and ends gap after its latest one, so it closes once
// the key has been quiet for gap. An element within gap of one of its key's
// open sessions joins it (extending it); otherwise it starts a new one.
// Sessions are never merged with each other. gap <= 0 panics.
func Session(gap time.Duration) Windowing {
	if gap <= 0 {
		panic("stream: Session: gap must be positive, got " + gap.String())
	}
	return Windowing{kind: session, size: int64(gap)}
}

// alignment returns the start, modulo every, of the windows aligned to the
// zero time, in Unix nanoseconds.
func alignment(every time.Duration) int64 {
	zero := new(big.Int).Mul(big.NewInt(time.Time{}.Unix()), big.NewInt(int64(time.Second)))
	return zero.Mod(zero, big.NewInt(int64(every))).Int64() // Mod is never negative
}

// A Pane is what [WindowReduce] emits for one key and one window.
type Pane[K comparable, A any] struct {
	Key        K
	Start, End time.Time // the window, [Start, End), in UTC
	Value      A         // the fold of the window's elements with this key
	Count      int       // how many elements went into Value
	// Early is true for a pane emitted before its window closed, to keep
	// within [MaxPanes]: later elements of the same key and window go
	// into another pane.
	Early bool
}

// ErrTimestamp is the cause of the error an [EventTime] stage fails with
// when an element's timestamp is outside the range of int64 Unix
// nanoseconds: from 1677-09-21 00:12:45 to 2262-04-11 23:47:15.999999999
// UTC, about the years 1678 to 2262.
var ErrTimestamp = errors.New("stream: timestamp outside 1677-09-21 00:12:45 to 2262-04-11 23:47:15 UTC")

// The range of Unix seconds whose nanoseconds fit an int64.
const (
	minUnixSec = math.MinInt64/int64(time.Second) + 1
	maxUnixSec = math.MaxInt64/int64(time.Second) - 1
)

// DefaultMaxPanes is the number of open panes a [WindowReduce] stage holds
// at most without a [MaxPanes] option.
const DefaultMaxPanes = 100_000

// windowOptions are the options of a WindowReduce stage.
type windowOptions struct {
	eventTime any // func(T) time.Time for the stage's T; nil: processing time
	lateness  int64
	maxPanes  int
	idle      time.Duration
}

// EventTime makes [WindowReduce] place each element in time by ts(element),
// its own timestamp, instead of by its arrival. The stage's watermark is the
// latest timestamp seen minus lateness (it never goes back); a window closes
// when the watermark reaches its end, so an element may arrive up to
// lateness after later ones and still count. An element whose windows have
// all closed is late: it is dropped, counted in [StageStats].Dropped,
// passed to [OnDrop] and reported to the [Observer]. With [Sliding], an
// element some of whose windows have closed goes into the open ones only
// and is not a drop.
//
// The watermark moves only when elements arrive: if the stream goes quiet,
// the last windows stay open until it closes, however long that takes. Add
// [Idle] to close them after a quiet spell. Timestamps must lie between
// 1677-09-21 00:12:45 and 2262-04-11 23:47:15.999999999 UTC (they are kept
// as Unix nanoseconds, so about the years 1678 to 2262): one outside, such
// as the zero time.Time of a missing timestamp, fails the pipeline with
// [ErrTimestamp]. T must be the
// stage's element type: a mismatch panics when the stage is built. A nil ts
// or a negative lateness panics.
func EventTime[T any](ts func(T) time.Time, lateness time.Duration) Option {
	if ts == nil {
		panic("stream: EventTime: nil timestamp function")
	}
	if lateness < 0 {
		panic("stream: EventTime: negative lateness " + lateness.String())
	}
	return optionFunc(func(c *config) {
		c.window.eventTime, c.window.lateness = ts, int64(lateness)
		c.set |= usesWindow
	})
}

// Idle lets the watermark of an [EventTime] stage advance while its input
// is quiet: once no element has arrived for d (by the clock), event time is
// taken to have moved on with the clock since the latest element arrived,
// so the watermark becomes (latest timestamp − lateness) + (time since it
// arrived), and the windows it passes close and are emitted. An element
// arriving afterwards is late if its windows end at or before that
// watermark, whether or not a pane of them was open. The stage
// uses one timer for it, stopped when the stage ends. It applies only with
// EventTime (without it, the stage panics when built). d <= 0 panics.
func Idle(d time.Duration) Option {
	if d <= 0 {
		panic("stream: Idle: non-positive duration " + d.String())
	}
	return optionFunc(func(c *config) { c.window.idle = d; c.set |= usesWindow })
}

// MaxPanes bounds the number of panes (one per key and open window) a
// [WindowReduce] stage keeps open at once; the default is
// [DefaultMaxPanes]. When an element needs a new pane and n are open, the
// open pane that would close first is emitted at once, with Early set, and
// counted in [StageStats].Early; memory stays bounded by n panes whatever
// the number of keys. n < 1 panics.
func MaxPanes(n int) Option {
	if n < 1 {
		panic("stream: MaxPanes: n must be at least 1, got " + strconv.Itoa(n))
	}
	return optionFunc(func(c *config) { c.window.maxPanes = n; c.set |= usesWindow })
}

// WindowReduce folds the elements of in per key and per window, and emits
// one [Pane] per key and window when the window closes: its Value is
// fn(…fn(fn(init, v1), v2)…, vn) over the window's elements with that key,
// in arrival order. It keeps one aggregate per open pane, never the
// elements. A key not equal to itself (a float NaN, or a value holding one)
// matches no other: each such element gets panes of its own. Windows follow the clock (processing time: an element is in
// the windows around its arrival, and a window closes when the clock passes
// its end) unless [EventTime] is given. In processing time the stage closes
// windows with one timer, stopped when the stage ends. Panes that close
// together are emitted in order of their end, then of their opening.
//
// When in closes, every open pane is emitted, in the same order, and then
// the output closes. On cancellation the open panes are discarded. The
// number of open panes is bounded by [MaxPanes]. It runs one goroutine;
// key, fn and the timestamp function are never called concurrently, and a
// panic in any of them fails the pipeline. If A holds references (a slice,
// a map), each pane's fold starts from the same init: fn must not modify
// it in place (append to a nil slice, make the map on the first element).
// Options: Name, [Capacity], [EventTime], [Idle], [MaxPanes], [OnDrop] (for
// late elements). A nil p, in, key or fn, or an invalid w, panics.
func WindowReduce[T any, K comparable, A any](p *Pipeline, in <-chan T, w Windowing,
	key func(T) K, init A, fn func(A, T) A, opts ...Option) <-chan Pane[K, A] {
	checkPipeline(p)
	checkInput(in, "WindowReduce")
	if w.kind == 0 {
		panic("stream: WindowReduce: zero Windowing (use Tumbling, Sliding or Session)")
	}
	if key == nil {
		panic("stream: WindowReduce: nil key function")
	}
	if fn == nil {
		panic("stream: WindowReduce: nil function")
	}
	cfg := typedConfig[T]("window", opts, usesWindow|usesDrop|usesCapacity)
	ts := typedOption[func(T) time.Time](cfg.window.eventTime, "EventTime", "window")
	if cfg.window.idle > 0 && ts == nil {
		panic("stream: window: Idle applies only with EventTime")
	}
	if cfg.window.maxPanes == 0 {
		cfg.window.maxPanes = DefaultMaxPanes
	}
	s := p.addStage("window", cfg, []any{in})
	s.callsUser = true
	out := output[Pane[K, A]](s)
	onDrop := typedOption[func(T)](cfg.onDrop, "OnDrop", s.kind)
	ip := input(s, in, true)
	s.start(func(wk *worker) error {
		ws := &windows[T, K, A]{
			win: w, key: key, init: init, fn: fn, max: cfg.window.maxPanes,
			w: wk, out: out,
		}
		if w.kind == session {
			ws.byKey = make(map[K]*pane[K, A])
		} else {
			ws.byWin = make(map[winKey[K]]*pane[K, A])
		}
		if ts == nil {
			return ws.runProcessing(ip)
		}
		return ws.runEvent(ip, ts, cfg.window.lateness, cfg.window.idle, onDrop)
	})
	return out.ch
}

// windows is the state of one WindowReduce stage.
type windows[T any, K comparable, A any] struct {
	win   Windowing
	key   func(T) K
	init  A
	fn    func(A, T) A
	max   int
	w     *worker
	out   *port[Pane[K, A]]
	byWin map[winKey[K]]*pane[K, A] // Tumbling and Sliding
	byKey map[K]*pane[K, A]         // Session: the key's open sessions, a list
	heap  []*pane[K, A]             // the open panes, by end, then seq
	free  *pane[K, A]               // closed panes, for reuse
	seq   uint64
}

type winKey[K comparable] struct {
	key        K
	start, end int64
}

// pane is an open pane.
type pane[K comparable, A any] struct {
	key        K
	start, end int64 // Unix nanoseconds
	acc        A
	count      int
	seq        uint64      // opening order, to break ties
	at         int         // index in the heap
	next       *pane[K, A] // the key's next session, or the next free pane
	timed      bool        // a latency sample: opened is when it opened
	opened     time.Time
}

// runProcessing is the stage's loop in processing time: an element's time
// is its arrival, and the timer wakes the stage when the earliest open pane
// ends while no element arrives.
func (ws *windows[T, K, A]) runProcessing(in *inport[T]) error {
	w := ws.w
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var (
		ticks <-chan time.Time // nil while the timer is not armed
		armed int64            // the end it is armed for
	)
	for {
		v, err := take(w, in, ticks)
		switch {
		case err == errTimeout:
			ticks = nil
		case err == errClosed:
			return ws.closeAll()
		case err != nil:
			return err
		default:
			w.received()
		}
		now := time.Now().UnixNano()
		if cerr := ws.closeUntil(now); cerr != nil {
			return cerr
		}
		if err == nil {
			if _, err := ws.add(v, now, now); err != nil {
				return err
			}
		}
		switch {
		case len(ws.heap) == 0:
			if ticks != nil {
				timer.Stop()
				ticks = nil
			}
		case ticks == nil || ws.heap[0].end < armed:
			armed = ws.heap[0].end
			timer.Reset(time.Duration(armed - now))
			ticks = timer.C
		}
	}
}

// runEvent is the stage's loop in event time. The watermark moves with the
// elements' timestamps, and with the clock once the input has been quiet
// for idle (if idle > 0), for which the timer wakes the stage.
func (ws *windows[T, K, A]) runEvent(in *inport[T], ts func(T) time.Time, lateness int64, idle time.Duration, onDrop func(T)) error {
	w := ws.w
	var (
		timer   *time.Timer
		ticks   <-chan time.Time // nil while the timer is not armed
		last    time.Time        // when the latest element arrived (with idle)
		armedAt time.Time        // when the timer fires, if armed
		latest  int64            = math.MinInt64
		mark    int64            = math.MinInt64 // the watermark
		advance                  = func(to int64) error {
			if to <= mark {
				return nil
			}
			mark = to
			return ws.closeUntil(mark)
		}
	)
	if idle > 0 {
		timer = time.NewTimer(time.Hour)
		timer.Stop()
		defer timer.Stop()
	}
	for {
		v, err := take(w, in, ticks)
		switch {
		case err == errTimeout:
			// Quiet for idle at least since last? Then event time moves
			// on with the clock; else wait for the rest of idle.
			ticks = nil
			quiet := time.Since(last)
			if quiet < idle {
				timer.Reset(idle - quiet)
				ticks, armedAt = timer.C, last.Add(idle)
				continue
			}
			if err := advance(addSat(subSat(latest, lateness), int64(quiet))); err != nil {
				return err
			}
			if len(ws.heap) > 0 { // wake when the watermark reaches the next end
				d := time.Duration(ws.heap[0].end - mark)
				timer.Reset(d)
				ticks, armedAt = timer.C, time.Now().Add(d)
			}
			continue
		case errClosed == err:
			return ws.closeAll()
		case err != nil:
			return err
		}
		w.received()
		at := ts(v)
		if sec := at.Unix(); sec < minUnixSec || sec > maxUnixSec {
			return fmt.Errorf("%w: %v", ErrTimestamp, at)
		}
		t := at.UnixNano()
		if idle > 0 {
			// A quiet spell of idle or more just ended: event time moved
			// on with the clock, whether or not the timer was armed (it
			// is not while no pane is open).
			now := time.Now()
			if quiet := now.Sub(last); !last.IsZero() && quiet >= idle {
				if err := advance(addSat(subSat(latest, lateness), int64(quiet))); err != nil {
					return err
				}
			}
			last = now
		}
		if t > latest {
			latest = t
			if err := advance(subSat(t, lateness)); err != nil {
				return err
			}
		}
		late, err := ws.add(v, t, mark)
		if err != nil {
			return err
		}
		if late {
			dropped(w, onDrop, v)
		}
		// Check for quiet idle after this element; a timer armed for
		// later (to follow the clock after an earlier quiet spell) would
		// check too late.
		if idle > 0 && len(ws.heap) > 0 && (ticks == nil || armedAt.After(last.Add(idle))) {
			timer.Reset(idle)
			ticks, armedAt = timer.C, last.Add(idle)
		}
	}
}

// add folds v, at time t, into its open panes, opening those it needs; a
// window whose end is at or before mark is closed. It reports whether v was
// late: all its windows closed.
func (ws *windows[T, K, A]) add(v T, t, mark int64) (late bool, err error) {
	k := ws.key(v)
	if ws.win.kind == session {
		return ws.addSession(v, k, t, mark)
	}
	size, every := ws.win.size, ws.win.every
	// r is t's offset in its latest window: (t − align) mod every, computed
	// without wrapping (t − align may not fit an int64).
	r := t % every
	if r < 0 {
		r += every
	}
	if r -= ws.win.align; r < 0 {
		r += every
	}
	late = true
	// The windows holding t, latest first: d, the distance from t to the
	// window's end, decreases by every, and the window holds t while d > 0.
	// Their ends decrease, so once one is closed, so are the rest. Near the
	// ends of the int64 range a window's start or end saturates: windows
	// are keyed by both, which no two share.
	for d := size - r; d > 0; d -= every {
		start, end := subSat(t, size-d), addSat(t, d)
		if end <= mark {
			break
		}
		late = false
		wk := winKey[K]{k, start, end}
		pn := ws.byWin[wk]
		if pn == nil {
			if pn, err = ws.open(k, start, end); err != nil {
				return false, err
			}
			if k == k { // a key not equal to itself (NaN) could never be found or deleted
				ws.byWin[wk] = pn
			}
		}
		pn.acc = ws.fn(pn.acc, v)
		pn.count++
	}
	return late, nil
}

// addSession folds v into the open session of key k it falls within gap
// of, or opens a session for it.
func (ws *windows[T, K, A]) addSession(v T, k K, t, mark int64) (bool, error) {
	gap := ws.win.size
	for pn := ws.byKey[k]; pn != nil; pn = pn.next {
		if t < pn.end && addSat(t, gap) > pn.start {
			pn.start = min(pn.start, t)
			if end := addSat(t, gap); end > pn.end {
				pn.end = end
				ws.down(pn.at)
			}
			pn.acc = ws.fn(pn.acc, v)
			pn.count++
			return false, nil
		}
	}
	end := addSat(t, gap)
	if end <= mark {
		return true, nil
	}
	pn, err := ws.open(k, t, end)
	if err != nil {
		return false, err
	}
	if k == k { // a key not equal to itself (NaN) could never be found or deleted
		pn.next = ws.byKey[k]
		ws.byKey[k] = pn
	}
	pn.acc = ws.fn(pn.acc, v)
	pn.count++
	return false, nil
}

// open returns a new pane for key k and window [start, end), in the heap
// but not yet in a map. If MaxPanes are open it first emits the one that
// would close first.
func (ws *windows[T, K, A]) open(k K, start, end int64) (*pane[K, A], error) {
	if len(ws.heap) >= ws.max {
		ws.w.c.early.Add(1)
		if err := ws.emit(ws.pop(), true); err != nil {
			return nil, err
		}
	}
	pn := ws.free
	if pn != nil {
		ws.free = pn.next
	} else {
		pn = new(pane[K, A])
	}
	ws.seq++
	*pn = pane[K, A]{key: k, start: start, end: end, acc: ws.init, seq: ws.seq}
	if pn.timed = ws.w.sampling(); pn.timed {
		pn.opened = time.Now()
	}
	ws.push(pn)
	return pn, nil
}

// closeUntil emits the panes whose end is at or before t.
func (ws *windows[T, K, A]) closeUntil(t int64) error {
	for len(ws.heap) > 0 && ws.heap[0].end <= t {
		if err := ws.emit(ws.pop(), false); err != nil {
			return err
		}
	}
	return nil
}

// closeAll emits every open pane: the input has closed.
func (ws *windows[T, K, A]) closeAll() error {
	for len(ws.heap) > 0 {
		if err := ws.emit(ws.pop(), false); err != nil {
			return err
		}
	}
	return nil
}

// emit removes pn, just popped from the heap, from its map, sends its pane
// and recycles it.
func (ws *windows[T, K, A]) emit(pn *pane[K, A], early bool) error {
	if ws.win.kind == session {
		head := ws.byKey[pn.key]
		if head == pn {
			if pn.next == nil {
				delete(ws.byKey, pn.key)
			} else {
				ws.byKey[pn.key] = pn.next
			}
		} else {
			for q := head; q != nil; q = q.next {
				if q.next == pn {
					q.next = pn.next
					break
				}
			}
		}
	} else {
		delete(ws.byWin, winKey[K]{pn.key, pn.start, pn.end})
	}
	out := Pane[K, A]{
		Key: pn.key, Start: time.Unix(0, pn.start).UTC(), End: time.Unix(0, pn.end).UTC(),
		Value: pn.acc, Count: pn.count, Early: early,
	}
	timed, opened := pn.timed, pn.opened
	*pn = pane[K, A]{next: ws.free} // drop the references it held
	ws.free = pn
	if err := send(ws.w, ws.out, out, ws.w.done); err != nil {
		return err
	}
	if timed {
		ws.w.timed(opened) // a pane's latency: from its opening to its hand-off
	}
	return nil
}

// The heap of open panes: the one that closes first on top.

func (ws *windows[T, K, A]) less(i, j int) bool {
	a, b := ws.heap[i], ws.heap[j]
	return a.end < b.end || a.end == b.end && a.seq < b.seq
}

func (ws *windows[T, K, A]) swap(i, j int) {
	h := ws.heap
	h[i], h[j] = h[j], h[i]
	h[i].at, h[j].at = i, j
}

func (ws *windows[T, K, A]) push(pn *pane[K, A]) {
	pn.at = len(ws.heap)
	ws.heap = append(ws.heap, pn)
	for i := pn.at; i > 0; {
		parent := (i - 1) / 2
		if !ws.less(i, parent) {
			break
		}
		ws.swap(i, parent)
		i = parent
	}
}

func (ws *windows[T, K, A]) pop() *pane[K, A] {
	n := len(ws.heap) - 1
	ws.swap(0, n)
	pn := ws.heap[n]
	ws.heap[n] = nil
	ws.heap = ws.heap[:n]
	ws.down(0)
	return pn
}

// down restores the heap below i after the pane at i moved later.
func (ws *windows[T, K, A]) down(i int) {
	n := len(ws.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		j := l
		if r := l + 1; r < n && ws.less(r, l) {
			j = r
		}
		if !ws.less(j, i) {
			return
		}
		ws.swap(i, j)
		i = j
	}
}

// addSat and subSat add and subtract without wrapping around.
func addSat(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func subSat(a, b int64) int64 {
	if b > 0 && a < math.MinInt64+b {
		return math.MinInt64
	}
	return a - b
}
