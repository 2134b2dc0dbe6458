package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestHello(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	stdout := os.Stdout
	os.Stdout = w
	main()
	os.Stdout = stdout
	require.NoError(t, w.Close())
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, "skipped: not a number: x\nsum of squares: 82\n", string(out))
}

// The README shows this program as it is: a change to one without the
// other fails here.
func TestTheREADMEShowsThisProgram(t *testing.T) {
	src, err := os.ReadFile("main.go")
	require.NoError(t, err)
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	program := src[bytes.Index(src, []byte("package main")):]
	assert.True(t, bytes.Contains(readme, program),
		"README.md must contain examples/hello/main.go from %q on, verbatim", strings.SplitN(string(program), "\n", 2)[0])
}
