package streamnats

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestNakDelayDoublesFromInitialUpToMax: the n-th delivery's redelivery
// delay is initial·2^(n-1), capped at max (found by the mutation pass: an
// extra doubling went unnoticed).
func TestNakDelayDoublesFromInitialUpToMax(t *testing.T) {
	s := &settler{nakInitial: time.Second, nakMax: 10 * time.Second}
	for n, want := range map[uint64]time.Duration{
		0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second,
		5: 10 * time.Second, 64: 10 * time.Second, math.MaxUint64: 10 * time.Second,
	} {
		if got := s.nakDelay(n); got != want {
			t.Errorf("nakDelay(%d) = %v, want %v", n, got, want)
		}
	}
	zero := &settler{nakMax: time.Minute}
	if got := zero.nakDelay(7); got != 0 {
		t.Errorf("with NakDelay(0, …): nakDelay(7) = %v, want 0", got)
	}
}

// TestTicketSettlesOnce: a message whose element failed is NAKed, and the
// elements still carrying it acknowledge nothing afterwards (found by the
// mutation pass: an Ack after the NAK went unnoticed).
func TestTicketSettlesOnce(t *testing.T) {
	m := &settleMsg{}
	tk := &ticket{msg: m, s: &settler{budget: 5, nakInitial: time.Second, nakMax: time.Minute}, message: Message{Delivered: 1}}
	tk.hold(3) // three elements carry the message
	if err := tk.release(); err != nil {
		t.Fatal(err)
	}
	if err := tk.fail(errors.New("bad")); err != nil {
		t.Fatal(err)
	}
	if err := tk.fail(errors.New("worse")); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the other two elements are done: the last would acknowledge
		if err := tk.release(); err != nil {
			t.Fatal(err)
		}
	}
	if m.acks != 0 || m.naks != 1 {
		t.Errorf("%d Acks and %d NAKs, want 0 and 1", m.acks, m.naks)
	}

	ok := &settleMsg{}
	tk = &ticket{msg: ok, s: tk.s, message: Message{Delivered: 1}}
	tk.hold(2)
	for range 2 {
		if err := tk.release(); err != nil {
			t.Fatal(err)
		}
	}
	if ok.acks != 1 || ok.naks != 0 {
		t.Errorf("%d Acks and %d NAKs, want 1 and 0: acknowledged when the last element is done", ok.acks, ok.naks)
	}
}

// settleMsg counts the settlements of a message.
type settleMsg struct {
	jetstream.Msg // nil: any other method panics
	acks, naks    int
}

func (m *settleMsg) Ack() error { m.acks++; return nil }

func (m *settleMsg) NakWithDelay(time.Duration) error { m.naks++; return nil }
