package streamprom_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: the
// pipelines' and the HTTP servers' and clients'.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
