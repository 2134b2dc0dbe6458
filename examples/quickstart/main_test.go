package main

import (
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The program runs to the end on its embedded data and prints the totals,
// the skipped records and the Stats.
func TestQuickstart(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	stdout := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() { out, _ := io.ReadAll(r); done <- out }()
	main()
	os.Stdout = stdout
	require.NoError(t, w.Close())
	out := string(<-done)
	assert.Contains(t, out, "EMEA          775     113,789.93\n")
	assert.Contains(t, out, "skipped 3 malformed records:\n")
	assert.Contains(t, out, "parse      map            4  3000  2997       3\n")
}
