// Clickstream analyses page views with time windows, on embedded data (a
// CSV of views in arrival order, some of them late):
//
//   - page views per page per minute: tumbling windows in event time, with
//     30 seconds of allowed lateness; views that arrive later are counted as
//     late, not silently lost;
//   - the top pages of each minute, from those counts, by a second window
//     stage over the first one's panes;
//   - sessions per user: session windows with a two-minute gap.
//
// It prints a small table of each.
//
//	go run ./examples/clickstream
package main

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/pipewright/stream"
)

//go:embed clicks.csv
var clicksCSV string

// view is one page view.
type view struct {
	at         time.Time
	user, page string
}

const (
	minute   = time.Minute
	lateness = 30 * time.Second
	gap      = 2 * time.Minute
	top      = 3
)

// pageCount is one page's views in one minute.
type pageCount struct {
	page  string
	views int
}

// topPages is the aggregate of a minute's top pages: a fixed array, so
// folding into it allocates nothing.
type topPages struct {
	n     int
	pages [top]pageCount
}

// add keeps the top pages, most viewed first (ties by name).
func (t topPages) add(pc pageCount) topPages {
	i := t.n
	for i > 0 && (pc.views > t.pages[i-1].views || pc.views == t.pages[i-1].views && pc.page < t.pages[i-1].page) {
		i--
	}
	if i == top {
		return t
	}
	copy(t.pages[i+1:], t.pages[i:top-1])
	t.pages[i] = pc
	t.n = min(t.n+1, top)
	return t
}

// session is what the session windows fold per user.
type session struct {
	views int
	pages map[string]bool
}

// report is what the pipeline computes.
type report struct {
	perMinute []stream.Pane[string, int]
	tops      []stream.Pane[int, topPages]
	sessions  []stream.Pane[string, session]
	late      int64 // views too late for their minute
	topLate   int64 // panes too late for their minute's top: none, as they come together
}

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, w io.Writer) error {
	views, err := parse(clicksCSV)
	if err != nil {
		return err
	}
	r, err := analyse(ctx, views)
	if err != nil {
		return err
	}
	print(w, r)
	return nil
}

func parse(csv string) ([]view, error) {
	var views []view
	for i, line := range strings.Split(strings.TrimSpace(csv), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) != 3 {
			return nil, fmt.Errorf("clicks.csv:%d: want time,user,page", i+1)
		}
		at, err := time.Parse(time.RFC3339, f[0])
		if err != nil {
			return nil, fmt.Errorf("clicks.csv:%d: %w", i+1, err)
		}
		views = append(views, view{at: at, user: f[1], page: f[2]})
	}
	return views, nil
}

func analyse(ctx context.Context, views []view) (report, error) {
	var r report
	p := stream.New(ctx)
	byView := func(v view) time.Time { return v.at }
	branches := stream.Broadcast(p, stream.FromSlice(p, views), 2)

	// Views per page per minute, in event time; views more than 30s
	// behind the latest are late: dropped and counted.
	perMinute := stream.WindowReduce(p, branches[0], stream.Tumbling(minute),
		func(v view) string { return v.page },
		0, func(n int, _ view) int { return n + 1 },
		stream.EventTime(byView, lateness), stream.Name("views per minute"))
	// Keep each pane for the table, and pass it on.
	counted := stream.Map(p, perMinute, func(_ context.Context, pn stream.Pane[string, int]) (stream.Pane[string, int], error) {
		r.perMinute = append(r.perMinute, pn)
		return pn, nil
	})
	// The top pages of each minute: the panes of a minute arrive together
	// (they close at the same watermark), so a tumbling window over the
	// panes' starts, with no lateness, gathers them.
	tops := stream.WindowReduce(p, counted, stream.Tumbling(minute),
		func(stream.Pane[string, int]) int { return 0 },
		topPages{}, func(t topPages, pn stream.Pane[string, int]) topPages {
			return t.add(pageCount{pn.Key, pn.Value})
		},
		stream.EventTime(func(pn stream.Pane[string, int]) time.Time { return pn.Start }, 0),
		stream.Name("top pages"))
	stream.ForEach(p, tops, func(_ context.Context, pn stream.Pane[int, topPages]) error {
		r.tops = append(r.tops, pn)
		return nil
	})

	// Sessions per user: a user's session ends after two quiet minutes.
	sessions := stream.WindowReduce(p, branches[1], stream.Session(gap),
		func(v view) string { return v.user },
		session{}, func(s session, v view) session {
			if s.pages == nil {
				s.pages = map[string]bool{} // never modify init
			}
			s.views++
			s.pages[v.page] = true
			return s
		},
		stream.EventTime(byView, lateness), stream.Name("sessions"))
	got, err := stream.Collect(p, sessions)
	if err != nil {
		return r, err
	}
	r.sessions = got
	for _, st := range p.Stats() {
		switch st.Name {
		case "views per minute":
			r.late = st.Dropped
		case "top pages":
			r.topLate = st.Dropped
		}
	}
	return r, nil
}

func print(w io.Writer, r report) {
	fmt.Fprintln(w, "Page views per minute (event time, 30s lateness)")
	// One row per minute, one column per page.
	var pages []string
	var minutes []time.Time
	counts := map[time.Time]map[string]int{}
	for _, pn := range r.perMinute {
		if counts[pn.Start] == nil {
			counts[pn.Start] = map[string]int{}
			minutes = append(minutes, pn.Start)
		}
		counts[pn.Start][pn.Key] = pn.Value
		if !slices.Contains(pages, pn.Key) {
			pages = append(pages, pn.Key)
		}
	}
	slices.Sort(pages)
	fmt.Fprintf(w, "  %-5s", "min")
	for _, pg := range pages {
		fmt.Fprintf(w, "  %8s", pg)
	}
	fmt.Fprintln(w)
	for _, m := range minutes {
		fmt.Fprintf(w, "  %-5s", m.Format("15:04"))
		for _, pg := range pages {
			if n := counts[m][pg]; n > 0 {
				fmt.Fprintf(w, "  %8d", n)
			} else {
				fmt.Fprintf(w, "  %8s", ".")
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  late views, not counted: %d\n\n", r.late)

	fmt.Fprintf(w, "Top %d pages per minute\n", top)
	for _, pn := range r.tops {
		var cells []string
		for _, pc := range pn.Value.pages[:pn.Value.n] {
			cells = append(cells, fmt.Sprintf("%s %d", pc.page, pc.views))
		}
		fmt.Fprintf(w, "  %s  %s\n", pn.Start.Format("15:04"), strings.Join(cells, ", "))
	}
	fmt.Fprintln(w)

	fmt.Fprintf(w, "Sessions per user (gap %v)\n", gap)
	fmt.Fprintf(w, "  %-4s  %-11s  %5s  %5s\n", "user", "time", "views", "pages")
	slices.SortStableFunc(r.sessions, func(a, b stream.Pane[string, session]) int {
		return strings.Compare(a.Key, b.Key)
	})
	perUser := map[string]int{}
	for _, pn := range r.sessions {
		perUser[pn.Key]++
		// A session's window ends gap after its last view.
		fmt.Fprintf(w, "  %-4s  %s-%s  %5d  %5d\n", pn.Key, pn.Start.Format("15:04"), pn.End.Add(-gap).Format("15:04"), pn.Value.views, len(pn.Value.pages))
	}
	var users []string
	for u, n := range perUser {
		users = append(users, fmt.Sprintf("%s %d", u, n))
	}
	slices.Sort(users)
	fmt.Fprintf(w, "  sessions: %s\n", strings.Join(users, ", "))
}
