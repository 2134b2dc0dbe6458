package stream_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pipewright/stream"
)

// One regression test per entry of the pitfall catalogue (docs/pitfalls.md).
// Each uses the package as a user would and fails if the library loses the
// guarantee the entry names. Scheduling-dependent checks run in a
// testing/synctest bubble: synctest.Wait returns once every goroutine of the
// pipeline is blocked or gone, so "it ended" and "it is still blocked" are
// observed without sleeping. User functions that must stay alive block on a
// channel or their context, never spin, so that the bubble can go quiet.

// TestPitfall_P01_ConsumerStopsReading: the caller reads a few elements and
// then stops reading, so every producer fills its buffer and blocks on send.
// Each way of ending the pipeline must unblock those sends: the source's
// generator returns and Wait returns.
func TestPitfall_P01_ConsumerStopsReading(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name   string
		end    func(p *stream.Pipeline, cancel context.CancelFunc, fail chan<- error)
		wantIs error // nil: Wait returns nil
	}{
		{"ended by Stop", func(p *stream.Pipeline, _ context.CancelFunc, _ chan<- error) { p.Stop() }, nil},
		{"ended by the parent context", func(_ *stream.Pipeline, cancel context.CancelFunc, _ chan<- error) { cancel() }, context.Canceled},
		{"ended by another stage failing", func(_ *stream.Pipeline, _ context.CancelFunc, fail chan<- error) { fail <- errBoom }, errBoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				p := stream.New(ctx)
				defer p.Stop() // a failed check still lets the goroutines end
				fail := make(chan error, 1)
				p.Go("watchdog", func(ctx context.Context) error {
					select {
					case err := <-fail:
						return err
					case <-ctx.Done():
						return nil
					}
				})
				stopped := make(chan struct{})
				out := stream.Map(p, stream.Generate(p, infinite(stopped)), double, stream.Workers(2), stream.Name("double"))
				for range 3 {
					<-out
				}
				// The caller reads no more.
				done := waitAsync(p)
				synctest.Wait()
				_, ended := returned(done)
				require.False(t, ended, "nothing has ended the pipeline yet")
				st := statsOf(t, p, "double")
				require.Equal(t, st.QueueCap, st.QueueLen, "the producer is blocked on a full output")

				tt.end(p, cancel, fail)
				synctest.Wait()
				err, ended := returned(done)
				require.True(t, ended, "Wait returned: no send stayed blocked")
				pitfallRequireClosed(t, stopped, "the generator returned")
				if tt.wantIs == nil {
					require.NoError(t, err)
				} else {
					require.ErrorIs(t, err, tt.wantIs)
				}
			})
		})
	}
}

// TestPitfall_P03_CancellationReachesEveryGoroutine: a user function of
// every kind of stage, each Workers(n) goroutine of it included, blocks on
// its context. Cancelling the parent context must reach all of them.
func TestPitfall_P03_CancellationReachesEveryGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 4
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		p := stream.New(ctx)
		var entered, exited atomic.Int64
		block := func(ctx context.Context) error {
			entered.Add(1)
			defer exited.Add(1)
			<-ctx.Done()
			return ctx.Err()
		}
		stream.ForEach(p, stream.Map(p, stream.FromSlice(p, seq(n)), func(ctx context.Context, v int) (int, error) {
			return v, block(ctx)
		}, stream.Workers(n)), pitfallIgnore)
		stream.ForEach(p, stream.Filter(p, stream.FromSlice(p, seq(n)), func(ctx context.Context, _ int) (bool, error) {
			return true, block(ctx)
		}, stream.Workers(n)), pitfallIgnore)
		stream.ForEach(p, stream.FlatMap(p, stream.FromSlice(p, seq(n)), func(ctx context.Context, _ int, _ func(int) error) error {
			return block(ctx)
		}, stream.Workers(n)), pitfallIgnore)
		stream.ForEach(p, stream.FromSlice(p, seq(n)), func(ctx context.Context, _ int) error {
			return block(ctx)
		}, stream.Workers(n))
		stream.ForEach(p, stream.Generate(p, func(ctx context.Context, _ func(int) error) error {
			return block(ctx)
		}), pitfallIgnore)
		p.Go("custom", block)
		const want = 4*n + 2

		done := waitAsync(p)
		synctest.Wait()
		require.Equal(t, int64(want), entered.Load(), "every user function is blocked on its context")
		_, ended := returned(done)
		require.False(t, ended)

		cancel()
		synctest.Wait()
		assert.Equal(t, int64(want), exited.Load(), "every blocked user function saw the cancellation")
		err, ended := returned(done)
		require.True(t, ended, "Wait returned")
		require.ErrorIs(t, err, context.Canceled)
	})
}

// TestPitfall_P04_CloseOnceAndCleanupOnce: however the pipeline ends, the
// output of a Workers(4) stage is closed once, after its last worker (a
// range over it ends, no close panics), and the source's own cleanup (the
// defer in a Generate function or an iterator) has run exactly once by the
// time Wait returns. A stage never closes a channel it did not make.
func TestPitfall_P04_CloseOnceAndCleanupOnce(t *testing.T) {
	errBoom := errors.New("boom")
	sources := []struct {
		name string
		make func(p *stream.Pipeline, cleanups *atomic.Int64, limit int) <-chan int
	}{
		{"Generate", func(p *stream.Pipeline, cleanups *atomic.Int64, limit int) <-chan int {
			return stream.Generate(p, func(_ context.Context, emit func(int) error) error {
				defer cleanups.Add(1)
				for i := 0; limit < 0 || i < limit; i++ {
					if err := emit(i); err != nil {
						return err
					}
				}
				return nil
			})
		}},
		{"FromSeq", func(p *stream.Pipeline, cleanups *atomic.Int64, limit int) <-chan int {
			var s iter.Seq[int] = func(yield func(int) bool) {
				defer cleanups.Add(1)
				for i := 0; limit < 0 || i < limit; i++ {
					if !yield(i) {
						return
					}
				}
			}
			return stream.FromSeq(p, s)
		}},
	}
	endings := []struct {
		name   string
		limit  int // elements the source has; -1: infinite
		failAt int // element on which the Map fails; -1: never
		// end, if not nil, runs once the caller has read 3 elements.
		end    func(p *stream.Pipeline, cancel context.CancelFunc)
		wantIs error
	}{
		{"the source runs out", 10, -1, nil, nil},
		{"a function fails", -1, 5, nil, errBoom},
		{"Stop", -1, -1, func(p *stream.Pipeline, _ context.CancelFunc) { p.Stop() }, nil},
		{"the parent ends", -1, -1, func(_ *stream.Pipeline, cancel context.CancelFunc) { cancel() }, context.Canceled},
	}
	for _, src := range sources {
		for _, tt := range endings {
			t.Run(src.name+" "+tt.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					p := stream.New(ctx)
					defer p.Stop()
					var cleanups atomic.Int64
					out := stream.Map(p, src.make(p, &cleanups, tt.limit), func(_ context.Context, v int) (int, error) {
						if v == tt.failAt {
							return 0, errBoom
						}
						return v, nil
					}, stream.Workers(4))
					read := 0
					for range out { // ends only when out is closed
						if read++; read == 3 && tt.end != nil {
							tt.end(p, cancel)
						}
					}
					_, ok := <-out
					require.False(t, ok, "a closed output stays closed")
					err := p.Wait()
					if tt.wantIs == nil {
						require.NoError(t, err)
					} else {
						require.ErrorIs(t, err, tt.wantIs)
					}
					assert.Equal(t, int64(1), cleanups.Load(), "the source's cleanup ran exactly once")
				})
			})
		}
	}
	t.Run("the caller's input channel is not closed by the stage", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			in := make(chan int)
			out := stream.Map(p, in, double, stream.Workers(4))
			in <- 1
			<-out
			p.Stop()
			for range out {
			}
			require.NoError(t, p.Wait())
			require.NotPanics(t, func() { close(in) }, "only the caller, who made it, closes in")
		})
	})
}

// TestPitfall_P05_UnbufferedAndSlowOrDeadConsumers: unbuffered stages in
// front of a slow sink still deliver everything, at the sink's pace; and a
// consumer that never reads leaves its producers blocked on a bounded buffer
// but does not keep Stop and Wait from ending them.
func TestPitfall_P05_UnbufferedAndSlowOrDeadConsumers(t *testing.T) {
	t.Run("unbuffered stages and a slow sink finish", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			const n = 50
			p := stream.New(context.Background())
			start := time.Now()
			c := stream.FromSlice(p, seq(n), stream.Capacity(0))
			c = stream.Map(p, c, double, stream.Workers(3), stream.Capacity(0))
			c = stream.Filter(p, c, func(context.Context, int) (bool, error) { return true, nil }, stream.Capacity(0))
			sum := 0
			stream.ForEach(p, c, func(_ context.Context, v int) error {
				time.Sleep(time.Second) // a slow consumer, in the bubble's fake time
				sum += v
				return nil
			})
			require.NoError(t, p.Wait())
			assert.Equal(t, n*(n-1), sum, "every element arrived")
			assert.Equal(t, n*time.Second, time.Since(start), "the slow sink set the pace; nothing else waited")
		})
	})
	t.Run("a consumer that never reads does not block Stop and Wait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			stopped := make(chan struct{})
			var emitted atomic.Int64
			src := stream.Generate(p, func(_ context.Context, emit func(int) error) error {
				defer close(stopped)
				for i := 0; ; i++ {
					if err := emit(i); err != nil {
						return err
					}
					emitted.Add(1)
				}
			})
			_ = stream.Map(p, src, double, stream.Capacity(0)) // nobody ever reads it
			err := waitEndsAtOnce(t, p, func() {
				// The edge holds its capacity, plus (chunked hand-off, see
				// Capacity) a chunk of up to 16 in the Map's hand and one
				// being filled: capacity + 2*16.
				assert.LessOrEqual(t, emitted.Load(), int64(stream.DefaultCapacity+2*16),
					"the producer waits on a bounded default buffer")
				p.Stop()
			})
			require.NoError(t, err, "Wait returned though the output was never read")
			pitfallRequireClosed(t, stopped, "the generator returned")
		})
	})
}

// TestPitfall_P06_FirstErrorWins: one worker fails while seven others of its
// stage, the workers of another stage and a custom stage are all inside
// their functions; every one of them fails too, as soon as the first failure
// cancels it. Wait returns the first error, nothing else.
func TestPitfall_P06_FirstErrorWins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const workers = 8
		errFirst := errors.New("first failure")
		errLate := errors.New("late failure")
		p := stream.New(context.Background())
		defer p.Stop()
		fire := make(chan struct{})
		var late atomic.Int64
		failLate := func(ctx context.Context, who string) error {
			<-ctx.Done()
			late.Add(1)
			return fmt.Errorf("%s: %w", who, errLate)
		}
		stream.ForEach(p, stream.FromSlice(p, seq(workers)), func(ctx context.Context, v int) error {
			if v == 0 {
				<-fire
				return errFirst
			}
			return failLate(ctx, fmt.Sprint("worker ", v))
		}, stream.Workers(workers), stream.Name("fails"))
		stream.ForEach(p, stream.Generate(p, infinite(nil)), func(ctx context.Context, _ int) error {
			return failLate(ctx, "sibling")
		}, stream.Workers(4))
		p.Go("custom", func(ctx context.Context) error { return failLate(ctx, "custom") })

		done := waitAsync(p)
		synctest.Wait() // every worker is inside its function
		close(fire)
		synctest.Wait()
		err, ended := returned(done)
		require.True(t, ended, "Wait returned")
		require.ErrorIs(t, err, errFirst)
		assert.NotErrorIs(t, err, errLate, "a later failure is not reported instead of the first")
		assert.NotErrorIs(t, err, context.Canceled)
		var se *stream.Error
		require.ErrorAs(t, err, &se)
		assert.Equal(t, "fails", se.Stage)
		assert.Equal(t, int64(workers-1+4+1), late.Load(), "the other functions did fail, after the first")
		assert.Equal(t, err, context.Cause(p.Context()), "the first error is the pipeline's cause")
		assert.Equal(t, err, p.Wait(), "and stays Wait's result")
	})
}

// TestPitfall_P08_BoundedWorkers: Workers(4) over 100,000 elements never has
// more than four calls in flight, and the number of goroutines stays that of
// the stages, whatever the element count.
func TestPitfall_P08_BoundedWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const (
			n       = 100_000
			workers = 4
		)
		base := runtime.NumGoroutine()
		p := stream.New(context.Background())
		defer p.Stop()
		gate := make(chan struct{})
		var inFlight, peak, peakGoroutines atomic.Int64
		out := stream.Map(p, stream.FromSlice(p, seq(n)), func(_ context.Context, v int) (int, error) {
			defer inFlight.Add(-1)
			pitfallStoreMax(&peak, inFlight.Add(1))
			if v%1000 == 0 {
				pitfallStoreMax(&peakGoroutines, int64(runtime.NumGoroutine()))
			}
			<-gate // closed once the test has looked at the calls in flight
			return v, nil
		}, stream.Workers(workers))
		count := 0
		stream.ForEach(p, out, func(context.Context, int) error { count++; return nil })
		done := waitAsync(p)

		synctest.Wait() // as many calls as can start have started
		assert.Equal(t, int64(workers), inFlight.Load(), "exactly Workers calls are in flight")
		close(gate)
		require.NoError(t, <-done)
		assert.Equal(t, n, count)
		assert.LessOrEqual(t, peak.Load(), int64(workers), "never more than Workers calls at once")
		// source + workers + sink + waitAsync, and a little room for the
		// runtime's own; one goroutine per element would be thousands.
		const stageGoroutines = 1 + workers + 1 + 1
		assert.LessOrEqual(t, peakGoroutines.Load()-int64(base), int64(stageGoroutines+4),
			"goroutines do not grow with the element count")
	})
}

// TestPitfall_P10_NoSendOnClosedOrDoubleClose: 200 pipelines of
// Workers(8) stages are ended at pseudo-random points, by the caller's Stop,
// by a Stop from inside a worker, or by a worker's error, while the other
// workers are still sending. A send on a closed channel would surface as a
// *PanicError, a double close would crash the test binary.
func TestPitfall_P10_NoSendOnClosedOrDoubleClose(t *testing.T) {
	errBoom := errors.New("boom")
	rng := rand.New(rand.NewPCG(10, 10)) // fixed seed: the same 200 pipelines every run
	for i := range 200 {
		at, how := rng.IntN(300), rng.IntN(3)
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			defer p.Stop()
			c := stream.Map(p, stream.FromSlice(p, seq(500)), func(_ context.Context, v int) (int, error) {
				if how == 1 && v == at {
					p.Stop()
				}
				return v, nil
			}, stream.Workers(8))
			c = stream.Filter(p, c, func(_ context.Context, v int) (bool, error) {
				if how == 2 && v == at {
					return false, errBoom
				}
				return true, nil
			}, stream.Workers(8))
			c = stream.FlatMap(p, c, func(_ context.Context, v int, emit func(int) error) error {
				if err := emit(v); err != nil {
					return err
				}
				return emit(v)
			}, stream.Workers(8), stream.Capacity(1))
			read := 0
			for range c {
				if read++; how == 0 && read == at {
					p.Stop()
				}
			}
			err := p.Wait()
			var pe *stream.PanicError
			require.False(t, errors.As(err, &pe), "pipeline %d (end %d at %d): %v", i, how, at, err)
			if how == 2 {
				require.ErrorIs(t, err, errBoom, "pipeline %d", i)
			} else {
				require.NoError(t, err, "pipeline %d", i)
			}
		})
	}
}

// pitfallPanicky panics on element 7; its name must show in the stack of
// the *PanicError.
func pitfallPanicky(v int) {
	if v == 7 {
		panic("pitfall P12")
	}
}

// TestPitfall_P12_PanicBecomesError: a panic in the function of any kind of
// stage is recovered, fails the pipeline as a *PanicError carrying the
// panicking function's stack, and ends the other stages; the process lives.
func TestPitfall_P12_PanicBecomesError(t *testing.T) {
	culprit := stream.Name("culprit")
	tests := []struct {
		name      string
		build     func(p *stream.Pipeline) error // returns the pipeline's result
		wantStage string
	}{
		{"Generate", func(p *stream.Pipeline) error {
			return stream.Drain(p, stream.Generate(p, func(_ context.Context, emit func(int) error) error {
				for i := 0; ; i++ {
					pitfallPanicky(i)
					if err := emit(i); err != nil {
						return err
					}
				}
			}, culprit))
		}, "culprit"},
		{"FromSeq", func(p *stream.Pipeline) error {
			return stream.Drain(p, stream.FromSeq(p, func(yield func(int) bool) {
				for i := 0; ; i++ {
					pitfallPanicky(i)
					if !yield(i) {
						return
					}
				}
			}, culprit))
		}, "culprit"},
		{"Map", func(p *stream.Pipeline) error {
			return stream.Drain(p, stream.Map(p, stream.FromSlice(p, seq(20)), func(_ context.Context, v int) (int, error) {
				pitfallPanicky(v)
				return v, nil
			}, stream.Workers(4), culprit))
		}, "culprit"},
		{"Filter", func(p *stream.Pipeline) error {
			return stream.Drain(p, stream.Filter(p, stream.FromSlice(p, seq(20)), func(_ context.Context, v int) (bool, error) {
				pitfallPanicky(v)
				return true, nil
			}, stream.Workers(4), culprit))
		}, "culprit"},
		{"FlatMap", func(p *stream.Pipeline) error {
			return stream.Drain(p, stream.FlatMap(p, stream.FromSlice(p, seq(20)), func(_ context.Context, v int, emit func(int) error) error {
				pitfallPanicky(v)
				return emit(v)
			}, stream.Workers(4), culprit))
		}, "culprit"},
		{"ForEach", func(p *stream.Pipeline) error {
			stream.ForEach(p, stream.FromSlice(p, seq(20)), func(_ context.Context, v int) error {
				pitfallPanicky(v)
				return nil
			}, stream.Workers(4), culprit)
			return p.Wait()
		}, "culprit"},
		{"Reduce", func(p *stream.Pipeline) error {
			_, err := stream.Reduce(p, stream.FromSlice(p, seq(20)), 0, func(acc, v int) int {
				pitfallPanicky(v)
				return acc + v
			})
			return err
		}, ""},
		{"Go", func(p *stream.Pipeline) error {
			p.Go("culprit", func(context.Context) error {
				pitfallPanicky(7)
				return nil
			})
			return p.Wait()
		}, "culprit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := stream.New(context.Background())
				defer p.Stop()
				// An independent branch that would wait forever.
				stopped := make(chan struct{})
				var siblingEnded atomic.Bool
				stream.ForEach(p, stream.Generate(p, infinite(stopped)), func(ctx context.Context, _ int) error {
					<-ctx.Done()
					siblingEnded.Store(true)
					return ctx.Err()
				})
				synctest.Wait() // the sibling's sink is waiting inside its function
				err := tt.build(p)
				var pe *stream.PanicError
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, "pitfall P12", pe.Value)
				assert.Contains(t, string(pe.Stack), "stream_test.pitfallPanicky", "the stack shows the panicking function")
				var se *stream.Error
				require.ErrorAs(t, err, &se)
				if tt.wantStage != "" {
					assert.Equal(t, tt.wantStage, se.Stage)
				}
				pitfallRequireClosed(t, stopped, "the other branch's source ended")
				assert.True(t, siblingEnded.Load(), "the other branch's sink ended")
			})
		})
	}
}

// TestPitfall_P19_EarlyReturnStopsUpstream: a consumer that returns early
// leaves no upstream goroutine behind.
func TestPitfall_P19_EarlyReturnStopsUpstream(t *testing.T) {
	t.Run("First on a chain from an infinite source", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			defer p.Stop()
			stopped := make(chan struct{})
			c := stream.Generate(p, infinite(stopped))
			c = stream.Map(p, c, double, stream.Workers(3))
			c = stream.Filter(p, c, func(_ context.Context, v int) (bool, error) { return v > 100, nil }, stream.Workers(2))
			c = stream.Map(p, c, func(_ context.Context, v int) (int, error) { return v + 1, nil })
			type result struct {
				v   int
				err error
			}
			res := make(chan result, 1)
			go func() {
				v, err := stream.First(p, c)
				res <- result{v, err}
			}()
			synctest.Wait()
			var r result
			select {
			case r = <-res:
			default:
				require.FailNow(t, "First has not returned: an upstream stage still runs")
			}
			require.NoError(t, r.err, "an early end is not an error")
			assert.Greater(t, r.v, 101)
			assert.Equal(t, 1, r.v%2)
			pitfallRequireClosed(t, stopped, "the infinite generator returned")
			for _, s := range p.Stats() {
				assert.True(t, s.Done, "stage %s ended", s.Name)
			}
		})
	})
	t.Run("the caller breaks out of a range and stops", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := stream.New(context.Background())
			defer p.Stop()
			stopped := make(chan struct{})
			c := stream.Map(p, stream.Generate(p, infinite(stopped)), double, stream.Workers(3))
			for v := range c {
				if v > 10 {
					break
				}
			}
			// An output nobody reads keeps its producer waiting until the
			// pipeline ends; then it ends at once.
			require.NoError(t, waitEndsAtOnce(t, p, p.Stop))
			pitfallRequireClosed(t, stopped, "the infinite generator returned")
		})
	})
}

// TestPitfall_P20_OneFailureStopsTheOthers: a branch that would run forever
// (an infinite source, a sink waiting on its context) and a custom stage end
// when an independent branch fails, with that failure as their context's
// cause; Wait returns it.
func TestPitfall_P20_OneFailureStopsTheOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errBoom := errors.New("boom")
		p := stream.New(context.Background())
		defer p.Stop()
		causes := make(chan error, 2)
		stopped := make(chan struct{})
		forever := stream.Map(p, stream.Generate(p, infinite(stopped)), double, stream.Workers(2))
		stream.ForEach(p, forever, func(ctx context.Context, _ int) error {
			<-ctx.Done()
			causes <- context.Cause(ctx)
			return ctx.Err()
		})
		p.Go("custom", func(ctx context.Context) error {
			<-ctx.Done()
			causes <- context.Cause(ctx)
			return nil
		})
		fail := make(chan struct{})
		stream.ForEach(p, stream.FromSlice(p, seq(3)), func(_ context.Context, v int) error {
			if v == 1 {
				<-fail
				return errBoom
			}
			return nil
		}, stream.Name("fails"))

		done := waitAsync(p)
		synctest.Wait()
		_, ended := returned(done)
		require.False(t, ended, "the pipeline runs until a stage fails")
		close(fail)
		synctest.Wait()
		err, ended := returned(done)
		require.True(t, ended, "one failure ended every stage")
		require.ErrorIs(t, err, errBoom)
		var se *stream.Error
		require.ErrorAs(t, err, &se)
		assert.Equal(t, "fails", se.Stage)
		pitfallRequireClosed(t, stopped, "the infinite source returned")
		close(causes)
		n := 0
		for cause := range causes {
			n++
			assert.ErrorIs(t, cause, errBoom, "the stages were cancelled with the failure as cause")
		}
		assert.Equal(t, 2, n)
	})
}

// TestPitfall_P21_NoNewElementAfterCancellation: with Workers(1) and an
// input full of queued elements, the function stops the pipeline while
// handling element k. The call in flight sees a done context, and no call
// starts for a later element, whether the queue is the caller's channel or a
// stage's output. The table holds every stage that calls user code on the
// elements it receives (Reduce's fn and Partition's key see the pipeline's
// context); a stage registered without the check before its user function
// fails here (issue 18, survivor 2: Reduce).
func TestPitfall_P21_NoNewElementAfterCancellation(t *testing.T) {
	const (
		queued = 100
		k      = 10
	)
	type fn = func(ctx context.Context, v int) // the user function's body
	stages := []struct {
		name string
		add  func(p *stream.Pipeline, in <-chan int, body fn)
	}{
		{"Map", func(p *stream.Pipeline, in <-chan int, body fn) {
			stream.ForEach(p, stream.Map(p, in, func(ctx context.Context, v int) (int, error) { body(ctx, v); return v, nil }), pitfallIgnore)
		}},
		{"Filter", func(p *stream.Pipeline, in <-chan int, body fn) {
			stream.ForEach(p, stream.Filter(p, in, func(ctx context.Context, v int) (bool, error) { body(ctx, v); return true, nil }), pitfallIgnore)
		}},
		{"FlatMap", func(p *stream.Pipeline, in <-chan int, body fn) {
			stream.ForEach(p, stream.FlatMap(p, in, func(ctx context.Context, v int, emit func(int) error) error {
				body(ctx, v)
				return emit(v)
			}), pitfallIgnore)
		}},
		{"ForEach", func(p *stream.Pipeline, in <-chan int, body fn) {
			stream.ForEach(p, in, func(ctx context.Context, v int) error { body(ctx, v); return nil })
		}},
		{"Reduce", func(p *stream.Pipeline, in <-chan int, body fn) {
			go stream.Reduce(p, in, 0, func(acc, v int) int { body(p.Context(), v); return acc + v })
		}},
		{"Partition", func(p *stream.Pipeline, in <-chan int, body fn) {
			for _, out := range stream.Partition(p, in, 2, func(v int) int { body(p.Context(), v); return v }) {
				stream.ForEach(p, out, pitfallIgnore)
			}
		}},
		{"Scan", func(p *stream.Pipeline, in <-chan int, body fn) {
			stream.ForEach(p, stream.Scan(p, in, 0, func(acc, v int) int { body(p.Context(), v); return acc + v }), pitfallIgnore)
		}},
		{"Distinct", func(p *stream.Pipeline, in <-chan int, body fn) {
			stream.ForEach(p, stream.Distinct(p, in, func(v int) int { body(p.Context(), v); return v }, 10), pitfallIgnore)
		}},
		{"Split", func(p *stream.Pipeline, in <-chan int, body fn) {
			yes, no := stream.Split(p, in, func(ctx context.Context, v int) (bool, error) { body(ctx, v); return v%2 == 0, nil })
			stream.ForEach(p, yes, pitfallIgnore)
			stream.ForEach(p, no, pitfallIgnore)
		}},
		{"WindowReduce", func(p *stream.Pipeline, in <-chan int, body fn) {
			panes := stream.WindowReduce(p, in, stream.Tumbling(time.Hour),
				func(v int) int { body(p.Context(), v); return v % 3 }, 0, func(acc, v int) int { return acc + v })
			stream.ForEach(p, panes, func(context.Context, stream.Pane[int, int]) error { return nil })
		}},
		{"Any", func(p *stream.Pipeline, in <-chan int, body fn) {
			go stream.Any(p, in, func(v int) bool { body(p.Context(), v); return false })
		}},
		{"All", func(p *stream.Pipeline, in <-chan int, body fn) {
			go stream.All(p, in, func(v int) bool { body(p.Context(), v); return true })
		}},
		{"Values", func(p *stream.Pipeline, in <-chan int, body fn) {
			go func() {
				for v, err := range stream.Values(p, in) {
					if err != nil {
						return
					}
					body(p.Context(), v)
				}
			}()
		}},
		{"Map Ordered", func(p *stream.Pipeline, in <-chan int, body fn) {
			stream.ForEach(p, stream.Map(p, in, func(ctx context.Context, v int) (int, error) { body(ctx, v); return v, nil },
				stream.Workers(1), stream.Ordered()), pitfallIgnore)
		}},
		{"Map with policies", func(p *stream.Pipeline, in <-chan int, body fn) {
			stream.ForEach(p, stream.Map(p, in, func(ctx context.Context, v int) (int, error) { body(ctx, v); return v, nil },
				stream.Timeout(time.Hour), stream.Retry(stream.RetryPolicy{}), stream.OnError(func(int, error) error { return nil })), pitfallIgnore)
		}},
		{"Map AdaptiveWorkers(1, 1)", func(p *stream.Pipeline, in <-chan int, body fn) {
			stream.ForEach(p, stream.Map(p, in, func(ctx context.Context, v int) (int, error) { body(ctx, v); return v, nil },
				stream.AdaptiveWorkers(1, 1, time.Second)), pitfallIgnore)
		}},
	}
	inputs := []struct {
		name string
		make func(p *stream.Pipeline) <-chan int
	}{
		{"from the caller's channel", func(*stream.Pipeline) <-chan int {
			in := make(chan int, queued)
			for _, v := range seq(queued) {
				in <- v
			}
			close(in)
			return in
		}},
		{"from a stage's output", func(p *stream.Pipeline) <-chan int {
			return stream.FromSlice(p, seq(queued), stream.Capacity(queued))
		}},
	}
	for _, st := range stages {
		for _, input := range inputs {
			t.Run(st.name+" "+input.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p := stream.New(context.Background())
					defer p.Stop()
					gate := make(chan struct{})
					var (
						calls, callsAfterStop atomic.Int64
						stopped, sawDone      atomic.Bool
					)
					st.add(p, input.make(p), func(ctx context.Context, v int) {
						if v == 0 {
							<-gate // until every element is queued
						}
						calls.Add(1)
						if stopped.Load() {
							callsAfterStop.Add(1)
						}
						if v == k {
							p.Stop()
							stopped.Store(true)
							sawDone.Store(ctx.Err() != nil)
						}
					})
					synctest.Wait()
					close(gate)
					require.NoError(t, p.Wait())
					// Values' loop runs in the caller's goroutine, which Wait
					// does not wait for: let it finish its body first.
					synctest.Wait()
					assert.True(t, sawDone.Load(), "the call in flight sees a done context")
					assert.Zero(t, callsAfterStop.Load(), "no call started after the cancellation")
					assert.Equal(t, int64(k+1), calls.Load(), "elements 0..k were handled, the queued rest was not")
				})
			})
		}
	}
}

// TestPitfall_P22_LeakCheckPerTest: besides goleak.VerifyTestMain in
// leak_test.go, a test can check for leaks on its own, right after a
// pipeline, so a leak is blamed on the test that caused it. Here every kind
// of stage ends because one function fails.
func TestPitfall_P22_LeakCheckPerTest(t *testing.T) {
	before := goleak.IgnoreCurrent()
	errBoom := errors.New("boom")
	p := stream.New(context.Background())

	naturals := func(yield func(int) bool) {
		for i := 0; ; i++ {
			if !yield(i) {
				return
			}
		}
	}
	naturals2 := func(yield func(int, error) bool) {
		for i := 0; ; i++ {
			if !yield(i, nil) {
				return
			}
		}
	}
	stream.ForEach(p, stream.FromSeq(p, naturals), pitfallIgnore, stream.Workers(2))
	stream.ForEach(p, stream.Filter(p, stream.FromSeq2(p, naturals2), func(context.Context, int) (bool, error) { return true, nil }), pitfallIgnore)
	stream.ForEach(p, stream.FlatMap(p, stream.Generate(p, infinite(nil)), func(_ context.Context, v int, emit func(int) error) error {
		return emit(v)
	}, stream.Workers(3)), pitfallIgnore)
	stream.ForEach(p, stream.Tick(p, time.Millisecond), func(context.Context, time.Time) error { return nil })
	p.Go("custom", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })

	c := stream.Map(p, stream.FromSlice(p, seq(1000)), func(_ context.Context, v int) (int, error) {
		if v == 500 {
			return 0, errBoom
		}
		return v, nil
	}, stream.Workers(4))
	c = stream.Filter(p, c, func(_ context.Context, v int) (bool, error) { return v%2 == 0, nil }, stream.Workers(2))
	c = stream.FlatMap(p, c, func(_ context.Context, v int, emit func(int) error) error { return emit(v) }, stream.Workers(3))
	_, err := stream.Collect(p, c)
	require.ErrorIs(t, err, errBoom)

	goleak.VerifyNone(t, before)
}

func pitfallIgnore[T any](context.Context, T) error { return nil }

// pitfallStoreMax raises m to v if v is larger.
func pitfallStoreMax(m *atomic.Int64, v int64) {
	for {
		old := m.Load()
		if v <= old || m.CompareAndSwap(old, v) {
			return
		}
	}
}

func pitfallRequireClosed(t *testing.T, ch <-chan struct{}, msg string) {
	t.Helper()
	select {
	case <-ch:
	default:
		require.FailNow(t, "not closed: "+msg)
	}
}
