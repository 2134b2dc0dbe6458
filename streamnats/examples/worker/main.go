// Command worker is one consumer process of a JetStream durable consumer,
// built on streamnats: several of them share the consumer's messages.
//
//	go run ./examples/worker -url URL -stream NAME -consumer NAME
//
// It binds to the durable pull consumer -consumer of stream -stream
// (creating it, with explicit acks, if it is missing; the stream must
// exist) and processes messages until SIGINT or SIGTERM. Processing a
// message is writing its ID to stdout, one per line: its Nats-Msg-Id
// header, or its stream sequence number when the header is absent (the
// command line and this output are a fixed contract for outside tests). A
// message is acknowledged only after that write, so a worker killed at any
// instant loses nothing: what it had not acknowledged is redelivered to
// another worker once the consumer's AckWait expires.
//
// On SIGINT or SIGTERM it drains: it asks for no more messages, finishes
// those it received, and exits 0. A second signal kills it. It exits 1 on
// an error (the server gone, stdout closed).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pipewright/stream"
	"github.com/pipewright/stream/streamnats"
)

func main() {
	url := flag.String("url", nats.DefaultURL, "NATS server URL")
	streamName := flag.String("stream", "", "stream `name` (must exist)")
	consumer := flag.String("consumer", "", "durable consumer `name` (created if missing)")
	ackWait := flag.Duration("ack-wait", 30*time.Second, "AckWait of the consumer, if this worker creates it")
	flag.Parse()
	if *streamName == "" || *consumer == "" {
		fmt.Fprintln(os.Stderr, "worker: -stream and -consumer are required")
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*url, *streamName, *consumer, *ackWait, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(url, streamName, consumerName string, ackWait time.Duration, out io.Writer) error {
	sig, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	context.AfterFunc(sig, stopSignals) // a second signal kills

	nc, err := nats.Connect(url, nats.Name("streamnats-worker"))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	cons, err := bind(js, streamName, consumerName, ackWait)
	if err != nil {
		return err
	}

	p := stream.New(context.Background())
	msgs := streamnats.Source(p, cons, streamnats.DrainOn(sig))
	ids := streamnats.Map(p, msgs, func(_ context.Context, m streamnats.Message) (string, error) {
		// Message.ID falls back to "STREAM:seq" (unique across streams,
		// for Publish's de-duplication); the worker's output is the bare
		// sequence number then, as its contract says.
		if id := m.Header.Get(jetstream.MsgIDHeader); id != "" {
			return id, nil
		}
		return strconv.FormatUint(m.Sequence, 10), nil
	})
	// One write per batch of IDs; each batch's messages are acknowledged
	// after its write returned.
	batches := streamnats.Batch(p, ids, 128, time.Millisecond)
	var buf bytes.Buffer
	streamnats.ForEach(p, batches, func(_ context.Context, ids []string) error {
		buf.Reset()
		for _, id := range ids {
			buf.WriteString(id)
			buf.WriteByte('\n')
		}
		_, err := out.Write(buf.Bytes())
		return err
	}, streamnats.OnError(func(_ []string, err error) error { return err })) // stdout gone: stop
	if err := p.Wait(); err != nil {
		return err
	}
	return nc.Flush() // the last acknowledgements reach the server
}

// bind returns the durable consumer, creating it if it is missing.
func bind(js jetstream.JetStream, streamName, consumerName string, ackWait time.Duration) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.Consumer(ctx, streamName, consumerName)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = js.CreateConsumer(ctx, streamName, jetstream.ConsumerConfig{
			Durable:   consumerName,
			AckPolicy: jetstream.AckExplicitPolicy,
			AckWait:   ackWait,
		})
	}
	return cons, err
}
