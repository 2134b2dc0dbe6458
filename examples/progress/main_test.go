package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestFlagsAreChecked(t *testing.T) {
	for _, args := range [][]string{
		{"-rate", "Inf"}, {"-rate", "+Inf"}, {"-rate", "-Inf"}, {"-rate", "NaN"}, {"-rate", "0"}, {"-rate", "-3"},
		{"-duration", "0"}, {"-every", "-1s"}, {"-drain", "-1s"}, {"-nosuchflag"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			err := run(context.Background(), args, io.Discard, io.Discard)
			require.Error(t, err, "rejected before the job starts")
		})
	}
}

// The run lasts -duration plus at most -drain, whatever the rate: a slow
// rate used to keep the job going for the 60-odd readings buffered before
// the throttle (13 s at -rate 5).
func TestDurationBoundsTheRun(t *testing.T) {
	for _, rate := range []string{"5", "1e-9", "20000"} {
		t.Run("rate "+rate, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var out bytes.Buffer
				start := time.Now()
				err := run(context.Background(), []string{"-rate", rate, "-duration", "200ms", "-drain", "300ms", "-every", "100ms"}, &out, io.Discard)
				require.NoError(t, err)
				assert.LessOrEqual(t, time.Since(start), 500*time.Millisecond)
				assert.Contains(t, out.String(), "readings generated")
				assert.Contains(t, out.String(), "flowchart")
			})
		})
	}
}
