// Package streamnats connects pipelines of package stream across processes
// through NATS JetStream, with at-least-once delivery: a [Source] reading a
// durable pull consumer, operators that keep each element tied to the
// message it came from, and sinks that acknowledge a message only once the
// pipeline has finished with it, or [Publish] it to another subject.
//
//	p := stream.New(ctx)
//	msgs := streamnats.Source(p, cons, streamnats.DeadLetter(js, "orders.dead"))
//	orders := streamnats.Map(p, msgs, parseOrder)
//	streamnats.ForEach(p, orders, store)
//	err := p.Wait()
//
// The rules of package stream (ownership, channels, errors, cancellation,
// backpressure) hold for every stage here; the sections below say what this
// package adds.
//
// # Acknowledgement
//
// Each element is a [Msg]: a Value and a tie to its JetStream message. The
// operators of this package ([Map], [Filter], [FlatMap], [Batch]) call their
// function with the Value and tie what they emit to the same message; a
// FlatMap's outputs share it, a Batch's output carries the ties of all its
// elements. A message is acknowledged once, when the pipeline has finished
// with everything it became: each element derived from it reached [ForEach]
// (whose function returned nil), [Ack] or [Publish] (whose publish was
// acknowledged), or was deliberately left out by a [Filter], by a [FlatMap]
// that emitted nothing, or by an [OnError] handler returning nil. Nothing is
// acknowledged before: a message is never acknowledged by a stage it has
// not passed yet, and an element nobody finishes leaves its message
// unacknowledged, to be redelivered once the consumer's AckWait expires.
// Acknowledgements are plain (not double) acks: one the server does not get
// means a redelivery, never a loss.
//
// The user's functions never see the JetStream message, so they cannot
// acknowledge it early. Stages of package stream that pass elements on
// unchanged (Buffer, Merge, Partition, Throttle, Take) may be used on Msg
// elements and keep the tie; an element they drop is redelivered. A stage
// that copies elements (Broadcast) must not be: its copies share one tie,
// so the first copy finished acknowledges the message while the others are
// still unprocessed, and their failure is lost.
//
// # Failure
//
// When an element's function fails (after any stream.Retry), its messages
// fail and the element is skipped; the pipeline goes on. A failed message
// is NAKed, so the server redelivers it after a delay that doubles with each
// delivery ([NakDelay]). A message that fails on the last delivery of its
// budget ([MaxDeliveries], or the consumer's MaxDeliver when lower) is
// published to the [DeadLetter] subject with the error and its origin in
// its headers ([HeaderError], ...), then terminated, so a poison message
// costs a few retries and never blocks the messages behind it. Without a
// dead-letter subject, such a message fails the pipeline with
// [ErrNoDeadLetter] and stays unacknowledged. [OnError] replaces the policy
// for one stage: skip the element, redeliver it, or fail the pipeline.
//
// A panic in a function fails the pipeline (see package stream), and so
// does an acknowledgement that fails ([ErrAck], typically a closed
// connection); the messages in flight stay unacknowledged and are
// redelivered.
//
// # Backpressure
//
// Messages in flight are bounded: the source pulls batches of at most
// [PullMax] messages, and asks for the next only once the pipeline has taken
// the last; within the pipeline, the stages' channel
// capacities bound the rest. A slow pipeline therefore slows the server's
// deliveries, never fills memory. Across all processes bound to a consumer,
// its MaxAckPending bounds the messages delivered but not yet acknowledged.
//
// # Stopping
//
// Ending the pipeline (stream.Pipeline.Stop, its context, a stage error)
// discards the elements in flight and leaves their messages
// unacknowledged: the server redelivers them, to this process or another,
// once AckWait expires. [DrainOn] ends a pipeline gracefully instead: the
// source asks for no more messages, emits those of its pull request in
// progress (a request lasts at most a second, and is read to its end, so
// that no message the server sent for it is missed), and closes its output;
// every message received is finished with and stream.Pipeline.Wait
// returns nil.
//
// # Scale-out
//
// Several processes running a Source on the same durable consumer share its
// messages: the server hands each message to one of them, and redelivers to
// any of them the messages of a process that died. Delivery is at least
// once: a message whose acknowledgement was lost, or whose process died
// after the work and before the acknowledgement, is processed again, so
// processing should be idempotent, and a [Publish] downstream de-duplicates
// by the message's ID. The program examples/worker is such a process.
//
// # Goroutines
//
// A Source runs one stage goroutine; the NATS client runs one more for the
// pull request in progress, which ends with the request or the pipeline.
// The other functions here are stages of package stream, with the
// goroutines that package documents.
package streamnats
