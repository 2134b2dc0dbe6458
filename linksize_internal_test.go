package stream

import (
	"testing"
	"unsafe"
)

// TestLinkLayout: a link fills its 128-byte size class, the fields both
// ends of a chunked edge write on its first cache line (see link).
func TestLinkLayout(t *testing.T) {
	if s := unsafe.Sizeof(link[int]{}); s != 128 {
		t.Errorf("link[int] is %d bytes, want 128", s)
	}
	if s := unsafe.Sizeof(link[string]{}); s != 128 {
		t.Errorf("link[string] is %d bytes, want 128", s)
	}
	if o := unsafe.Offsetof(link[int]{}.chunks); o != 64 {
		t.Errorf("the read-mostly fields start at %d, want 64", o)
	}
}
