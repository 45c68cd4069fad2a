package samering

import (
	"encoding/binary"
	"math/bits"
)

// XXH64 (seed 0), the image checksum (docs/ring-image.md). Written here because the package uses
// the standard library only; it follows the xxHash specification (xxhash_spec.md, "XXH64") and is
// tested bit for bit against Debian's libxxhash (internal/hashref, TestXXH64MatchesLibxxhash).
// The image checksum is computed once per image load, never on the pick path.

const (
	xxPrime1 uint64 = 11400714785074694791
	xxPrime2 uint64 = 14029467366897019727
	xxPrime3 uint64 = 1609587929392839161
	xxPrime4 uint64 = 9650029242287828579
	xxPrime5 uint64 = 2870177450012600261
)

func xxRound(acc, lane uint64) uint64 {
	acc += lane * xxPrime2
	acc = bits.RotateLeft64(acc, 31)
	return acc * xxPrime1
}

func xxMerge(acc, v uint64) uint64 {
	acc ^= xxRound(0, v)
	return acc*xxPrime1 + xxPrime4
}

// xxh64 is XXH64(b, seed 0) with the 8 bytes at skip (if skip >= 0) read as zero: the image's
// checksum field does not take part in its own checksum.
func xxh64(b []byte, skip int) uint64 {
	n := len(b)
	word := func(i int) uint64 {
		if skip >= 0 && i == skip {
			return 0
		}
		return binary.LittleEndian.Uint64(b[i:])
	}
	// skip is a multiple of 8 below len(b) - 8 and len(b) >= 32 when it is used (an image has a
	// 152-byte header): every 8-byte read below starts at a multiple of 8, so the checksum field is
	// read whole by word(), never by the 4- and 1-byte tails.
	var h uint64
	i := 0
	if n >= 32 {
		p1, p2 := xxPrime1, xxPrime2 // variables: the sums wrap (constants would overflow)
		v1 := p1 + p2
		v2 := p2
		v3 := uint64(0)
		v4 := -p1
		for ; i+32 <= n; i += 32 {
			v1 = xxRound(v1, word(i))
			v2 = xxRound(v2, word(i+8))
			v3 = xxRound(v3, word(i+16))
			v4 = xxRound(v4, word(i+24))
		}
		h = bits.RotateLeft64(v1, 1) + bits.RotateLeft64(v2, 7) + bits.RotateLeft64(v3, 12) + bits.RotateLeft64(v4, 18)
		h = xxMerge(h, v1)
		h = xxMerge(h, v2)
		h = xxMerge(h, v3)
		h = xxMerge(h, v4)
	} else {
		h = xxPrime5
	}
	h += uint64(n)
	for ; i+8 <= n; i += 8 {
		h ^= xxRound(0, word(i))
		h = bits.RotateLeft64(h, 27)*xxPrime1 + xxPrime4
	}
	if i+4 <= n {
		h ^= uint64(binary.LittleEndian.Uint32(b[i:])) * xxPrime1
		h = bits.RotateLeft64(h, 23)*xxPrime2 + xxPrime3
		i += 4
	}
	for ; i < n; i++ {
		h ^= uint64(b[i]) * xxPrime5
		h = bits.RotateLeft64(h, 11) * xxPrime1
	}
	h ^= h >> 33
	h *= xxPrime2
	h ^= h >> 29
	h *= xxPrime3
	h ^= h >> 32
	return h
}
