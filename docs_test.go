package stream_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mdLink matches the target of a Markdown link or image: [text](target).
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// Every relative link of every Markdown file of the repository points to a
// file or directory inside the repository (issue 16: no doc may send a user
// to a file they do not have, such as the team's ../shared folder).
func TestMarkdownLinksStayInsideTheRepository(t *testing.T) {
	root, err := filepath.Abs(".")
	require.NoError(t, err)
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".md") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for _, m := range mdLink.FindAllStringSubmatch(string(data), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			abs := filepath.Clean(filepath.Join(filepath.Dir(path), target))
			checked++
			if !assert.True(t, abs == root || strings.HasPrefix(abs, root+string(filepath.Separator)),
				"%s links %q, outside the repository", rel, m[1]) {
				continue
			}
			_, err := os.Stat(abs)
			assert.NoError(t, err, "%s links %q, which does not exist", rel, m[1])
		}
		return nil
	})
	require.NoError(t, err)
	require.Positive(t, checked)
	// Plain-text mentions of the team's folder count too.
	for _, f := range []string{"README.md", "doc.go", "docs/pitfalls.md", "benchmarks/README.md"} {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		assert.NotContains(t, string(data), "../shared", f)
	}
}
