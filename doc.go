// Package stream builds concurrent pipelines from generic channels, with every
// goroutine owned, every error reported and every buffer bounded.
//
// A [Pipeline] owns a set of stages. Each stage is one goroutine, or a fixed
// set of them ([Workers]), reading a <-chan T and writing a <-chan U.
// Application code composes stages inline:
//
//	p := stream.New(ctx)
//	lines := stream.FromSlice(p, input)
//	recs := stream.Map(p, lines, parse, stream.Workers(4))
//	big := stream.Filter(p, recs, isLarge)
//	out, err := stream.Collect(p, big)
//
// The rules below hold for every function of this package; the documentation
// of each function says only what is particular to it.
//
// # Ownership
//
// Every goroutine a stage starts runs in the pipeline's [golang.org/x/sync/errgroup] group and has
// exited when [Pipeline.Wait] returns. Nothing is fire-and-forget: tickers
// and timers are stopped, and a stage started with [Pipeline.Go] is waited
// for like any other. The caller must call Wait (directly, or through a
// blocking sink: [Collect], [Reduce], [First], [Drain]) exactly as it would
// call errgroup's Wait.
//
// The pipeline's context ([Pipeline.Context]) derives from the context given
// to [New]. It is the one owner of the pipeline's lifetime: no stage stores
// another context.
//
// # Channels
//
// Each output channel is made and closed by the stage that writes it, exactly
// once, after all of its workers have exited: when its input is exhausted, on
// error, on [Pipeline.Stop], on cancellation, or when its consumer released
// it (or earlier, when its elements go on in chunks to the stage that reads
// it: see below). A stage never closes its input and never sends on a
// closed channel.
//
// An output channel has at most one consuming stage; passing it to a second
// stage panics (use FanOut or Broadcast to feed several). The caller may also
// read an output with its own code. Every output must be read by someone: an
// output nobody reads keeps its producer waiting, once its buffer is full,
// until the pipeline ends. Channels the caller makes may be passed as inputs;
// the caller must close them (or end the pipeline) for the consuming stage to
// finish.
//
// Outputs are buffered with [DefaultCapacity] unless [Capacity] says
// otherwise, so memory is bounded by the sum of the capacities (plus two
// chunks of 16 on an edge between two stages, see below), whatever the
// length of the stream. Elements are not retained after they are handed on.
//
// Between two stages of the pipeline, elements may travel in chunks. When a
// stage consumes an output whose producer runs one goroutine (or is
// Ordered), the output holds at least 16 elements, and a queue of chunks
// would cost no more memory than the channel (elements of at most 1 KiB;
// not tiny ones with a huge capacity), the producer switches, once the
// channel is empty, to a channel of its own that carries chunks of up to 16
// elements, and closes the channel the caller got (only the consuming stage
// reads it). It fills a chunk while its consumer is busy and sends it when
// it is full; a consumer waiting for an element gets it at once, alone; and a
// consumer that runs out takes the chunk being filled rather than wait for
// it, so no element waits for its producer to finish the next ones. So a
// consumer that is behind pays one channel operation for sixteen elements,
// and a slow stream goes element by element. Order, counts and the rules
// above are the same either way; the queue holds the capacity's worth of
// chunks (capacity/16), and a chunk being filled and one being read are in
// hand at its ends. A caller reading a channel itself, a channel the caller
// made, an input several workers share, and the outputs of stages with
// several workers (unless Ordered) or several outputs go element by element.
//
// # Errors
//
// An error returned by a function given to a stage, or by a source, fails
// the pipeline: it becomes an [*Error] naming the stage, the pipeline's
// context is cancelled with it as the cause, and [Pipeline.Wait] returns it.
// Only the first error is reported; errors that stages return after the
// pipeline was cancelled (typically wrapping [context.Canceled]) are not
// reported instead of it. A panic in a user function is recovered and
// reported as an [*Error] wrapping a [*PanicError] with the stack; it never
// crashes the process and never escapes Wait. User functions include an
// [Observer] and an [OnDrop] function. A function that does not return —
// it calls [runtime.Goexit], as t.FailNow does in a test — fails the
// pipeline with [ErrGoexit] instead of ending its stage as if the stream
// were complete. An error is recorded before the [Observer] hears of it,
// so a slow observer never changes which error is first.
//
// # Cancellation
//
// Every send and receive also watches the stage's context, so a stage never
// blocks forever: a send selects on the context, and a receive either selects
// on it or reads from a producer of this pipeline that closes the channel as
// soon as its own context is done. Once a stage's context is done it calls
// its function on no new element, even one already queued in its input;
// calls in flight see the done context and should return. Elements in flight
// when a pipeline is cancelled are discarded (not counted as drops: see
// "Drops").
//
// [Pipeline.Wait] returns nil when every stage finished, or when
// [Pipeline.Stop] was called first; the first stage error otherwise; and the
// parent context's error when the parent ended first and cut a stage short.
//
// # Demand
//
// Stages stop when nobody needs their output any more. A consuming stage
// that ends before its input is closed — [First] after one element, a stage
// released by its own consumer, a stage that failed — releases its input. A
// producer all of whose outputs are released is cancelled at once and
// releases its own inputs, so the whole chain upstream stops, including an
// infinite source, while independent branches of the pipeline run on. A
// stage ended this way is not an error.
//
// # Backpressure
//
// A slow stage slows the stages before it: they block on their full
// outputs, never buffer without bound. [Buffer] makes the policy explicit
// where blocking is not wanted — drop the newest or the oldest element, or
// fail with [ErrOverflow] — and [Throttle] caps a rate.
//
// # Drops
//
// A drop is an element a running stage discards by one of its rules while
// the pipeline goes on: a [Buffer]'s overflow policy, ticks [Tick] missed,
// a window's late element, [Zip]'s element without a partner, and the
// elements bound for, or left in, an output whose consumer released it
// while another output of the stage was still read ([Partition], [Split],
// [FanOut]; not [Broadcast], whose other outputs got their copies). Every
// drop is counted once in
// [StageStats].Dropped, passed to [OnDrop] if the stage has it, and
// reported to the [Observer] as ElementDropped: the three always agree.
//
// Elements discarded because the pipeline ended (Stop, an error, the
// parent context's end), or because nobody wants a stage's output any more
// (every output released: [Take] or [First] downstream), are not drops:
// they are not counted anywhere, like the values an iterator never yields
// after its loop breaks.
//
// # Resilience
//
// Stages that call a user function (Map, Filter, FlatMap, ForEach) accept
// per-element policies: [Timeout] gives each call a deadline (which the
// function must honour: Go cannot interrupt it), [Retry] retries a
// failed call with bounded exponential backoff and jitter, and [OnError]
// decides, after the retries, whether a failed element is skipped or fails
// the pipeline. [AdaptiveWorkers] adjusts a stage's concurrency to keep its
// latency at a target. Unused, these options cost nothing; Retry and
// OnError cost nothing until an element fails, while Timeout costs a
// context and a timer on every call (see "Costs").
//
// # Observability
//
// [Pipeline.Stats] reports per stage what went in and out, errors, drops,
// retries, panics, the fill of its output queue, its busy workers and a
// sampled latency summary: a stage in front of a slow one shows a full
// queue. The latency summary ([LatencySummary]) carries quantiles less than
// 12.5% above the exact ones and the histogram's buckets, which the
// adapter modules export as real histograms: streamprom (Prometheus) and
// streamotel (OpenTelemetry). An [Observer] ([Pipeline.SetObserver], [WithObserver],
// [SlogObserver]) hears about starts, stops, failures, retries, drops and
// panics. [Pipeline.Graph] draws the topology as a Mermaid flowchart, and
// the streamweb module serves it as a live page with per-stage rates.
//
// # Adapter modules
//
// Dependencies heavier than golang.org/x stay out of this module: each
// adapter is a module of its own beside it — streamprom (a Prometheus
// collector for Stats), streamotel (OpenTelemetry metrics), streamweb (the
// live view, an http.Handler) and streamnats (NATS JetStream sources and
// sinks with at-least-once delivery across processes).
//
// # Reading input
//
// [Lines], [JSONLines] and [CSVRecords] turn an [io.Reader] into a stream
// of lines, decoded JSON values or CSV records, with a buffer bounded by
// [MaxLineLength]: a longer line fails the pipeline with [ErrLineTooLong],
// never exhausts memory. The reader stays the caller's: these sources never
// close it, and the caller keeps it open until the pipeline has ended. A
// source notices that it should stop only between reads, except on a reader
// with a SetReadDeadline method (a net.Conn), whose blocked Read it
// interrupts. Close any other reader that can block for long when the
// pipeline's context is done (context.AfterFunc), and end such a pipeline
// with [Pipeline.Stop] or an error: a [First] or [Take] that releases the
// source does not end the pipeline's context, so it would wait for the
// blocked Read.
//
// # Stream processing
//
// [WindowReduce] folds a stream per key and per time window into one
// aggregate per open (key, window), never keeping the elements, and emits a
// [Pane] when the window closes: [Tumbling] windows cut time into equal,
// adjacent intervals, [Sliding] ones overlap, and a [Session] lasts for as
// long as a key keeps arriving within a gap. Windows follow the clock
// (processing time) unless [EventTime] gives each element its own time;
// then the watermark, the latest time seen minus the allowed lateness,
// closes them, and an element arriving after all its windows closed is late:
// dropped and counted like any drop. The watermark moves only with the
// elements, so an event-time stream that goes quiet keeps its last windows
// open until the input closes: [Idle] lets the watermark follow the clock
// after a quiet spell instead. The open panes are bounded ([MaxPanes],
// [DefaultMaxPanes]); beyond the bound the pane that would close first goes
// out early, flagged and counted in [StageStats].Early. A window stage uses
// one goroutine and at most one timer, stopped when it ends. An unkeyed
// window that collects its elements is WindowReduce with a single key and a
// fold that appends: what the fold keeps is the memory it needs, so keep it
// bounded (see the examples of WindowReduce).
//
// [Scan] emits a running fold, [Distinct] removes repeats among a bounded
// memory of recent keys, [Split] routes by a predicate to two outputs, [Zip]
// pairs two streams, and [Debounce] passes only the element a burst settles
// on. The sinks [Count], [Any] and [All] answer a question
// about a stream; Any and All release their input at the answer, like
// [First]. [Values] turns a stream into an iterator for a range loop in the
// caller's goroutine; breaking out of the loop releases the input. (Do not
// call Wait inside such a loop: the pipeline ends only when the loop does.)
//
// # Concurrency
//
// A stage with [Workers](n) calls its function from n goroutines at once:
// the function must be safe for concurrent use. No stage ever starts a
// goroutine per element. The pipeline's methods and [Pipeline.Stats] are safe
// for concurrent use.
//
// # Programmer errors
//
// Misuse that no run-time condition can excuse panics when the stage or the
// option is created, with a message that starts with "stream: ":
//
//   - a nil pipeline, context, function, sequence, reader, [Observer],
//     logger, [Option] or input channel;
//   - a parameter outside the range its function documents: Workers(n) with
//     n < 1, Capacity(n) with n < 0, an empty [Name], a negative Take, a
//     non-positive Tick, Timeout or window length, an invalid [RetryPolicy]
//     field, and so on;
//   - sizes too large to allocate: Workers and AdaptiveWorkers' max, the n
//     of FanOut, Broadcast and Partition, above 65536; a channel capacity
//     above 2^30 elements or 1 GiB;
//   - an option that does not apply to the stage it is given to (each
//     function's documentation says which apply): [Capacity] on [Buffer],
//     whose size is its capacity, or on ForEach, which has no output;
//     [Workers] anywhere but Map, Filter, FlatMap, Flatten, ForEach and
//     Split (not on a source, Take or Batch, for instance); [Ordered]
//     anywhere but Map, Filter, FlatMap and Flatten (not on ForEach);
//     Timeout, Retry, OnError and AdaptiveWorkers anywhere but Map, Filter,
//     FlatMap, ForEach and Split; [OnDrop] anywhere but Buffer, FanOut,
//     Partition, Split and WindowReduce; the window options anywhere but
//     WindowReduce; [MaxLineLength] anywhere but the reader sources;
//   - options that contradict each other: [AdaptiveWorkers] with
//     [Ordered]; [Idle] without [EventTime];
//   - a generic option ([OnError], [OnDrop], [EventTime]) for an element
//     type other than the stage's;
//   - a name already taken by another stage of the pipeline;
//   - a channel, made by the pipeline or by the caller, consumed by two
//     stages, or passed twice to one (Merge, Zip);
//   - a stage added after Wait was called.
//
// [Pipeline.Wait] and the blocking sinks called from the pipeline's own
// goroutines (a stage's function, an [Observer]) panic too, since they
// would wait for themselves; there the panic fails the pipeline.
//
// # Edge cases
//
//   - An empty or nil input gives an output that closes at once; sinks return
//     their zero result ([First] returns [ErrEmpty]).
//   - A pipeline whose context is already cancelled starts no element; Wait
//     returns the context's error, even if no stage had anything to do.
//   - Stop may be called any number of times, before or after Wait.
//   - Wait may be called any number of times, from any goroutine outside
//     the pipeline; each call returns the same result.
//   - A pipeline with no stage: Wait returns nil.
//
// # Costs
//
// The engine takes no lock per element and allocates nothing per element:
// sends try a non-blocking send before a select, receives from the
// pipeline's own stages block on the channel alone, and counts are kept per
// worker and published in batches. What does allocate is what an element
// needs: [Batch]'s slices, the strings and values the reader sources make,
// the state that windows and [Distinct] keep per key, and [Timeout]'s
// context and timer for every call (as context.WithTimeout per element in
// hand-written code).
//
// What a stage adds to the hand-written channel code it replaces is a fixed
// cost per element and hop — a cancellation check before a user function,
// counting and sampled latency, two closure calls — and two atomic stores
// each time a worker blocks waiting for input: lost in the noise for work
// of a microsecond or more per element, visible for trivial work. Between
// two stages that hand elements on in chunks (see "Channels"), a
// compare-and-swap per element replaces a channel operation per element,
// which is why a chain of trivial stages runs faster than the same chain
// hand-written with channels; a lone element through an idle pipeline pays
// a few atomic operations more per hop than it would on a channel. Once per
// worker, not per element, a starting worker reads its goroutine's id (a
// few microseconds), so that [Pipeline.Wait] can refuse a call from the
// pipeline's own goroutines instead of waiting forever. The
// measured figures, with their command, are in the README's "Performance"
// section, generated from the benchmarks module (benchmarks/README.md has
// every case); bench_test.go has the library's own quick benchmarks.
package stream
