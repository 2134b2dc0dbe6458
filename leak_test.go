package stream_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them
// (pitfall P22: leaks caught in CI, not in production).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
