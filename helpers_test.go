package stream_test

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
)

// seq returns 0..n-1.
func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// waitAsync calls p.Wait in a goroutine and delivers its result.
func waitAsync(p *stream.Pipeline) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- p.Wait() }()
	return ch
}

// returned reports whether a waitAsync result is already there.
func returned(ch <-chan error) (error, bool) {
	select {
	case err := <-ch:
		return err, true
	default:
		return nil, false
	}
}

// infinite is a Generate function that emits 0, 1, 2, … until emit fails,
// and closes stopped when it returns.
func infinite(stopped chan<- struct{}) func(context.Context, func(int) error) error {
	return func(_ context.Context, emit func(int) error) error {
		if stopped != nil {
			defer close(stopped)
		}
		for i := 0; ; i++ {
			if err := emit(i); err != nil {
				return err
			}
		}
	}
}

func double(_ context.Context, v int) (int, error) { return 2 * v, nil }

func statsOf(t *testing.T, p *stream.Pipeline, name string) stream.StageStats {
	t.Helper()
	for _, s := range p.Stats() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no stage named %q in %+v", name, p.Stats())
	return stream.StageStats{}
}

// waitEndsAtOnce, inside a synctest bubble, lets every goroutine block,
// requires that the pipeline is still running, calls end, and requires that
// Wait has returned without any fake time passing; it returns Wait's result.
func waitEndsAtOnce(t *testing.T, p *stream.Pipeline, end func()) error {
	t.Helper()
	done := waitAsync(p)
	synctest.Wait()
	_, ended := returned(done)
	require.False(t, ended, "the pipeline runs until it is ended")
	end()
	synctest.Wait()
	err, ended := returned(done)
	require.True(t, ended, "Wait returned without time passing")
	return err
}
