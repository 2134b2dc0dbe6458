// Package streamotel exports the statistics of a [stream.Pipeline] as
// OpenTelemetry metrics.
//
// [Register] creates observable instruments on a meter and one callback
// that reads [stream.Pipeline.Stats] once per collection. Each stage is one
// attribute set, {stage, kind} plus the [Attributes] given:
//
//	stream.stage.elements.in        counter  {element}    elements received from the input
//	stream.stage.elements.out       counter  {element}    elements sent to the output(s)
//	stream.stage.errors             counter  {element}    elements whose function failed
//	stream.stage.skipped            counter  {element}    failed elements skipped by OnError
//	stream.stage.dropped            counter  {element}    elements dropped (Buffer, released outputs, missed ticks)
//	stream.stage.retries            counter  {retry}      retries (calls beyond each element's first)
//	stream.stage.panics             counter  {panic}      panics recovered
//	stream.stage.queue.length       gauge    {element}    elements waiting in the output channel(s)
//	stream.stage.queue.capacity     gauge    {element}    capacity of the output channel(s)
//	stream.stage.busy_workers       gauge    {goroutine}  goroutines not waiting for input
//	stream.stage.workers            gauge    {goroutine}  goroutines of the stage
//	stream.stage.worker_limit       gauge    {goroutine}  concurrency limit (AdaptiveWorkers), else workers
//	stream.stage.done               gauge    1            1 once every goroutine of the stage has exited
//	stream.stage.latency_quantile   gauge    s            latency quantiles, attribute "q": 0.5, 0.9, 0.99
//
// The stage latency histogram, "stream.stage.latency" in seconds, comes
// from a [Producer] ([NewProducer]) given to the reader with
// [sdkmetric.WithProducer]: the OpenTelemetry API has no asynchronous
// histogram, and a producer passes on the engine's own bucket counts
// exactly (recording the samples again into a synchronous histogram could
// not). Its buckets are the engine's counts read at fixed bounds, by
// default every power of two of nanoseconds from 2^10ns (1.024µs) to
// 2^35ns (34.4s) ([DefaultLatencyBounds]); powers of two are bounds of the
// engine's finer buckets, so these counts are exact, and nothing is capped.
// The quantile gauges are more precise than an estimate from those bounds:
// the engine computes them from buckets eight times finer, each an upper
// bound less than 12.5% above the exact nearest-rank quantile.
// [stream.LatencySummary] says what is timed, for sources and Batch too.
//
// Nothing runs between collections: no goroutine, no cost to the pipeline.
// Counters of a running stage are published by its workers in small
// batches, so a collection may lag the true count by a few dozen elements
// per worker; they are exact for an idle or finished stage. Stage names are
// unique in a pipeline; invalid UTF-8 in a name is replaced by U+FFFD, and
// should two names become equal that way, the later stage is exported as
// "name (2)", "name (3)", … in the order the stages were added.
//
// Wiring it up (the exporter is any [sdkmetric.Exporter]):
//
//	p := stream.New(ctx)
//	reader := sdkmetric.NewPeriodicReader(exporter,
//		sdkmetric.WithProducer(streamotel.NewProducer(p)))
//	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
//	reg, err := streamotel.Register(provider.Meter(streamotel.ScopeName), p)
//	if err != nil { … }
//	defer reg.Unregister()
package streamotel
