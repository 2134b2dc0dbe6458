package stream_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them
// (pitfall P22: leaks caught in CI, not in production), and runs them under
// the watchdog (watchdog_test.go), so a hang fails within a minute with
// every goroutine's stack.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(watchedM{m})
}
