// Quickstart runs a small stream job on embedded data: it parses 3,000 CSV
// order records with four workers, skips the malformed ones, converts every
// amount to US dollars, keeps paid orders and totals them per region.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	_ "embed"
	"fmt"
	"log"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/pipewright/stream"
)

//go:embed orders.csv
var ordersCSV string

// order is one parsed CSV record; amounts are in cents.
type order struct {
	id, country, currency, status string
	cents                         int64
}

// sale is an order enriched with its region and its amount in US cents.
type sale struct {
	order
	region   string
	usdCents int64
}

// total is what the job computes for one region.
type total struct {
	orders   int
	usdCents int64
}

// Reference data for the enrich stage: read-only, so safe for any number of
// workers without a lock.
var (
	regions = map[string]string{
		"US": "Americas", "CA": "Americas", "BR": "Americas", "MX": "Americas",
		"DE": "EMEA", "FR": "EMEA", "GB": "EMEA", "SE": "EMEA",
		"JP": "APAC", "AU": "APAC", "IN": "APAC", "SG": "APAC",
	}
	usdPer = map[string]float64{ // US dollars per unit of each currency
		"USD": 1, "CAD": 0.73, "BRL": 0.20, "MXN": 0.058, "EUR": 1.08,
		"GBP": 1.27, "SEK": 0.095, "JPY": 0.0067, "AUD": 0.66, "INR": 0.012, "SGD": 0.74,
	}
)

func main() {
	lines := strings.Split(strings.TrimSpace(ordersCSV), "\n")[1:] // drop the header

	// A pipeline owns every stage's goroutine; the blocking sink at the end
	// (Reduce) waits for all of them and returns the first error, if any.
	p := stream.New(context.Background())

	// Source: emit the lines in order.
	in := stream.FromSlice(p, lines, stream.Name("lines"))

	// Parse with four workers. A malformed record is an error of its
	// element only: OnError skips it (Stats counts it) instead of failing
	// the whole job, which is what an error does by default. The handler
	// runs in the four workers at once, so the list it fills needs a lock.
	var (
		mu  sync.Mutex
		bad []string
	)
	orders := stream.Map(p, in, func(_ context.Context, line string) (order, error) {
		return parse(line)
	}, stream.Name("parse"), stream.Workers(4), stream.OnError(func(line string, err error) error {
		mu.Lock()
		defer mu.Unlock()
		bad = append(bad, err.Error())
		return nil // skip it
	}))

	// Map enriches each order. Here an error is a bug in the reference data,
	// so it fails the pipeline: every stage stops and Reduce returns it.
	sales := stream.Map(p, orders, func(_ context.Context, o order) (sale, error) {
		region, ok := regions[o.country]
		rate, ok2 := usdPer[o.currency]
		if !ok || !ok2 {
			return sale{}, fmt.Errorf("order %s: unknown country %q or currency %q", o.id, o.country, o.currency)
		}
		return sale{o, region, int64(math.Round(float64(o.cents) * rate))}, nil
	}, stream.Name("enrich"), stream.Workers(2))

	paid := stream.Filter(p, sales, func(_ context.Context, s sale) (bool, error) {
		return s.status == "paid", nil
	}, stream.Name("paid"))

	// Reduce runs in one goroutine, so the map needs no lock.
	totals, err := stream.Reduce(p, paid, map[string]total{}, func(acc map[string]total, s sale) map[string]total {
		t := acc[s.region]
		t.orders++
		t.usdCents += s.usdCents
		acc[s.region] = t
		return acc
	})
	if err != nil {
		log.Fatal(err)
	}

	// Workers finish in any order, so sort everything before printing.
	fmt.Printf("%-10s %6s %14s\n", "region", "orders", "revenue USD")
	for _, region := range slices.Sorted(maps.Keys(totals)) {
		t := totals[region]
		fmt.Printf("%-10s %6d %14s\n", region, t.orders, dollars(t.usdCents))
	}

	slices.Sort(bad)
	fmt.Printf("\nskipped %d malformed records:\n", len(bad))
	for _, msg := range bad {
		fmt.Println("  " + msg)
	}

	// Stats are exact once the pipeline has ended.
	fmt.Printf("\n%-10s %-8s %7s %5s %5s %7s\n", "stage", "kind", "workers", "in", "out", "skipped")
	for _, s := range p.Stats() {
		fmt.Printf("%-10s %-8s %7d %5d %5d %7d\n", s.Name, s.Kind, s.Workers, s.In, s.Out, s.Skipped)
	}
}

// parse reads "order_id,country,currency,amount,status".
func parse(line string) (order, error) {
	f := strings.Split(line, ",")
	if len(f) != 5 {
		return order{}, fmt.Errorf("order %s: %d fields, want 5", f[0], len(f))
	}
	amount, err := strconv.ParseFloat(f[3], 64)
	if err != nil || amount < 0 {
		return order{}, fmt.Errorf("order %s: bad amount %q", f[0], f[3])
	}
	return order{id: f[0], country: f[1], currency: f[2], status: f[4], cents: int64(math.Round(amount * 100))}, nil
}

// dollars formats cents as "1,234,567.89".
func dollars(cents int64) string {
	s := strconv.FormatInt(cents/100, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return fmt.Sprintf("%s.%02d", s, cents%100)
}
