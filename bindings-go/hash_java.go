package samering

// spymemcached 2.12.3's key hashes (DefaultHashAlgorithm.hash) over Java Strings: over the UTF-16
// code units of the key, decoded from its UTF-8 bytes on the fly (no buffer, no allocation).
// docs/ring-image.md key hashes 15-19; the C++ core's copy is selector/src/hash/java.cpp, whose
// decoding this follows unit for unit. Exact for well-formed UTF-8, the only keys an image with
// one of these hashes lets through (key transform 2, checked at load); in bounds for any bytes.
// Proven by the spymemcached vector files (fixtures/vectors/spymemcached-*), which the real
// spymemcached produced.

// utf16Next decodes the UTF-16 code units of the character at the start of the UTF-8 text b
// (len(b) > 0, b[0] >= 0x80; ASCII is handled inline by the callers): u, and lo for the low
// surrogate of a pair (pair true), and the bytes consumed. java.cpp for_each_utf16_unit: a byte
// that starts no complete sequence is passed on as one unit.
func utf16Next(b []byte) (u, lo uint32, pair bool, size int) {
	c := uint32(b[0])
	switch n := len(b); {
	case c >= 0xf0 && n >= 4: // U+10000..U+10FFFF: a surrogate pair
		cp := (c&0x07<<18 | uint32(b[1]&0x3f)<<12 | uint32(b[2]&0x3f)<<6 | uint32(b[3]&0x3f)) - 0x10000
		return 0xd800 + (cp>>10)&0x3ff, 0xdc00 + cp&0x3ff, true, 4
	case c >= 0xe0 && n >= 3:
		return c&0x0f<<12 | uint32(b[1]&0x3f)<<6 | uint32(b[2]&0x3f), 0, false, 3
	case c >= 0xc0 && n >= 2:
		return c&0x1f<<6 | uint32(b[1]&0x3f), 0, false, 2
	}
	return c, 0, false, 1
}

// The five hashes below walk the units the same way: ASCII bytes inline, anything else through
// utf16Next (one call per character, not per byte).

// java.lang.String.hashCode (s[0]*31^(n-1) + ... in int arithmetic), read unsigned as
// DefaultHashAlgorithm NATIVE_HASH's `& 0xffffffffL` does.
func javaStringHashCode(b []byte) uint32 {
	var h uint32
	for i := 0; i < len(b); {
		if c := b[i]; c < 0x80 {
			h = 31*h + uint32(c)
			i++
			continue
		}
		u, lo, pair, n := utf16Next(b[i:])
		h = 31*h + u
		if pair {
			h = 31*h + lo
		}
		i += n
	}
	return h
}

// DefaultHashAlgorithm FNV1_64_HASH: 64-bit FNV-1 over the units, the low 32 bits.
func javaFnv1_64(b []byte) uint32 {
	h := fnv64Init
	for i := 0; i < len(b); {
		if c := b[i]; c < 0x80 {
			h = h*fnv64Prime ^ uint64(c)
			i++
			continue
		}
		u, lo, pair, n := utf16Next(b[i:])
		h = h*fnv64Prime ^ uint64(u)
		if pair {
			h = h*fnv64Prime ^ uint64(lo)
		}
		i += n
	}
	return uint32(h)
}

// DefaultHashAlgorithm FNV1A_64_HASH: 64-bit FNV-1a over the units, the low 32 bits (not
// libhashkit's fnv1a_64, which multiplies in 32 bits).
func javaFnv1a_64(b []byte) uint32 {
	h := fnv64Init
	for i := 0; i < len(b); {
		if c := b[i]; c < 0x80 {
			h = (h ^ uint64(c)) * fnv64Prime
			i++
			continue
		}
		u, lo, pair, n := utf16Next(b[i:])
		h = (h ^ uint64(u)) * fnv64Prime
		if pair {
			h = (h ^ uint64(lo)) * fnv64Prime
		}
		i += n
	}
	return uint32(h)
}

// DefaultHashAlgorithm FNV1_32_HASH, computed in a 64-bit long there: the low 32 bits of a product
// depend only on the low 32 bits of its factors, so 32-bit arithmetic gives the same bits.
func javaFnv1_32(b []byte) uint32 {
	h := fnv32Init
	for i := 0; i < len(b); {
		if c := b[i]; c < 0x80 {
			h = h*fnv32Prime ^ uint32(c)
			i++
			continue
		}
		u, lo, pair, n := utf16Next(b[i:])
		h = h*fnv32Prime ^ u
		if pair {
			h = h*fnv32Prime ^ lo
		}
		i += n
	}
	return h
}

// DefaultHashAlgorithm FNV1A_32_HASH.
func javaFnv1a_32(b []byte) uint32 {
	h := fnv32Init
	for i := 0; i < len(b); {
		if c := b[i]; c < 0x80 {
			h = (h ^ uint32(c)) * fnv32Prime
			i++
			continue
		}
		u, lo, pair, n := utf16Next(b[i:])
		h = (h ^ u) * fnv32Prime
		if pair {
			h = (h ^ lo) * fnv32Prime
		}
		i += n
	}
	return h
}
