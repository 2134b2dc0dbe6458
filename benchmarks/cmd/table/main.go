// Command table runs the benchmarks of this module, summarises them with
// benchstat's statistics (golang.org/x/perf: the median of -count runs and
// its 95% confidence interval) and writes the performance table of
// README.md, between the lines <!-- table --> and <!-- /table -->, and the
// summary of the repository's README.md (../README.md), between the lines
// <!-- bench --> and <!-- /bench -->. Every performance figure of the
// repository's documentation comes from there, so that none can drift from
// what the benchmarks measure.
//
// Run it from the benchmarks module:
//
//	cd benchmarks && go run ./cmd/table [-count 6] [-benchtime 300ms]
//	cd benchmarks && go run ./cmd/table -from results/raw.txt   # rewrite both from the last run, without running
//
// It also leaves the raw results in results/raw.txt and benchstat's own
// summary in results/benchstat.txt, so that anyone can compare a later run
// with `go tool benchstat results/raw.txt new.txt`.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The markers of the generated sections.
const (
	beginMarker        = "<!-- table -->"
	endMarker          = "<!-- /table -->"
	beginSummaryMarker = "<!-- bench -->"
	endSummaryMarker   = "<!-- /bench -->"
)

// Header lines saved at the top of results/raw.txt (benchfmt reads them as
// configuration), so that -from can rewrite the tables later.
const (
	keyCommand    = "table-command"
	keyDate       = "table-date"
	keyElapsed    = "table-elapsed"
	keyLibrary    = "table-library"
	keyGo         = "table-go"
	keyLoadBefore = "table-load-before"
	keyLoadAfter  = "table-load-after"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("table: ")
	count := flag.Int("count", 6, "runs of each benchmark (go test -count)")
	benchtime := flag.String("benchtime", "300ms", "time or iterations of each run (go test -benchtime)")
	bench := flag.String("bench", ".", "benchmarks to run (go test -bench); the memory benchmark always runs")
	from := flag.String("from", "", "rewrite the READMEs from this raw results file instead of running the benchmarks")
	flag.Parse()
	if *count < 1 {
		log.Fatal("-count must be at least 1")
	}

	dir, err := moduleDir()
	if err != nil {
		log.Fatal(err)
	}
	var raw []byte
	if *from != "" {
		if raw, err = os.ReadFile(*from); err != nil {
			log.Fatal(err)
		}
	} else {
		raw = run(dir, *bench, *count, *benchtime)
	}

	res, err := parse(raw)
	if err != nil {
		log.Fatal(err)
	}
	h := headerOf(res)
	var md, summary bytes.Buffer
	writeMarkdown(&md, res, h)
	writeSummary(&summary, res, h)
	readme := filepath.Join(dir, "README.md")
	if err := replaceBetween(readme, beginMarker, endMarker, md.Bytes()); err != nil {
		log.Fatal(err)
	}
	top := filepath.Join(filepath.Dir(dir), "README.md")
	if err := replaceBetween(top, beginSummaryMarker, endSummaryMarker, summary.Bytes()); err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %s and %s", readme, top)
}

// run runs the suite and saves its results, with the header lines, in
// results/raw.txt (and benchstat's summary beside it); it returns them.
func run(dir, bench string, count int, benchtime string) []byte {
	start := time.Now()
	loadBefore := loadAverage()
	out, err := runSuite(dir, bench, count, benchtime)
	if err != nil {
		log.Fatal(err)
	}
	cmd := fmt.Sprintf("cd benchmarks && go run ./cmd/table -count %d -benchtime %s", count, benchtime)
	if bench != "." {
		cmd += " -bench '" + bench + "'"
	}
	var raw bytes.Buffer
	for _, kv := range [][2]string{
		{keyCommand, cmd},
		{keyDate, start.UTC().Format("2006-01-02 15:04 MST")},
		{keyElapsed, time.Since(start).Round(time.Second).String()},
		{keyLibrary, libraryVersion(dir)},
		{keyGo, goVersion()},
		{keyLoadBefore, loadBefore},
		{keyLoadAfter, loadAverage()},
	} {
		fmt.Fprintf(&raw, "%s: %s\n", kv[0], kv[1])
	}
	raw.Write(out)

	resultsDir := filepath.Join(dir, "results")
	if err := os.MkdirAll(resultsDir, 0o755); err != nil {
		log.Fatal(err)
	}
	rawPath := filepath.Join(resultsDir, "raw.txt")
	if err := os.WriteFile(rawPath, raw.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	writeBenchstat(dir, filepath.Join("results", "raw.txt"), filepath.Join(resultsDir, "benchstat.txt"))
	return raw.Bytes()
}

// headerOf reads the header lines of a run from its results.
func headerOf(res *results) header {
	get := func(k string) string {
		if v := res.config[k]; v != "" {
			return v
		}
		return "unknown"
	}
	elapsed, _ := time.ParseDuration(res.config[keyElapsed])
	return header{
		command: get(keyCommand),
		date:    get(keyDate),
		elapsed: elapsed,
		library: get(keyLibrary),
		goVer:   get(keyGo),
		load:    [2]string{res.config[keyLoadBefore], res.config[keyLoadAfter]},
	}
}

// moduleDir returns the directory of the benchmarks module, from wherever
// inside it the command runs.
func moduleDir() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a module: run it as `cd benchmarks && go run ./cmd/table`")
	}
	dir := filepath.Dir(gomod)
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		return "", fmt.Errorf("no README.md beside %s: run it from the benchmarks module", gomod)
	}
	return dir, nil
}

// libraryVersion names the library's commit the run measured (the module
// replaces it with ../), noting uncommitted changes outside benchmarks/.
func libraryVersion(dir string) string {
	out, err := exec.Command("git", "-C", dir, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	v := "commit " + strings.TrimSpace(string(out))
	status, err := exec.Command("git", "-C", filepath.Dir(dir), "status", "--porcelain", "--", ".", ":!benchmarks").Output()
	if err == nil && len(bytes.TrimSpace(status)) > 0 {
		v += " with uncommitted changes"
	}
	return v
}

func goVersion() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// runSuite builds the test binary once and runs it count times, each time
// every throughput benchmark once and then the memory benchmark in a
// process of its own (so that earlier benchmarks do not inflate its
// resident set, and so that it runs at 10M elements, which -bench . skips).
// Interleaving the rounds, rather than passing -count to one run, spreads
// any disturbance on the machine over all implementations alike. It returns
// the combined output; progress goes to stderr.
func runSuite(dir, bench string, count int, benchtime string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "benchtable")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "benchmarks.test")
	build := exec.Command("go", "test", "-c", "-o", bin, ".")
	build.Dir = dir
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("go test -c: %w", err)
	}
	common := []string{"-test.run", "^$", "-test.count", "1", "-test.benchtime", benchtime}
	runs := [][]string{
		append([]string{"-test.bench", bench, "-test.skip", "^BenchmarkMemory$"}, common...),
		append([]string{"-test.bench", "^BenchmarkMemory$"}, common...),
	}
	var raw bytes.Buffer
	for round := 1; round <= count; round++ {
		for _, args := range runs {
			log.Printf("round %d of %d: benchmarks.test %s", round, count, strings.Join(args, " "))
			cmd := exec.Command(bin, args...)
			cmd.Dir = dir
			cmd.Stdout = io.MultiWriter(&raw, os.Stderr)
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				return nil, fmt.Errorf("benchmarks.test: %w", err)
			}
		}
	}
	return raw.Bytes(), nil
}

// loadAverage returns the one-minute load average, or "" where
// /proc/loadavg is missing.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	if f := strings.Fields(string(data)); len(f) > 0 {
		return f[0]
	}
	return ""
}

// writeBenchstat saves benchstat's own summary of the raw results (rawPath
// relative to dir, as benchstat prints it). It is a by-product: a failure is
// reported, not fatal.
func writeBenchstat(dir, rawPath, outPath string) {
	cmd := exec.Command("go", "tool", "benchstat", rawPath)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		log.Printf("go tool benchstat: %v (results/benchstat.txt not written)", err)
		return
	}
	if err := os.WriteFile(outPath, out, 0o644); err != nil {
		log.Printf("writing %s: %v", outPath, err)
	}
}

// replaceBetween puts content between the marker lines beginMarker and
// endMarker of the file at path, keeping the markers and everything outside
// them.
func replaceBetween(path, beginMarker, endMarker string, content []byte) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	begin := bytes.Index(data, []byte(beginMarker))
	end := bytes.Index(data, []byte(endMarker))
	if begin < 0 || end < begin {
		return fmt.Errorf("%s: no %s ... %s markers", path, beginMarker, endMarker)
	}
	var out bytes.Buffer
	out.Write(data[:begin+len(beginMarker)])
	out.WriteString("\n")
	out.Write(content)
	out.Write(data[end:])
	return os.WriteFile(path, out.Bytes(), 0o644)
}
