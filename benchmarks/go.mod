module github.com/pipewright/stream/benchmarks

go 1.25.0

replace github.com/pipewright/stream => ../

require (
	github.com/alitto/pond/v2 v2.7.1
	github.com/destel/rill v0.7.0
	github.com/panjf2000/ants/v2 v2.12.1
	github.com/pipewright/stream v0.0.0-00010101000000-000000000000
	github.com/samber/lo v1.53.0
	github.com/samber/ro v0.3.0
	github.com/sourcegraph/conc v0.3.0
	golang.org/x/perf v0.0.0-20260709024250-82a0b07e230d
	golang.org/x/sync v0.22.0
)

require (
	github.com/aclements/go-moremath v0.0.0-20210112150236-f10218a38794 // indirect
	go.uber.org/atomic v1.7.0 // indirect
	go.uber.org/multierr v1.9.0 // indirect
	golang.org/x/exp v0.0.0-20260611194520-c48552f49976 // indirect
	golang.org/x/text v0.40.0 // indirect
	golang.org/x/time v0.15.0 // indirect
)

tool golang.org/x/perf/cmd/benchstat
