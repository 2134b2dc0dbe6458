package streamnats_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pipewright/stream"
	"github.com/pipewright/stream/streamnats"
)

// A poison message published with headers the server acts on (optimistic
// concurrency, rollup) is dead-lettered all the same: the dead letter does
// not carry them, so its publish neither fails (which would fail the
// pipeline on every restart, the poison blocking everything) nor purges
// the dead letters already there.
func TestDeadLetter_DropsHeadersTheServerActsOn(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{"T", "DEAD"} {
		if _, err := e.js.CreateStream(testCtx(t, 10*time.Second), jetstream.StreamConfig{
			Name: name, Subjects: []string{name + ".>"}, AllowRollup: true,
		}); err != nil {
			t.Fatal(err)
		}
	}
	deadStream, err := e.js.Stream(testCtx(t, 5*time.Second), "DEAD")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.js.Publish(testCtx(t, 5*time.Second), "DEAD.T", []byte("earlier")); err != nil {
		t.Fatal(err)
	}
	c := e.consumer(t, "T", "c", 30*time.Second)
	for i, h := range [][2]string{
		{"Nats-Expected-Last-Sequence", "0"},
		{"Nats-Expected-Stream", "T"},
		{"Nats-Rollup", "sub"},
	} {
		m := nats.NewMsg("T.x" + string(rune('a'+i)))
		m.Data = []byte(h[0])
		m.Header.Set(h[0], h[1])
		m.Header.Set("Keep", "me")
		if _, err := e.js.PublishMsg(testCtx(t, 5*time.Second), m); err != nil {
			t.Fatal(err)
		}
	}

	p := stream.New(testCtx(t, 30*time.Second))
	msgs := streamnats.Source(p, c, streamnats.MaxDeliveries(1), streamnats.DeadLetter(e.js, "DEAD.T"))
	streamnats.ForEach(p, msgs, func(context.Context, streamnats.Message) error { return errors.New("poison") })
	eventually(t, 20*time.Second, "all three dead-lettered", func() bool {
		ci := info(t, c)
		return ci.NumPending == 0 && ci.NumAckPending == 0 || p.Context().Err() != nil
	})
	p.Stop()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	si, err := deadStream.Info(testCtx(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if si.State.Msgs != 4 {
		t.Fatalf("%d messages on the dead-letter stream, want the earlier one and the 3 poisons", si.State.Msgs)
	}
	for seq := uint64(2); seq <= 4; seq++ {
		m, err := deadStream.GetMsg(testCtx(t, 5*time.Second), seq)
		if err != nil {
			t.Fatal(err)
		}
		for k := range m.Header {
			if strings.HasPrefix(k, "Nats-Expected") || k == "Nats-Rollup" {
				t.Fatalf("dead letter %d carries %s", seq, k)
			}
		}
		if m.Header.Get("Keep") != "me" || m.Header.Get(streamnats.HeaderID) == "" {
			t.Fatalf("dead letter %d lost its headers: %v", seq, m.Header)
		}
	}
}
