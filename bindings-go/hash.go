package samering

import (
	"crypto/md5"
	"encoding/binary"
	"hash/crc32"
	"math/bits"
	"reflect"
	"unsafe"
)

// Key hash ids (docs/ring-image.md "Key hashes"). Ids are never reused; a reader refuses an id it
// does not know.
const (
	keyHashCrc32          = 1
	keyHashCrc32Hi15      = 2
	keyHashOneAtATime     = 3
	keyHashMd5            = 4
	keyHashFnv1_64        = 5
	keyHashFnv1a_64       = 6
	keyHashFnv1_32        = 7
	keyHashFnv1a_32       = 8
	keyHashMurmur         = 9
	keyHashMurmur3        = 10
	keyHashJenkins        = 11
	keyHashTwemproxyHsieh = 12
	keyHashTwemproxyCrc16 = 13
	keyHashFnv1a32Hi15    = 14
	keyHashJavaHashCode   = 15
	keyHashJavaFnv1_64    = 16
	keyHashJavaFnv1a_64   = 17
	keyHashJavaFnv1_32    = 18
	keyHashJavaFnv1a_32   = 19
	keyHashMurmur3_32     = 20
)

// keyHashNames are the names docs/ring-image.md gives the ids (error messages, Ring.KeyHash).
var keyHashNames = map[uint32]string{
	keyHashCrc32: "crc32", keyHashCrc32Hi15: "crc32_hi15", keyHashOneAtATime: "one_at_a_time",
	keyHashMd5: "md5", keyHashFnv1_64: "fnv1_64", keyHashFnv1a_64: "fnv1a_64", keyHashFnv1_32: "fnv1_32",
	keyHashFnv1a_32: "fnv1a_32", keyHashMurmur: "murmur", keyHashMurmur3: "murmur3", keyHashJenkins: "jenkins",
	keyHashTwemproxyHsieh: "twemproxy_hsieh", keyHashTwemproxyCrc16: "twemproxy_crc16",
	keyHashFnv1a32Hi15: "fnv1a_32_hi15", keyHashJavaHashCode: "java_string_hashcode",
	keyHashJavaFnv1_64: "java_fnv1_64", keyHashJavaFnv1a_64: "java_fnv1a_64", keyHashJavaFnv1_32: "java_fnv1_32",
	keyHashJavaFnv1a_32: "java_fnv1a_32", keyHashMurmur3_32: "murmur3_32",
}

// stringBytes views the bytes of s without copying. The hashes only read them and keep nothing,
// so the view never outlives the call. (Go 1.19 has no unsafe.StringData; this is its spelling.)
// It exists so that Pick(string) allocates nothing: []byte(s) copies, and crc32.Update's argument
// escapes (hash/crc32 calls through a function variable), which makes such a copy a heap allocation.
func stringBytes(s string) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer((*reflect.StringHeader)(unsafe.Pointer(&s)).Data)), len(s))
}

// keyHash is the key hash id of b (docs/ring-image.md), seed being the CRC state the crc32 hashes
// continue from. The ids were checked when the image was loaded; 0 for any other id. b may be
// handed to hash/crc32 (which makes it escape): a buffer on the caller's stack goes to
// keyHashLocal instead.
func keyHash(id, seed uint32, b []byte) uint32 {
	switch id {
	case keyHashCrc32:
		return crc32Update(seed, b)
	case keyHashCrc32Hi15:
		return (crc32Update(seed, b) >> 16) & 0x7fff
	}
	return keyHashOther(id, b)
}

// keyHashLocal is keyHash for bytes in a stack buffer of a key transform: the crc32 hashes run
// here (crc32Slicing) rather than in hash/crc32, whose function-variable call would move the
// buffer to the heap (an allocation per pick: TestPickAllocatesNothing).
func keyHashLocal(id, seed uint32, b []byte) uint32 {
	switch id {
	case keyHashCrc32:
		return crc32Slicing(seed, b)
	case keyHashCrc32Hi15:
		return (crc32Slicing(seed, b) >> 16) & 0x7fff
	}
	return keyHashOther(id, b)
}

// keyHashOther: the key hashes that take no CRC seed (none of them lets b escape).
func keyHashOther(id uint32, b []byte) uint32 {
	switch id {
	case keyHashOneAtATime:
		return oneAtATime(b)
	case keyHashMd5:
		d := md5.Sum(b)
		return uint32(d[0]) | uint32(d[1])<<8 | uint32(d[2])<<16 | uint32(d[3])<<24
	case keyHashFnv1_64:
		return fnv1_64(b)
	case keyHashFnv1a_64:
		return fnv1a_64(b)
	case keyHashFnv1_32:
		return fnv1_32(b)
	case keyHashFnv1a_32:
		return fnv1a_32(b)
	case keyHashMurmur:
		return murmur(b)
	case keyHashMurmur3:
		return murmur3(b)
	case keyHashJenkins:
		return jenkins(b)
	case keyHashTwemproxyHsieh:
		return twemproxyHsieh(b)
	case keyHashTwemproxyCrc16:
		return twemproxyCrc16(b)
	case keyHashFnv1a32Hi15:
		// pecl memcache 4.0.5.2 standard strategy with hash_function fnv: mmc_hash_fnv1a reads
		// signed chars exactly as libhashkit's fnv1a_32 does.
		return (fnv1a_32(b) >> 16) & 0x7fff
	case keyHashJavaHashCode:
		return javaStringHashCode(b)
	case keyHashJavaFnv1_64:
		return javaFnv1_64(b)
	case keyHashJavaFnv1a_64:
		return javaFnv1a_64(b)
	case keyHashJavaFnv1_32:
		return javaFnv1_32(b)
	case keyHashJavaFnv1a_32:
		return javaFnv1a_32(b)
	case keyHashMurmur3_32:
		return murmur3_32(b)
	}
	return 0
}

// The libhashkit functions below are libmemcached 1.1.4's (src/libhashkit/*.cc), written in Go
// because the package calls no C; each is tested bit for bit against the library itself
// (internal/hashref, TestKeyHashesMatchLibraries) on random keys of every length 0..300 with
// every byte value. Where libhashkit reads a byte as `char` (signed on x86-64 and in the peers'
// builds), the byte is sign-extended here too: signed(b).

// signed is a key byte as C's signed char converted to uint32 (0x80..0xff → 0xffffff80..).
func signed(c byte) uint32 { return uint32(int32(int8(c))) }

// libhashkit one_at_a_time.cc hashkit_one_at_a_time: `uint32_t val = (uint32_t) *ptr++` (char).
func oneAtATime(b []byte) uint32 {
	var v uint32
	for _, c := range b {
		v += signed(c)
		v += v << 10
		v ^= v >> 6
	}
	v += v << 3
	v ^= v >> 11
	v += v << 15
	return v
}

const (
	fnv64Init  uint64 = 0xcbf29ce484222325
	fnv64Prime uint64 = 0x100000001b3
	fnv32Init  uint32 = 2166136261
	fnv32Prime uint32 = 16777619
)

// libhashkit fnv_64.cc hashkit_fnv1_64: 64-bit FNV-1 over signed chars, the low 32 bits.
func fnv1_64(b []byte) uint32 {
	h := fnv64Init
	for _, c := range b {
		h *= fnv64Prime
		h ^= uint64(int64(int8(c)))
	}
	return uint32(h)
}

// libhashkit fnv_64.cc hashkit_fnv1a_64: FNV-1a with the 64-bit constants truncated to 32 bits.
func fnv1a_64(b []byte) uint32 {
	h := uint32(fnv64Init & 0xffffffff)
	for _, c := range b {
		h ^= signed(c)
		h *= uint32(fnv64Prime & 0xffffffff)
	}
	return h
}

// libhashkit fnv_32.cc hashkit_fnv1_32.
func fnv1_32(b []byte) uint32 {
	h := fnv32Init
	for _, c := range b {
		h *= fnv32Prime
		h ^= signed(c)
	}
	return h
}

// libhashkit fnv_32.cc hashkit_fnv1a_32.
func fnv1a_32(b []byte) uint32 {
	h := fnv32Init
	for _, c := range b {
		h ^= signed(c)
		h *= fnv32Prime
	}
	return h
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// libhashkit murmur.cc hashkit_murmur: MurmurHash2 with seed 0xdeadbeef * length, the tail read
// as one little-endian word (memcpy of the remaining bytes into a zeroed uint32).
func murmur(b []byte) uint32 {
	const m = 0x5bd1e995
	n := uint32(len(b))
	h := (0xdeadbeef * n) ^ n
	for len(b) >= 4 {
		k := le32(b)
		k *= m
		k ^= k >> 24
		k *= m
		h *= m
		h ^= k
		b = b[4:]
	}
	if len(b) > 0 {
		var k uint32
		for i := len(b) - 1; i >= 0; i-- {
			k = k<<8 | uint32(b[i])
		}
		h ^= k
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// libhashkit murmur3_api.cc hashkit_murmur3: MurmurHash3_x86_32 (murmur3.cc) with seed
// 0xdeadbeef * length and `int(length)`.
func murmur3(b []byte) uint32 {
	const c1, c2 = 0xcc9e2d51, 0x1b873593
	n := len(b)
	h := 0xdeadbeef * uint32(n)
	for len(b) >= 4 {
		k := le32(b)
		k *= c1
		k = bits.RotateLeft32(k, 15)
		k *= c2
		h ^= k
		h = bits.RotateLeft32(h, 13)
		h = h*5 + 0xe6546b64
		b = b[4:]
	}
	var k uint32
	for i := len(b) - 1; i >= 0; i-- {
		k = k<<8 | uint32(b[i])
	}
	k *= c1
	k = bits.RotateLeft32(k, 15)
	k *= c2
	h ^= k
	h ^= uint32(int32(n))
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// MurmurHash3_x86_32 (Austin Appleby) with seed 0, in the pieces the rendezvous pick reuses
// (rendezvous.go): bit-exact with Debian's libmurmurhash MurmurHash3_x86_32(k, len, 0, &out)
// (key hash 20; TestKeyHashesMatchLibraries), which pymemcache 3.5.2's murmur3_32 computes over
// the low bytes of a text's characters. Not libhashkit's murmur3 above, which seeds with the length.
const m3c1, m3c2 = 0xcc9e2d51, 0x1b873593

// m3mix is the block mix: k *= c1; k = rotl(k, 15); k *= c2.
func m3mix(k uint32) uint32 { return bits.RotateLeft32(k*m3c1, 15) * m3c2 }

// m3step folds one mixed block into the state: h ^= k; h = rotl(h, 13); h = h*5 + 0xe6546b64.
func m3step(h, mixed uint32) uint32 { return bits.RotateLeft32(h^mixed, 13)*5 + 0xe6546b64 }

func m3fmix(h uint32) uint32 {
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// m3tail is the tail block of 1..3 bytes as the reference assembles it (b[0] lowest).
func m3tail(b []byte) uint32 {
	var k uint32
	for i := len(b) - 1; i >= 0; i-- {
		k = k<<8 | uint32(b[i])
	}
	return k
}

func murmur3_32(b []byte) uint32 {
	n := len(b)
	var h uint32
	for ; len(b) >= 4; b = b[4:] {
		h = m3step(h, m3mix(le32(b)))
	}
	if len(b) > 0 {
		h ^= m3mix(m3tail(b))
	}
	return m3fmix(h ^ uint32(n))
}

// libhashkit jenkins.cc hashkit_jenkins: Bob Jenkins' lookup3 hashlittle with initval 13
// (JENKINS_INITVAL), unsigned bytes; an empty key returns the initial state without the final mix.
func jenkins(b []byte) uint32 {
	a := 0xdeadbeef + uint32(len(b)) + 13
	bb, c := a, a
	for len(b) > 12 {
		a += le32(b)
		bb += le32(b[4:])
		c += le32(b[8:])
		// mix(a, b, c)
		a -= c
		a ^= bits.RotateLeft32(c, 4)
		c += bb
		bb -= a
		bb ^= bits.RotateLeft32(a, 6)
		a += c
		c -= bb
		c ^= bits.RotateLeft32(bb, 8)
		bb += a
		a -= c
		a ^= bits.RotateLeft32(c, 16)
		c += bb
		bb -= a
		bb ^= bits.RotateLeft32(a, 19)
		a += c
		c -= bb
		c ^= bits.RotateLeft32(bb, 4)
		bb += a
		b = b[12:]
	}
	if len(b) == 0 {
		return c
	}
	var tail [12]byte
	copy(tail[:], b)
	a += le32(tail[0:])
	bb += le32(tail[4:])
	c += le32(tail[8:])
	// final(a, b, c)
	c ^= bb
	c -= bits.RotateLeft32(bb, 14)
	a ^= c
	a -= bits.RotateLeft32(c, 11)
	bb ^= a
	bb -= bits.RotateLeft32(a, 25)
	c ^= bb
	c -= bits.RotateLeft32(bb, 16)
	a ^= c
	a -= bits.RotateLeft32(c, 4)
	bb ^= a
	bb -= bits.RotateLeft32(a, 14)
	c ^= bb
	c -= bits.RotateLeft32(bb, 24)
	return c
}

// nutcracker 0.5.0 src/hashkit/nc_hsieh.c hash_hsieh: Paul Hsieh's SuperFastHash with
// twemproxy's 3-byte tail, which XORs the third byte as a signed char (`key[2]` is `const char`).
// Proven by the twemproxy vector files (fixtures/vectors/nutcracker-*hsieh*), which the real
// nutcracker produced; the C++ core's copy is selector/src/hash/key_hash.cpp twemproxy_hsieh.
func twemproxyHsieh(b []byte) uint32 {
	if len(b) == 0 {
		return 0
	}
	get16 := func(p []byte) uint32 { return uint32(p[1])<<8 + uint32(p[0]) }
	var h, tmp uint32
	rem := len(b) & 3
	for n := len(b) >> 2; n > 0; n-- {
		h += get16(b)
		tmp = (get16(b[2:]) << 11) ^ h
		h = (h << 16) ^ tmp
		b = b[4:]
		h += h >> 11
	}
	switch rem {
	case 3:
		h += get16(b)
		h ^= h << 16
		h ^= signed(b[2]) << 18
		h += h >> 11
	case 2:
		h += get16(b)
		h ^= h << 11
		h += h >> 17
	case 1:
		h += uint32(b[0])
		h ^= h << 10
		h += h >> 1
	}
	h ^= h << 3
	h += h >> 5
	h ^= h << 4
	h += h >> 17
	h ^= h << 25
	h += h >> 6
	return h
}

// crc16Table is the XMODEM table (polynomial 0x1021) of nutcracker 0.5.0 src/hashkit/nc_crc16.c.
var crc16Table = func() (t [256]uint16) {
	for i := range t {
		c := uint32(i) << 8
		for k := 0; k < 8; k++ {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = uint16(c)
	}
	return t
}()

// nutcracker 0.5.0 src/hashkit/nc_crc16.c hash_crc16: a 32-bit state that is never masked to 16
// bits, indexed with signed chars. Proven by the twemproxy crc16 vector files.
func twemproxyCrc16(b []byte) uint32 {
	var crc uint32
	for _, c := range b {
		crc = crc<<8 ^ uint32(crc16Table[((crc>>8)^signed(c))&0xff])
	}
	return crc
}

// crc32Tables are the slicing-by-8 tables of the IEEE polynomial (reflected 0xEDB88320), as in
// the C++ core's selector/src/hash/crc32.cpp.
var crc32Tables = func() (t [8][256]uint32) {
	for i := range t[0] {
		c := uint32(i)
		for k := 0; k < 8; k++ {
			if c&1 != 0 {
				c = c>>1 ^ 0xEDB88320
			} else {
				c >>= 1
			}
		}
		t[0][i] = c
	}
	for i := range t[0] {
		for s := 1; s < 8; s++ {
			t[s][i] = t[s-1][i]>>8 ^ t[0][t[s-1][i]&0xff]
		}
	}
	return t
}()

// crc32Update continues the IEEE CRC-32 state seed over b (zlib crc32(seed, b)). Keys of 64 bytes
// and more go to the standard library's, which uses the CPU's carry-less multiply there; shorter
// ones (most cache keys) are hashed here by slicing-by-8 with a slicing-by-4 step for a tail of 4
// to 7 bytes, the C++ core's crc32.cpp: hash/crc32 hashes the bytes past its last full 8 one by
// one and calls through a function variable (21-byte key: BenchmarkCrc32 in bench_test.go,
// bench/results/go.md). Tested against zlib (TestCrc32MatchesZlib) on every length 0..300.
func crc32Update(seed uint32, b []byte) uint32 {
	if len(b) >= 64 {
		return crc32.Update(seed, crc32.IEEETable, b)
	}
	return crc32Slicing(seed, b)
}

// crc32Slicing is crc32Update by slicing-by-8 for any length (b does not escape).
func crc32Slicing(seed uint32, b []byte) uint32 {
	t := &crc32Tables
	c := ^seed
	for len(b) >= 8 {
		lo := binary.LittleEndian.Uint32(b) ^ c
		hi := binary.LittleEndian.Uint32(b[4:])
		c = t[7][lo&0xff] ^ t[6][lo>>8&0xff] ^ t[5][lo>>16&0xff] ^ t[4][lo>>24] ^
			t[3][hi&0xff] ^ t[2][hi>>8&0xff] ^ t[1][hi>>16&0xff] ^ t[0][hi>>24]
		b = b[8:]
	}
	if len(b) >= 4 {
		w := binary.LittleEndian.Uint32(b) ^ c
		c = t[3][w&0xff] ^ t[2][w>>8&0xff] ^ t[1][w>>16&0xff] ^ t[0][w>>24]
		b = b[4:]
	}
	for _, x := range b {
		c = c>>8 ^ t[0][(c^uint32(x))&0xff]
	}
	return ^c
}
