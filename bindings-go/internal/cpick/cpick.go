// Package cpick picks through the C API with one cgo call per key (selector_pick): the benchmark
// floor that shows why samering's Go package picks in pure Go instead (bench/results/go.md).
// Benchmarks only.
package cpick

/*
#cgo pkg-config: samering
#include <samering/selector.h>
*/
import "C"

import (
	"errors"
	"unsafe"
)

// EKEY is SAMERING_EKEY, what selector_pick returns for a key the flavor refuses.
const EKEY = int(C.SAMERING_EKEY)

// Selector is a C selector_t built from spec JSON.
type Selector struct{ sel *C.selector_t }

// New builds a C selector from spec JSON.
func New(spec []byte) (*Selector, error) {
	var errbuf [512]C.char
	var sel *C.selector_t
	if C.selector_new_from_json((*C.char)(unsafe.Pointer(&spec[0])), C.size_t(len(spec)), &sel, &errbuf[0],
		C.size_t(len(errbuf))) < 0 {
		return nil, errors.New(C.GoString(&errbuf[0]))
	}
	return &Selector{sel}, nil
}

// Pick is selector_pick on the key's bytes (the index, or a negative SAMERING_* code): one cgo
// call, no copy (a []byte: a string's header
// passed to C through unsafe escapes to the heap, one allocation per call).
func (s *Selector) Pick(key []byte) int {
	if len(key) == 0 {
		return int(C.selector_pick(s.sel, nil, 0))
	}
	return int(C.selector_pick(s.sel, (*C.char)(unsafe.Pointer(&key[0])), C.size_t(len(key))))
}

// Free frees the C selector.
func (s *Selector) Free() { C.selector_free(s.sel) }
