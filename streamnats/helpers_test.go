package streamnats_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// env is one embedded JetStream server with a client connected to it.
type env struct {
	srv *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
}

// startServer starts a nats-server with JetStream on a random loopback
// port, its store in dir. It is shut down, and waited for, by shutdown.
func startServer(dir string) (*server.Server, error) {
	srv, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		JetStream: true,
		StoreDir:  dir,
		NoLog:     true,
		NoSigs:    true,
	})
	if err != nil {
		return nil, err
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		shutdown(srv)
		return nil, fmt.Errorf("nats-server not ready")
	}
	return srv, nil
}

func shutdown(srv *server.Server) {
	srv.Shutdown()
	srv.WaitForShutdown()
}

// newEnv starts a server and connects to it; both end with the test.
func newEnv(t testing.TB) *env {
	t.Helper()
	srv, err := startServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		shutdown(srv)
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		shutdown(srv)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		nc.Close()
		shutdown(srv)
	})
	return &env{srv: srv, nc: nc, js: js}
}

// ctx returns a context that bounds one test step in time.
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// stream creates stream name capturing name.>.
func (e *env) stream(t testing.TB, name string) jetstream.Stream {
	t.Helper()
	s, err := e.js.CreateStream(testCtx(t, 10*time.Second), jetstream.StreamConfig{
		Name:     name,
		Subjects: []string{name + ".>"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// consumer creates the durable pull consumer name on stream, with
// explicit acks and the given AckWait.
func (e *env) consumer(t testing.TB, stream, name string, ackWait time.Duration, tune ...func(*jetstream.ConsumerConfig)) jetstream.Consumer {
	t.Helper()
	cfg := jetstream.ConsumerConfig{
		Durable:   name,
		AckPolicy: jetstream.AckExplicitPolicy,
		AckWait:   ackWait,
	}
	for _, f := range tune {
		f(&cfg)
	}
	c, err := e.js.CreateOrUpdateConsumer(testCtx(t, 10*time.Second), stream, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// publish publishes n messages "0".."n-1" to subject, with the IDs
// id(0)..id(n-1), and waits for their acknowledgements.
func (e *env) publish(t testing.TB, subject string, n int) {
	t.Helper()
	wait := func() {
		select {
		case <-e.js.PublishAsyncComplete():
		case <-time.After(60 * time.Second):
			t.Fatal("publishing timed out")
		}
	}
	for i := 0; i < n; i++ {
		if _, err := e.js.PublishAsync(subject, fmt.Appendf(nil, "%d", i), jetstream.WithMsgID(id(i))); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 999 { // stay below the client's limit of pending publishes
			wait()
		}
	}
	wait()
}

func id(i int) string { return fmt.Sprintf("m-%05d", i) }

// info returns the consumer's current state from the server.
func info(t testing.TB, c jetstream.Consumer) *jetstream.ConsumerInfo {
	t.Helper()
	ci, err := c.Info(testCtx(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return ci
}

// eventually polls cond every few milliseconds until it holds or d
// passes. It polls the server's state, which no clock can advance.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// settledAll reports whether every message of the consumer's stream was
// acknowledged (or terminated).
func settledAll(t testing.TB, c jetstream.Consumer, n int) func() bool {
	return func() bool {
		ci := info(t, c)
		return ci.NumPending == 0 && ci.NumAckPending == 0 && ci.AckFloor.Stream >= uint64(n)
	}
}
