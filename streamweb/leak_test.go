package streamweb

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: the
// pipelines', the HTTP servers' and clients', and the browser driver's.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
