// Wordcount counts the words of an embedded text with a pipeline: the lines
// are split into words by two workers, Partition sends each word to the one
// of four counting workers that owns it (the same word always goes to the
// same worker, so each counts its words in its own map, without a lock),
// and the per-partition counts are merged into the top 10.
//
//	go run ./examples/wordcount
//
// BenchmarkWordCount in main_test.go compares it with a single-goroutine
// loop over the same text.
package main

import (
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"unicode"

	"github.com/pipewright/stream"
)

//go:embed corpus.txt
var corpus string

// partitions is the number of counting workers.
const partitions = 4

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		os.Exit(1)
	}
}

func run(w io.Writer) error {
	perPartition, err := countWords(context.Background(), strings.NewReader(corpus), partitions)
	if err != nil {
		return err
	}
	total := map[string]int{}
	for i, counts := range perPartition {
		words := 0
		for word, n := range counts {
			total[word] = n // each word lives in exactly one partition
			words += n
		}
		fmt.Fprintf(w, "partition %d: %d distinct words, %d words\n", i, len(counts), words)
	}
	fmt.Fprintln(w, "top 10:")
	for _, wc := range top(total, 10) {
		fmt.Fprintf(w, "%6d %s\n", wc.count, wc.word)
	}
	return nil
}

// countWords counts the words of r with a pipeline and returns one map per
// partition; a word appears in exactly one of them.
func countWords(ctx context.Context, r io.Reader, n int) ([]map[string]int, error) {
	p := stream.New(ctx)
	lines := stream.Lines(p, r, stream.Name("lines"))
	words := stream.FlatMap(p, lines, func(_ context.Context, line string, emit func(string) error) error {
		for _, word := range splitWords(line) {
			if err := emit(word); err != nil {
				return err // the pipeline is ending
			}
		}
		return nil
	}, stream.Name("split"), stream.Workers(2))
	parts := stream.Partition(p, words, n, func(word string) string { return word }, stream.Name("route"))
	counts := make([]map[string]int, n)
	for i, part := range parts {
		counts[i] = map[string]int{}
		m := counts[i] // one worker per partition: no lock
		stream.ForEach(p, part, func(_ context.Context, word string) error {
			m[word]++
			return nil
		}, stream.Name(fmt.Sprintf("count%d", i)))
	}
	if err := p.Wait(); err != nil {
		return nil, err
	}
	return counts, nil
}

// countLoop is the single-goroutine loop countWords is compared with.
func countLoop(text string) map[string]int {
	counts := map[string]int{}
	for line := range strings.Lines(text) {
		for _, word := range splitWords(line) {
			counts[word]++
		}
	}
	return counts
}

// splitWords returns the words of line in lower case: runs of letters and
// apostrophes.
func splitWords(line string) []string {
	return strings.FieldsFunc(strings.ToLower(line), func(r rune) bool {
		return !unicode.IsLetter(r) && r != '\''
	})
}

type wordCount struct {
	word  string
	count int
}

// top returns the k most frequent words, the most frequent first, ties in
// alphabetical order.
func top(counts map[string]int, k int) []wordCount {
	all := make([]wordCount, 0, len(counts))
	for _, w := range slices.Sorted(maps.Keys(counts)) {
		all = append(all, wordCount{w, counts[w]})
	}
	slices.SortStableFunc(all, func(a, b wordCount) int { return cmp.Compare(b.count, a.count) })
	return all[:min(k, len(all))]
}
