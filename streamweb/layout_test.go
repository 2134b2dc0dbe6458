package streamweb

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/pipewright/stream"
)

func out(to string, n, c int) stream.OutputStats {
	return stream.OutputStats{To: to, QueueLen: n, QueueCap: c}
}

func stage(name string, workers, busy int, outs ...stream.OutputStats) stream.StageStats {
	st := stream.StageStats{Name: name, Kind: "map", Workers: workers, Limit: workers, Busy: busy, Outputs: outs}
	for _, o := range outs {
		st.QueueLen += o.QueueLen
		st.QueueCap += o.QueueCap
	}
	return st
}

// TestLayoutColumnsAndRows: a stage's column is its longest path from a
// source; rows follow the mean row of the inputs, so a FanOut's branches
// stay in the order of its outputs and a late source goes below.
func TestLayoutColumnsAndRows(t *testing.T) {
	stats := []stream.StageStats{
		stage("src", 1, 0, out("fan", 0, 8)),                               // 0
		stage("fan", 3, 0, out("a", 0, 8), out("b", 0, 8), out("c", 0, 8)), // 1
		stage("c", 1, 0, out("merge", 0, 8)),                               // 2: added first, fed by fan's third output
		stage("a", 1, 0, out("merge", 0, 8)),                               // 3
		stage("b", 1, 0, out("slowpath", 0, 8)),                            // 4
		stage("slowpath", 1, 0, out("merge", 0, 8)),                        // 5
		stage("merge", 3, 0, out("", 0, 8)),                                // 6
		stage("other", 1, 0, out("", 0, 8)),                                // 7: a second source, unconnected
	}
	cols, rows := layout(stats)
	assert.Equal(t, []int{0, 1, 2, 2, 2, 3, 4, 0}, cols)
	// Column 2: c, a, b all have mean input row 0 (fan): stable order.
	assert.Equal(t, []int{0, 0, 0, 1, 2, 0, 0, 1}, rows)
}

func TestLayoutEmpty(t *testing.T) {
	cols, rows := layout(nil)
	assert.Empty(t, cols)
	assert.Empty(t, rows)
}

// TestLayoutOrdersByInputs: in a column, a stage fed from a lower row goes
// lower, whatever the order the stages were added.
func TestLayoutOrdersByInputs(t *testing.T) {
	stats := []stream.StageStats{
		stage("s1", 1, 0, out("x2", 0, 8)),
		stage("s2", 1, 0, out("x1", 0, 8)),
		stage("x1", 1, 0), // fed by s2 (row 1)
		stage("x2", 1, 0), // fed by s1 (row 0)
	}
	cols, rows := layout(stats)
	assert.Equal(t, []int{0, 0, 1, 1}, cols)
	assert.Equal(t, []int{0, 1, 1, 0}, rows)
}

func TestBottleneck(t *testing.T) {
	for _, tc := range []struct {
		give  string
		stats []stream.StageStats
		want  string
	}{
		{
			give: "a slow middle stage: its input full, its output empty",
			stats: []stream.StageStats{
				stage("src", 1, 1, out("fast", 64, 64)),
				stage("fast", 2, 2, out("slow", 60, 64)),
				stage("slow", 1, 1, out("sink", 0, 64)),
				stage("sink", 1, 0),
			},
			want: "slow",
		},
		{
			give: "a slow sink",
			stats: []stream.StageStats{
				stage("src", 1, 1, out("sink", 64, 64)),
				stage("sink", 1, 1),
			},
			want: "sink",
		},
		{
			give: "not every worker busy: keeping up",
			stats: []stream.StageStats{
				stage("src", 1, 1, out("m", 64, 64)),
				stage("m", 4, 3, out("", 0, 64)),
			},
			want: "",
		},
		{
			give: "its output full: held back itself (by the caller)",
			stats: []stream.StageStats{
				stage("src", 1, 1, out("m", 64, 64)),
				stage("m", 1, 1, out("", 64, 64)),
			},
			want: "",
		},
		{
			give: "input under half full: no backlog",
			stats: []stream.StageStats{
				stage("src", 1, 1, out("m", 31, 64)),
				stage("m", 1, 1, out("", 0, 64)),
			},
			want: "",
		},
		{
			give: "the fullest input wins",
			stats: []stream.StageStats{
				stage("s1", 1, 1, out("a", 40, 64)),
				stage("s2", 1, 1, out("b", 64, 64)),
				stage("a", 1, 1, out("", 0, 64)),
				stage("b", 1, 1, out("", 0, 64)),
			},
			want: "b",
		},
		{
			give: "a merge: its inputs summed",
			stats: []stream.StageStats{
				stage("s1", 1, 1, out("merge", 8, 8)),
				stage("s2", 1, 1, out("merge", 0, 8)),
				stage("merge", 2, 2, out("", 0, 8)),
			},
			want: "merge",
		},
		{
			give: "an unbuffered input tells nothing",
			stats: []stream.StageStats{
				stage("src", 1, 1, out("m", 0, 0)),
				stage("m", 1, 1, out("", 0, 64)),
			},
			want: "",
		},
		{
			give:  "no stages",
			stats: nil,
			want:  "",
		},
	} {
		t.Run(tc.give, func(t *testing.T) {
			assert.Equal(t, tc.want, bottleneck(tc.stats))
		})
	}
}

func TestBottleneckSkipsFinishedStages(t *testing.T) {
	stats := []stream.StageStats{
		stage("src", 1, 1, out("m", 64, 64)),
		stage("m", 1, 1, out("", 0, 64)),
	}
	stats[1].Done = true
	assert.Equal(t, "", bottleneck(stats))
}

// TestSnapshotEdges: edges are the channels between two stages, one per
// channel (a FanOut feeding one Merge gives several); a channel the caller
// reads is not an edge.
func TestSnapshotEdges(t *testing.T) {
	stats := []stream.StageStats{
		stage("fan", 2, 0, out("merge", 1, 8), out("merge", 2, 8)),
		stage("merge", 2, 0, out("", 5, 16)),
	}
	s := snapshot(stats, time.Unix(10, 500_000_000))
	assert.Equal(t, 10.5, s.Time)
	assert.Equal(t, []edgeJSON{{From: "fan", To: "merge", QueueLen: 1, QueueCap: 8}, {From: "fan", To: "merge", QueueLen: 2, QueueCap: 8}}, s.Edges)
	assert.Equal(t, 5, s.Stages[1].QueueLen)
	assert.Equal(t, 16, s.Stages[1].QueueCap)
	assert.Equal(t, 1, s.Stages[1].Column)
}
