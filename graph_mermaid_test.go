package stream_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
)

// hostileNames are stage names that once broke, or could break, the Mermaid
// that Graph renders: quotes, brackets, backticks (a label starting with one
// is a Markdown string), markup, entities, Mermaid keywords and comments,
// control characters, invalid UTF-8, and very long names.
var hostileNames = []string{
	"`md`", "`", "```", "`a", "a`", "``x``",
	`"`, `""`, `"]`, `a"b`, `say "hi"`, `'single'`,
	"[x]", "x]", "]", "[", "(y)", ")", "((z))", "{z}", "}", "{{", "[/a/]", "[\\a\\]", ">x]", "|pipe|", "|",
	"<script>alert(1)</script>", "<br/>", "<b>bold</b>", "<img src=x onerror=alert(1)>", "</small>", "<", ">",
	"&amp;", "&lt;", "&", "&#60;", "#quot;", "#35;", "#lt;script#gt;", "a#b;", "#", "#1", "map#2", "#x;", ";", "a;b",
	"ﬂ°°35¶ß", "ﬂ°lt¶ß", "¶ß", "°",
	"%%comment", "%%{init: {\"theme\": \"dark\"}}%%", "---", "--> s1", "-.->", "==>", "~~~", "&",
	"end", "graph", "flowchart LR", "subgraph", "style s1 fill:#f00", "click s1 call alert()", "classDef x fill:#f00", ":::x",
	"**bold** _it_ ~~s~~ `code` [link](http://x) # h1", "- item", "1. item", "\\", "\\n", "/", "\\\"",
	"a\nb", "\n", "\r\n", "line\rreturn", "\t", "\x00", "\x01\x7f", "\u0085", "\u2028\u2029", "\u202eevil", "\u200b", "\ufeffbom", "\ufffe",
	"\xff", "a\xc3", "\xed\xa0\x80",
	"Größe", "数据流", "данные", "مرحبا", "שלום", "🙂📦", "e\u0301", "Ω≈ç√∫", "ⅷ", "٣",
	" leading", "trailing ", "  ", "a  b",
	strings.Repeat("x", 119), strings.Repeat("y", 120), strings.Repeat("z", 121), strings.Repeat("数", 500),
	strings.Repeat("long name ", 10_000), strings.Repeat("`\"<[]>|", 3000),
}

// TestGraphMermaidParses renders pipelines whose stage names are hostile
// (and random) and has Mermaid's own parser, under Node, parse every
// diagram; each node must show its stage's name as text. The Node side
// (testdata/mermaid) needs `npm ci` there once; .ci/run does it. Under
// CI=true a missing Node or Mermaid fails the test.
func TestGraphMermaidParses(t *testing.T) {
	dir := filepath.Join("testdata", "mermaid")
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "mermaid"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Node or Mermaid missing (%v): .ci/run installs them", err)
		}
		t.Skipf("Node or Mermaid missing (%v): run `npm ci` in %s", err, dir)
	}

	names := append([]string(nil), hostileNames...)
	rng := rand.New(rand.NewPCG(17, 5))
	alphabet := []rune("`\"'[](){}<>|#;&%:-=~*_\\/\n\r\t\x00 aZ9ﬂ°¶ßé数🙂\u202e\u2028")
	for range 300 {
		r := make([]rune, 1+rng.IntN(12))
		for i := range r {
			r[i] = alphabet[rng.IntN(len(alphabet))]
		}
		names = append(names, string(r))
	}

	// One diagram per name (so one failure cannot hide another): the name
	// on a source with several workers' worth of kind text, a Map, and
	// the caller's node.
	graphs := make([]string, len(names))
	for i, name := range names {
		p := stream.New(context.Background())
		src := stream.FromSlice(p, seq(1), stream.Name(name))
		_ = stream.Map(p, src, double, stream.Workers(2), stream.Name(name+"/2"))
		p.Stop()
		_ = p.Wait()
		graphs[i] = p.Graph()
	}
	in, err := json.Marshal(graphs)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "graphs.json")
	require.NoError(t, os.WriteFile(file, in, 0o600))

	cmd := exec.Command(node, filepath.Join(dir, "check.mjs"), file)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "node: %s", stderr.String())
	var results []struct {
		Error  *string
		Labels map[string]string
		Edges  int
	}
	require.NoError(t, json.Unmarshal(out, &results))
	require.Len(t, results, len(graphs))
	for i, r := range results {
		if r.Error != nil {
			t.Errorf("name %.60q: Mermaid rejects the graph: %s\n%s", names[i], *r.Error, graphs[i])
			continue
		}
		assert.Equal(t, map[string]string{
			"s1":     shownName(names[i]),
			"s2":     shownName(names[i] + "/2"),
			"caller": "caller",
		}, r.Labels, "name %.60q:\n%s", names[i], graphs[i])
		assert.Equal(t, 2, r.Edges, "name %.60q", names[i])
	}
}

// shownName is what Graph promises a node shows for a stage name: the name
// without spaces, tabs, line feeds and carriage returns at either end, with
// invalid UTF-8 as U+FFFD, tab, line feed and carriage return as spaces,
// other control characters as U+FFFD, cut to 120 characters and an ellipsis
// when longer.
func shownName(name string) string {
	name = strings.Trim(name, " \t\n\r")
	var b strings.Builder
	n := 0
	for _, r := range name {
		if n == 120 {
			b.WriteRune('…')
			break
		}
		n++
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			r = ' '
		case unicode.IsControl(r):
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}
