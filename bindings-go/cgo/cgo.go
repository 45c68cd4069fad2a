// Package cgo builds samering rings in process through the C API (libsamering_c), for a Go
// service that has the spec rather than an image file or a broker. Only the build goes through
// cgo: FromSpec hands the image bytes that the C++ core wrote (selector_image) to
// samering.FromImage, and every pick runs in pure Go.
//
// Build: `#cgo pkg-config: samering`; the installed samering.pc (cmake --install) names the
// headers and libraries, or PKG_CONFIG_PATH points at a build tree's
// (bindings-go/README.md).
package cgo

/*
#cgo pkg-config: samering
#include <stdlib.h>
#include <samering/selector.h>
*/
import "C"

import (
	"fmt"
	"os"
	"unsafe"

	"samering"
)

// The codes of samering/common.h that the calls here return (Error.Code).
const (
	EINVAL = int(C.SAMERING_EINVAL) // a NULL pointer (a bug here)
	ENOMEM = int(C.SAMERING_ENOMEM)
	ESPEC  = int(C.SAMERING_ESPEC)  // the spec is invalid; Message names the field
	EIMAGE = int(C.SAMERING_EIMAGE) // the image bytes the C API handed out are invalid (a bug)
)

// Error is a failed C call: Code is its SAMERING_* code (samering/common.h), Message the C API's
// one-line message (errbuf), "" when the call writes none.
type Error struct {
	Call    string // the C function
	Code    int
	Message string
}

// Error is "call: samering_strerror(code): message".
func (e *Error) Error() string {
	s := e.Call + ": " + C.GoString(C.samering_strerror(C.int(e.Code)))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// FromSpec builds the ring of spec JSON (docs/spec-format.md) with the C++ core and returns it
// as a samering.Ring. An invalid spec returns an *Error with Code ESPEC whose Message names the
// field (errors.As); the call allocates the image twice (in C, then copied into Go memory) and
// frees the C side. Safe from any goroutine (the C calls share nothing).
func FromSpec(spec []byte) (*samering.Ring, error) {
	r, err := fromSpec(spec)
	if err != nil {
		return nil, fmt.Errorf("samering/cgo: %w", err)
	}
	return r, nil
}

func fromSpec(spec []byte) (*samering.Ring, error) {
	var errbuf [512]C.char
	var sel *C.selector_t
	var p *C.char
	if len(spec) > 0 {
		p = (*C.char)(unsafe.Pointer(&spec[0]))
	}
	if rc := C.selector_new_from_json(p, C.size_t(len(spec)), &sel, &errbuf[0], C.size_t(len(errbuf))); rc < 0 {
		return nil, &Error{Call: "selector_new_from_json", Code: int(rc), Message: C.GoString(&errbuf[0])}
	}
	defer C.selector_free(sel)
	var bytes unsafe.Pointer
	var n C.size_t
	if rc := C.selector_image(sel, &bytes, &n); rc < 0 {
		return nil, &Error{Call: "selector_image", Code: int(rc), Message: C.GoString(C.selector_last_error(sel))}
	}
	// FromImage copies the bytes, which the selector owns until selector_free (deferred above).
	r, err := samering.FromImage(unsafe.Slice((*byte)(bytes), int(n)))
	if err != nil {
		return nil, fmt.Errorf("the C core's image: %w", err)
	}
	return r, nil
}

// FromSpecFile is FromSpec on the contents of the file at path.
func FromSpecFile(path string) (*samering.Ring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("samering/cgo: %w", err)
	}
	r, err := fromSpec(b)
	if err != nil {
		return nil, fmt.Errorf("samering/cgo: %s: %w", path, err)
	}
	return r, nil
}
