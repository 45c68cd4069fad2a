// Package hashref calls the C libraries whose functions the samering package re-implements in Go
// (libhashkit from libmemcached 1.1.4, Debian's libmurmurhash, libxxhash, zlib), so that its tests
// compare the two bit for bit. Tests only: the samering package itself calls no C.
package hashref

/*
#cgo pkg-config: libxxhash zlib libmurmurhash
#cgo LDFLAGS: -lhashkit
#include <libhashkit-1.0/hashkit.h>
#include <murmurhash.h>
#include <xxhash.h>
#include <zlib.h>

static uint32_t murmur3_32(const void *p, unsigned int n) {
	uint32_t out[1];
	lmmh_x86_32(p, n, 0, out);
	return out[0];
}
*/
import "C"

import "unsafe"

func ptr(b []byte) *C.char {
	if len(b) == 0 {
		return nil
	}
	return (*C.char)(unsafe.Pointer(&b[0]))
}

// Reference returns the C library's hash of b for the docs/ring-image.md key hash name, and
// whether a library here has that function: libhashkit's, and Debian libmurmurhash's
// MurmurHash3_x86_32 with seed 0 for murmur3_32 (the reference the page names).
func Reference(name string, b []byte) (uint32, bool) {
	p, n := ptr(b), C.size_t(len(b))
	switch name {
	case "murmur3_32":
		return uint32(C.murmur3_32(unsafe.Pointer(p), C.uint(len(b)))), true
	case "fnv1a_32_hi15": // pecl memcache's mmc_hash_fnv1a = libhashkit's (docs/ring-image.md id 14)
		return (uint32(C.libhashkit_fnv1a_32(p, n)) >> 16) & 0x7fff, true
	case "one_at_a_time":
		return uint32(C.libhashkit_one_at_a_time(p, n)), true
	case "md5":
		return uint32(C.libhashkit_md5(p, n)), true
	case "crc32_hi15":
		return uint32(C.libhashkit_crc32(p, n)), true
	case "fnv1_64":
		return uint32(C.libhashkit_fnv1_64(p, n)), true
	case "fnv1a_64":
		return uint32(C.libhashkit_fnv1a_64(p, n)), true
	case "fnv1_32":
		return uint32(C.libhashkit_fnv1_32(p, n)), true
	case "fnv1a_32":
		return uint32(C.libhashkit_fnv1a_32(p, n)), true
	case "murmur":
		return uint32(C.libhashkit_murmur(p, n)), true
	case "murmur3":
		return uint32(C.libhashkit_murmur3(p, n)), true
	case "jenkins":
		return uint32(C.libhashkit_jenkins(p, n)), true
	}
	return 0, false
}

// ZlibCrc32 is zlib's crc32(seed, b). (zlib returns 0 for a NULL buffer, its way to ask for the
// initial value: an empty key is passed as a non-NULL pointer to no bytes.)
func ZlibCrc32(seed uint32, b []byte) uint32 {
	one := []byte{0}
	p := unsafe.Pointer(&one[0])
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	return uint32(C.crc32(C.uLong(seed), (*C.Bytef)(p), C.uInt(len(b))))
}

// XXH64 is libxxhash's XXH64(b, seed).
func XXH64(b []byte, seed uint64) uint64 {
	return uint64(C.XXH64(unsafe.Pointer(ptr(b)), C.size_t(len(b)), C.XXH64_hash_t(seed)))
}
