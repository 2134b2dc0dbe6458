package stream_test

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"strings"

	"github.com/pipewright/stream"
)

func ExampleLines() {
	// Any io.Reader: a file, a request body, a network connection. The
	// caller owns it; Lines never closes it.
	log := strings.NewReader("GET /a 200\nGET /b 404\r\nPOST /c 200")
	p := stream.New(context.Background())
	lines, err := stream.Collect(p, stream.Lines(p, log))
	fmt.Printf("%q %v\n", lines, err)
	// Output:
	// ["GET /a 200" "GET /b 404" "POST /c 200"] <nil>
}

func ExampleMaxLineLength() {
	// A line longer than the maximum fails the pipeline instead of
	// growing a buffer without bound.
	input := strings.NewReader("short\n" + strings.Repeat("x", 100) + "\nshort again\n")
	p := stream.New(context.Background())
	lines, err := stream.Collect(p, stream.Lines(p, input, stream.MaxLineLength(64)))
	fmt.Println(lines)
	fmt.Println(err)
	fmt.Println(errors.Is(err, stream.ErrLineTooLong))
	// Output:
	// [short]
	// stream: stage lines#1: line too long: line 2 is longer than 64 bytes
	// true
}

func ExampleJSONLines() {
	type order struct {
		ID    int     `json:"id"`
		Total float64 `json:"total"`
	}
	input := strings.NewReader(`{"id": 1, "total": 9.5}
{"id": 2, "total": 120}

{"id": 3, "total": 42.25}
`)
	p := stream.New(context.Background())
	orders := stream.JSONLines[order](p, input)
	sum, err := stream.Reduce(p, orders, 0.0, func(acc float64, o order) float64 { return acc + o.Total })
	fmt.Println(sum, err)
	// Output:
	// 171.75 <nil>
}

func ExampleCSVRecords() {
	input := strings.NewReader("city;population\nLyon;522250\n\"Saint-Étienne\";171924\n")
	p := stream.New(context.Background())
	records := stream.CSVRecords(p, input, func(r *csv.Reader) { r.Comma = ';' })
	rows := stream.Map(p, records, func(_ context.Context, rec []string) (string, error) {
		return rec[0] + " = " + rec[1], nil
	})
	out, err := stream.Collect(p, rows)
	for _, row := range out {
		fmt.Println(row)
	}
	fmt.Println(err)
	// Output:
	// city = population
	// Lyon = 522250
	// Saint-Étienne = 171924
	// <nil>
}
