package streamweb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/pipewright/stream"
	"github.com/pipewright/stream/streamweb"
)

// Mount the live view beside net/http/pprof's, then read /stats as the
// page does (here through a recorder instead of a browser).
func ExampleHandler() {
	p := stream.New(context.Background())
	words := stream.FromSlice(p, []string{"a", "bb", "ccc"}, stream.Name("words"))
	lengths := stream.Map(p, words, func(_ context.Context, w string) (int, error) { return len(w), nil }, stream.Name("length"))
	total, err := stream.Reduce(p, lengths, 0, func(acc, n int) int { return acc + n })
	if err != nil {
		fmt.Println(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/debug/stream/", http.StripPrefix("/debug/stream", streamweb.Handler(p)))

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/stream/stats", nil))
	var stats struct {
		Stages []struct {
			Name string
			In   int64
			Out  int64
		}
		Edges []struct{ From, To string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &stats); err != nil {
		fmt.Println(err)
	}
	fmt.Println("total:", total)
	for _, st := range stats.Stages {
		fmt.Printf("stage %s: in %d, out %d\n", st.Name, st.In, st.Out)
	}
	for _, e := range stats.Edges {
		fmt.Printf("edge %s -> %s\n", e.From, e.To)
	}
	// Output:
	// total: 6
	// stage words: in 0, out 3
	// stage length: in 3, out 3
	// stage reduce#3: in 3, out 0
	// edge words -> length
	// edge length -> reduce#3
}
