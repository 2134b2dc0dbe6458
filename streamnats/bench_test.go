package streamnats_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pipewright/stream"
	"github.com/pipewright/stream/streamnats"
)

// BenchmarkConsume reads and acknowledges b.N messages of a stream on an
// embedded server: ns/op is per message. The hand-written loops are the
// baselines: "fetch" pulls batches of 256 as Source does, "consume" is
// the client's own callback API; streamnats/foreach is Source → ForEach,
// streamnats/map+foreach is Source → Map → ForEach. Each stops once all n
// are acknowledged (the acks flushed to the server). cpu-ns/op is the CPU
// time the process (client and server) spent per message.
func BenchmarkConsume(b *testing.B) {
	cases := []struct {
		name string
		run  func(b *testing.B, c jetstream.Consumer, n int)
	}{
		{"handwritten/fetch", consumeFetch},
		{"handwritten/consume", consumeCallback},
		{"streamnats/foreach", consumeSource(false)},
		{"streamnats/map+foreach", consumeSource(true)},
	}
	for _, tt := range cases {
		b.Run(tt.name, func(b *testing.B) {
			e := newEnv(b)
			e.stream(b, "B")
			c := e.consumer(b, "B", "c", 30*time.Second)
			e.publish(b, "B.x", b.N)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := selfCPU()
			tt.run(b, c, b.N)
			if err := e.nc.Flush(); err != nil { // the acks reached the server
				b.Fatal(err)
			}
			b.StopTimer()
			// CPU time of this process (client and embedded server) per
			// message: steadier than ns/op on a loaded machine.
			b.ReportMetric(float64(selfCPU()-cpu)/float64(b.N), "cpu-ns/op")
			eventually(b, 30*time.Second, "all acknowledged", settledAll(b, c, b.N))
		})
	}
}

func consumeFetch(b *testing.B, c jetstream.Consumer, n int) {
	for done := 0; done < n; {
		batch, err := c.Fetch(min(streamnats.DefaultPullMax, n-done), jetstream.FetchMaxWait(time.Second))
		if err != nil {
			b.Fatal(err)
		}
		for m := range batch.Messages() {
			if err := m.Ack(); err != nil {
				b.Fatal(err)
			}
			done++
		}
		if err := batch.Error(); err != nil {
			b.Fatal(err)
		}
	}
}

func consumeCallback(b *testing.B, c jetstream.Consumer, n int) {
	all := make(chan struct{})
	done := 0
	cc, err := c.Consume(func(m jetstream.Msg) {
		if err := m.Ack(); err != nil {
			b.Error(err)
		}
		if done++; done == n {
			close(all)
		}
	}, jetstream.PullMaxMessages(streamnats.DefaultPullMax))
	if err != nil {
		b.Fatal(err)
	}
	<-all
	cc.Stop()
	<-cc.Closed()
}

func consumeSource(mapped bool) func(b *testing.B, c jetstream.Consumer, n int) {
	return func(b *testing.B, c jetstream.Consumer, n int) {
		p := stream.New(context.Background())
		msgs := streamnats.Source(p, c)
		count := func(context.Context, int) error {
			if n--; n == 0 {
				p.Stop() // this last message is still acknowledged: ForEach acks after fn
			}
			return nil
		}
		if mapped {
			sizes := streamnats.Map(p, msgs, func(_ context.Context, m streamnats.Message) (int, error) { return len(m.Data), nil })
			streamnats.ForEach(p, sizes, count)
		} else {
			streamnats.ForEach(p, msgs, func(ctx context.Context, m streamnats.Message) error { return count(ctx, 0) })
		}
		if err := p.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}
