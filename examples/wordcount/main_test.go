package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(&out))
	lines := strings.Split(out.String(), "\n")
	require.GreaterOrEqual(t, len(lines), partitions+11)
	assert.Equal(t, "top 10:", lines[partitions])
	for i, wc := range top(countLoop(corpus), 10) {
		assert.Equal(t, fmt.Sprintf("%6d %s", wc.count, wc.word), lines[partitions+1+i])
	}
	assert.Equal(t, "    45 the", lines[partitions+1])
}

// The pipeline counts exactly what the loop counts, each word in one
// partition only.
func TestCountWordsAgreesWithTheLoop(t *testing.T) {
	text := strings.Repeat(corpus, 7)
	perPartition, err := countWords(context.Background(), strings.NewReader(text), partitions)
	require.NoError(t, err)
	merged := map[string]int{}
	for _, counts := range perPartition {
		for word, n := range counts {
			_, twice := merged[word]
			require.False(t, twice, "%q counted in two partitions", word)
			merged[word] = n
		}
	}
	assert.True(t, maps.Equal(countLoop(text), merged))
}

// BenchmarkWordCount counts the embedded text repeated 100 times (about
// 60,000 words) per iteration, with the pipeline and with a plain loop in
// one goroutine; ns/word is the time per word.
//
//	go test -run '^$' -bench WordCount -count 6 ./examples/wordcount
func BenchmarkWordCount(b *testing.B) {
	text := strings.Repeat(corpus, 100)
	words := 0
	for _, n := range countLoop(text) {
		words += n
	}
	b.Run("impl=pipeline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := countWords(context.Background(), strings.NewReader(text), partitions); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*words), "ns/word")
	})
	b.Run("impl=loop", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			countLoop(text)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*words), "ns/word")
	})
}
