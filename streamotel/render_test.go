package streamotel_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// collect collects once from reader and renders the result as text.
func collect(t *testing.T, reader *sdkmetric.ManualReader) string {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return render(rm)
}

// render writes metrics as sorted text, one line per data point, with a
// header line per metric giving its kind and unit, so that a golden file
// shows every value and a diff is readable. Timestamps are left out.
func render(rm metricdata.ResourceMetrics) string {
	var metrics []metricdata.Metrics
	for _, sm := range rm.ScopeMetrics {
		metrics = append(metrics, sm.Metrics...)
	}
	slices.SortFunc(metrics, func(a, b metricdata.Metrics) int { return strings.Compare(a.Name, b.Name) })
	var b strings.Builder
	for _, m := range metrics {
		var lines []string
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			fmt.Fprintf(&b, "# %s counter %s monotonic=%v %s\n", m.Name, m.Unit, d.IsMonotonic, d.Temporality)
			for _, p := range d.DataPoints {
				lines = append(lines, fmt.Sprintf("%s%s %d", m.Name, attrs(p.Attributes), p.Value))
			}
		case metricdata.Gauge[int64]:
			fmt.Fprintf(&b, "# %s gauge %s\n", m.Name, m.Unit)
			for _, p := range d.DataPoints {
				lines = append(lines, fmt.Sprintf("%s%s %d", m.Name, attrs(p.Attributes), p.Value))
			}
		case metricdata.Gauge[float64]:
			fmt.Fprintf(&b, "# %s gauge %s\n", m.Name, m.Unit)
			for _, p := range d.DataPoints {
				lines = append(lines, fmt.Sprintf("%s%s %s", m.Name, attrs(p.Attributes), float(p.Value)))
			}
		case metricdata.Histogram[float64]:
			var bounds []string
			if len(d.DataPoints) > 0 {
				for _, x := range d.DataPoints[0].Bounds {
					bounds = append(bounds, float(x))
				}
			}
			fmt.Fprintf(&b, "# %s histogram %s %s bounds=[%s]\n", m.Name, m.Unit, d.Temporality, strings.Join(bounds, " "))
			for _, p := range d.DataPoints {
				lines = append(lines, fmt.Sprintf("%s%s count=%d sum=%s counts=%v", m.Name, attrs(p.Attributes), p.Count, float(p.Sum), p.BucketCounts))
			}
		default:
			fmt.Fprintf(&b, "# %s unexpected %T\n", m.Name, m.Data)
		}
		slices.Sort(lines)
		for _, l := range lines {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func attrs(s attribute.Set) string {
	var kv []string
	for _, a := range s.ToSlice() {
		kv = append(kv, fmt.Sprintf("%s=%q", a.Key, a.Value.String()))
	}
	return "{" + strings.Join(kv, ",") + "}"
}

func float(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
