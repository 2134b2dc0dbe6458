//go:build stream_nocount

package stream

const counting = false
