package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"testing"
	"testing/synctest"

	"github.com/pipewright/stream"
)

var update = flag.Bool("update", false, "rewrite testdata/sidebyside.txt")

// TestSideBySide runs the program's pipeline under synctest, where every
// duration is exact, and requires that Stats(), the Prometheus export and
// the OpenTelemetry export agree on every value, and that the table is
// testdata/sidebyside.txt.
func TestSideBySide(t *testing.T) {
	var out bytes.Buffer
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(context.Background())
		prom, otel, err := exporters(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := run(p); err != nil {
			t.Fatal(err)
		}
		ok, err := compare(&out, p, prom, otel)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Errorf("the three disagree (rows marked ≠):\n%s", out.String())
		}
	})
	if *update {
		if err := os.WriteFile("testdata/sidebyside.txt", out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/sidebyside.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != string(want) {
		t.Errorf("got:\n%s\nwant (testdata/sidebyside.txt):\n%s", got, want)
	}
}
