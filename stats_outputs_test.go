package stream_test

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipewright/stream"
)

// TestStatsOutputsAreTheEdges: StageStats.Outputs names the consumer of
// every output channel ("" for one the caller holds) with that channel's
// own fill, and QueueLen and QueueCap are their sums.
func TestStatsOutputsAreTheEdges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := stream.New(context.Background())
		src := stream.FromSlice(p, seq(3), stream.Name("src"), stream.Capacity(4))
		outs := stream.Broadcast(p, src, 2, stream.Name("b"), stream.Capacity(5))
		_ = stream.Map(p, outs[0], double, stream.Name("m"), stream.Capacity(2))
		synctest.Wait() // everything is sent that can be: m holds its third element
		byName := map[string]stream.StageStats{}
		for _, st := range p.Stats() {
			byName[st.Name] = st
		}
		assert.Equal(t, []stream.OutputStats{{To: "b", QueueLen: 0, QueueCap: 4}}, byName["src"].Outputs)
		assert.Equal(t, []stream.OutputStats{{To: "m", QueueLen: 0, QueueCap: 5}, {To: "", QueueLen: 3, QueueCap: 5}}, byName["b"].Outputs)
		assert.Equal(t, []stream.OutputStats{{To: "", QueueLen: 2, QueueCap: 2}}, byName["m"].Outputs)
		for _, st := range byName {
			var l, c int
			for _, o := range st.Outputs {
				l += o.QueueLen
				c += o.QueueCap
			}
			assert.Equal(t, st.QueueLen, l, st.Name)
			assert.Equal(t, st.QueueCap, c, st.Name)
		}
		p.Stop()
		require.NoError(t, p.Wait())
	})
}

// TestStatsOutputsOfASink: a sink has no outputs, and its input is the
// producer's output named after it.
func TestStatsOutputsOfASink(t *testing.T) {
	p := stream.New(context.Background())
	got, err := stream.Collect(p, stream.FromSlice(p, seq(3), stream.Name("src")))
	require.NoError(t, err)
	assert.Len(t, got, 3)
	st := p.Stats()
	require.Len(t, st, 2)
	assert.Equal(t, []stream.OutputStats{{To: "collect#2", QueueCap: 64}}, st[0].Outputs)
	assert.Empty(t, st[1].Outputs)
}
