//go:build race

package stream_test

// raceEnabled tells tests that scale with the machine to do less under the
// race detector, which slows channel operations about tenfold.
const raceEnabled = true
