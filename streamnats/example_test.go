package streamnats_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pipewright/stream"
	"github.com/pipewright/stream/streamnats"
)

// demo is an embedded JetStream server whose stream ORDERS (subjects
// ORDERS.>) holds the given messages, and a durable pull consumer
// "billing" on it.
type demo struct {
	srv  *server.Server
	dir  string
	nc   *nats.Conn
	js   jetstream.JetStream
	cons jetstream.Consumer
}

func newDemo(msgs ...string) *demo {
	d := &demo{}
	var err error
	if d.dir, err = os.MkdirTemp("", "streamnats-example"); err != nil {
		panic(err)
	}
	if d.srv, err = startServer(d.dir); err != nil {
		panic(err)
	}
	if d.nc, err = nats.Connect(d.srv.ClientURL()); err != nil {
		panic(err)
	}
	d.js, _ = jetstream.New(d.nc)
	ctx := context.Background()
	if _, err = d.js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"ORDERS.>"}}); err != nil {
		panic(err)
	}
	for i, m := range msgs {
		if _, err = d.js.Publish(ctx, "ORDERS.new", []byte(m), jetstream.WithMsgID(fmt.Sprintf("order-%d", i+1))); err != nil {
			panic(err)
		}
	}
	d.cons, err = d.js.CreateConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{
		Durable:   "billing",
		AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		panic(err)
	}
	return d
}

// acked returns how many messages of ORDERS the consumer has settled.
func (d *demo) acked() uint64 {
	d.nc.Flush()
	ci, err := d.cons.Info(context.Background())
	if err != nil {
		panic(err)
	}
	return ci.AckFloor.Stream
}

// waitAcked waits, at most ten seconds, until n messages are settled.
func (d *demo) waitAcked(n uint64) {
	for deadline := time.Now().Add(10 * time.Second); d.acked() < n && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}

func (d *demo) close() {
	d.nc.Close()
	shutdown(d.srv)
	os.RemoveAll(d.dir)
}

// after returns a context cancelled by the n-th call of its done: the
// examples drain their source once they have seen what they expect.
func after(n int) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	return ctx, func() {
		if n--; n == 0 {
			cancel()
		}
	}
}

func ExampleSource() {
	d := newDemo("2 apples", "1 pear")
	defer d.close()

	drain, seen := after(2)
	p := stream.New(context.Background())
	msgs := streamnats.Source(p, d.cons, streamnats.DrainOn(drain))
	streamnats.ForEach(p, msgs, func(_ context.Context, m streamnats.Message) error {
		fmt.Printf("%s %s: %s\n", m.ID, m.Subject, m.Data)
		seen()
		return nil
	})
	fmt.Println("wait:", p.Wait(), "acked:", d.acked())
	// Output:
	// order-1 ORDERS.new: 2 apples
	// order-2 ORDERS.new: 1 pear
	// wait: <nil> acked: 2
}

func ExampleMap() {
	d := newDemo("2 apples", "1 pear")
	defer d.close()

	drain, seen := after(2)
	p := stream.New(context.Background())
	msgs := streamnats.Source(p, d.cons, streamnats.DrainOn(drain))
	counts := streamnats.Map(p, msgs, func(_ context.Context, m streamnats.Message) (int, error) {
		n, _, _ := strings.Cut(string(m.Data), " ")
		return strconv.Atoi(n)
	})
	total := 0
	streamnats.ForEach(p, counts, func(_ context.Context, n int) error {
		total += n
		seen()
		return nil
	})
	fmt.Println("wait:", p.Wait(), "total:", total, "acked:", d.acked())
	// Output: wait: <nil> total: 3 acked: 2
}

func ExampleFilter() {
	d := newDemo("2 apples", "1 pear", "5 plums")
	defer d.close()

	drain, seen := after(3)
	p := stream.New(context.Background())
	msgs := streamnats.Source(p, d.cons, streamnats.DrainOn(drain))
	big := streamnats.Filter(p, msgs, func(_ context.Context, m streamnats.Message) (bool, error) {
		defer seen()
		return !strings.HasPrefix(string(m.Data), "1 "), nil
	})
	streamnats.ForEach(p, big, func(_ context.Context, m streamnats.Message) error {
		fmt.Println(string(m.Data))
		return nil
	})
	// The message left out is acknowledged too.
	fmt.Println("wait:", p.Wait(), "acked:", d.acked())
	// Output:
	// 2 apples
	// 5 plums
	// wait: <nil> acked: 3
}

func ExampleFlatMap() {
	d := newDemo("apples,pears", "plums")
	defer d.close()

	drain, seen := after(3)
	p := stream.New(context.Background())
	msgs := streamnats.Source(p, d.cons, streamnats.DrainOn(drain))
	items := streamnats.FlatMap(p, msgs, func(_ context.Context, m streamnats.Message, emit func(string) error) error {
		for item := range strings.SplitSeq(string(m.Data), ",") {
			if err := emit(item); err != nil {
				return err
			}
		}
		return nil
	})
	// Each message is acknowledged once all its items are done.
	streamnats.ForEach(p, items, func(_ context.Context, item string) error {
		fmt.Println(item)
		seen()
		return nil
	})
	fmt.Println("wait:", p.Wait(), "acked:", d.acked())
	// Output:
	// apples
	// pears
	// plums
	// wait: <nil> acked: 2
}

func ExampleBatch() {
	d := newDemo("a", "b", "c")
	defer d.close()

	drain, seen := after(2) // the last batch is emitted as the source drains
	p := stream.New(context.Background())
	msgs := streamnats.Source(p, d.cons, streamnats.DrainOn(drain))
	ids := streamnats.Map(p, msgs, func(_ context.Context, m streamnats.Message) (string, error) { return m.ID, nil })
	// A batch is acknowledged, every message of it, after the write.
	batches := streamnats.Batch(p, ids, 2, time.Second)
	streamnats.ForEach(p, batches, func(_ context.Context, b []string) error {
		fmt.Println(b)
		for range b {
			seen()
		}
		return nil
	})
	err := p.Wait()
	d.waitAcked(3) // the server applies acknowledgements on its own time
	fmt.Println("wait:", err, "acked:", d.acked())
	// Output:
	// [order-1 order-2]
	// [order-3]
	// wait: <nil> acked: 3
}

func ExampleForEach() {
	d := newDemo("flaky")
	defer d.close()

	drain, seen := after(1)
	p := stream.New(context.Background())
	msgs := streamnats.Source(p, d.cons, streamnats.DrainOn(drain), streamnats.NakDelay(time.Millisecond, time.Millisecond))
	streamnats.ForEach(p, msgs, func(_ context.Context, m streamnats.Message) error {
		fmt.Println("delivery", m.Delivered)
		if m.Delivered == 1 {
			return errors.New("not yet") // NAKed: the server delivers it again
		}
		seen()
		return nil
	})
	fmt.Println("wait:", p.Wait(), "acked:", d.acked())
	// Output:
	// delivery 1
	// delivery 2
	// wait: <nil> acked: 1
}

func ExampleAck() {
	d := newDemo("2 apples", "1 pear")
	defer d.close()

	drain, seen := after(2)
	p := stream.New(context.Background())
	msgs := streamnats.Source(p, d.cons, streamnats.DrainOn(drain))
	done := streamnats.Map(p, msgs, func(_ context.Context, m streamnats.Message) (struct{}, error) {
		fmt.Println("billed", string(m.Data))
		seen()
		return struct{}{}, nil
	})
	streamnats.Ack(p, done)
	fmt.Println("wait:", p.Wait(), "acked:", d.acked())
	// Output:
	// billed 2 apples
	// billed 1 pear
	// wait: <nil> acked: 2
}

func ExamplePublish() {
	d := newDemo("2 apples", "1 pear")
	defer d.close()
	ctx := context.Background()
	archive, err := d.js.CreateStream(ctx, jetstream.StreamConfig{Name: "ARCHIVE", Subjects: []string{"archive.>"}})
	if err != nil {
		panic(err)
	}

	// Relay ORDERS to archive.orders: each message is acknowledged after
	// its copy was stored, and a redelivered one is de-duplicated by ID.
	p := stream.New(ctx)
	msgs := streamnats.Source(p, d.cons)
	upper := streamnats.Map(p, msgs, func(_ context.Context, m streamnats.Message) (streamnats.Message, error) {
		m.Data = []byte(strings.ToUpper(string(m.Data)))
		return m, nil
	})
	streamnats.Publish(p, upper, d.js, "archive.orders")
	d.waitAcked(2)
	p.Stop()
	fmt.Println("wait:", p.Wait())
	for seq := uint64(1); seq <= 2; seq++ {
		m, _ := archive.GetMsg(ctx, seq)
		fmt.Println(m.Header.Get(jetstream.MsgIDHeader), string(m.Data))
	}
	// Output:
	// wait: <nil>
	// order-1 2 APPLES
	// order-2 1 PEAR
}

func ExampleOnError() {
	d := newDemo("2 apples", "lots of pears", "1 plum")
	defer d.close()

	drain, seen := after(3)
	p := stream.New(context.Background())
	msgs := streamnats.Source(p, d.cons, streamnats.DrainOn(drain))
	var skipped []string
	counts := streamnats.Map(p, msgs, func(_ context.Context, m streamnats.Message) (int, error) {
		defer seen()
		n, _, _ := strings.Cut(string(m.Data), " ")
		return strconv.Atoi(n)
	}, streamnats.OnError(func(m streamnats.Message, err error) error {
		skipped = append(skipped, m.ID+": "+errors.Unwrap(err).Error())
		return nil // skip it: acknowledged, never redelivered
	}))
	total := 0
	streamnats.ForEach(p, counts, func(_ context.Context, n int) error {
		total += n
		return nil
	})
	fmt.Println("wait:", p.Wait(), "acked:", d.acked())
	fmt.Println("total:", total, "skipped:", skipped)
	// Output:
	// wait: <nil> acked: 3
	// total: 3 skipped: [order-2: invalid syntax]
}

func ExamplePullMax() {
	d := newDemo("a", "b", "c")
	defer d.close()

	// At most one message waits in the client: the server delivers the next
	// only as the pipeline takes one.
	drain, seen := after(3)
	p := stream.New(context.Background())
	msgs := streamnats.Source(p, d.cons, streamnats.PullMax(1), streamnats.DrainOn(drain))
	streamnats.ForEach(p, msgs, func(_ context.Context, m streamnats.Message) error {
		fmt.Println(string(m.Data))
		seen()
		return nil
	})
	fmt.Println("wait:", p.Wait())
	// Output:
	// a
	// b
	// c
	// wait: <nil>
}

// poison runs ORDERS through a stage that fails on "poison", with a
// dead-letter stream DEAD, and prints what ended there.
func poison(opts ...streamnats.Option) {
	d := newDemo("ok", "poison", "ok too")
	defer d.close()
	ctx := context.Background()
	dead, err := d.js.CreateStream(ctx, jetstream.StreamConfig{Name: "DEAD", Subjects: []string{"dead.>"}})
	if err != nil {
		panic(err)
	}
	p := stream.New(ctx)
	opts = append(opts, streamnats.DeadLetter(d.js, "dead.orders"))
	msgs := streamnats.Source(p, d.cons, opts...)
	streamnats.ForEach(p, msgs, func(_ context.Context, m streamnats.Message) error {
		if string(m.Data) == "poison" {
			return fmt.Errorf("cannot bill %q", m.Data)
		}
		fmt.Println("billed", string(m.Data))
		return nil
	})
	d.waitAcked(3)
	p.Stop()
	fmt.Println("wait:", p.Wait())
	m, err := dead.GetLastMsgForSubject(ctx, "dead.orders")
	if err != nil {
		panic(err)
	}
	fmt.Printf("dead letter %s after %s deliveries: %s\n",
		m.Header.Get(streamnats.HeaderID), m.Header.Get(streamnats.HeaderDelivered), m.Header.Get(streamnats.HeaderError))
}

func ExampleDeadLetter() {
	poison(streamnats.NakDelay(time.Millisecond, 10*time.Millisecond))
	// Output:
	// billed ok
	// billed ok too
	// wait: <nil>
	// dead letter order-2 after 5 deliveries: cannot bill "poison"
}

func ExampleMaxDeliveries() {
	poison(streamnats.MaxDeliveries(2), streamnats.NakDelay(time.Millisecond, time.Millisecond))
	// Output:
	// billed ok
	// billed ok too
	// wait: <nil>
	// dead letter order-2 after 2 deliveries: cannot bill "poison"
}

func ExampleNakDelay() {
	d := newDemo("flaky")
	defer d.close()

	drain, seen := after(1)
	p := stream.New(context.Background())
	var last time.Time
	msgs := streamnats.Source(p, d.cons, streamnats.DrainOn(drain), streamnats.NakDelay(50*time.Millisecond, time.Second))
	streamnats.ForEach(p, msgs, func(_ context.Context, m streamnats.Message) error {
		if m.Delivered > 1 {
			fmt.Println("redelivered after at least 50ms:", time.Since(last) >= 50*time.Millisecond)
			seen()
			return nil
		}
		last = time.Now()
		return errors.New("not yet")
	})
	fmt.Println("wait:", p.Wait())
	// Output:
	// redelivered after at least 50ms: true
	// wait: <nil>
}

func ExampleDrainOn() {
	d := newDemo("a", "b", "c", "d")
	defer d.close()

	// A worker drains on SIGTERM; here, after the second message.
	drain, seen := after(2)
	p := stream.New(context.Background())
	msgs := streamnats.Source(p, d.cons, streamnats.PullMax(1), streamnats.DrainOn(drain))
	n := 0
	streamnats.ForEach(p, msgs, func(_ context.Context, m streamnats.Message) error {
		n++
		seen()
		return nil
	})
	err := p.Wait()
	fmt.Println("wait:", err, "every message received was acknowledged:", d.acked() == uint64(n))
	// Output: wait: <nil> every message received was acknowledged: true
}

func ExampleStageOptions() {
	d := newDemo("a")
	defer d.close()

	drain, seen := after(1)
	p := stream.New(context.Background())
	msgs := streamnats.Source(p, d.cons, streamnats.DrainOn(drain),
		streamnats.StageOptions(stream.Name("orders"), stream.Capacity(8)))
	streamnats.ForEach(p, msgs, func(context.Context, streamnats.Message) error { seen(); return nil }, stream.Name("bill"))
	fmt.Println("wait:", p.Wait())
	for _, s := range p.Stats() {
		fmt.Println(s.Name, s.Out)
	}
	// Output:
	// wait: <nil>
	// orders 1
	// bill 0
}
