package samering

import (
	"hash/crc32"
	"math/rand"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"samering/internal/hashref"
)

// randomKeys: every length 0..300 (with every tail length of every block size), random bytes
// over the whole byte range (the signed-char quirks live in 0x80..0xff), plus the bytes
// 0x00..0xff one by one.
func randomKeys(seed int64) [][]byte {
	rng := rand.New(rand.NewSource(seed))
	var keys [][]byte
	for n := 0; n <= 300; n++ {
		for rep := 0; rep < 4; rep++ {
			k := make([]byte, n)
			rng.Read(k)
			keys = append(keys, k)
		}
	}
	for c := 0; c < 256; c++ {
		keys = append(keys, []byte{byte(c)}, []byte{byte(c), byte(c), byte(c)}, []byte{'k', 'e', 'y', byte(c), 0x80, 0xff, byte(c)})
	}
	return keys
}

func TestKeyHashesMatchLibraries(t *testing.T) {
	keys := randomKeys(1)
	for id, name := range keyHashNames {
		if _, ok := hashref.Reference(name, nil); !ok {
			continue // crc32 (zlib), twemproxy's and spymemcached's: below and in the vector files
		}
		t.Run(name, func(t *testing.T) {
			bad := 0
			for _, k := range keys {
				want, _ := hashref.Reference(name, k)
				if got := keyHash(id, 0, k); got != want {
					if bad++; bad <= 5 {
						t.Errorf("%s(%x) (%d bytes) = %#08x, libhashkit %#08x", name, k, len(k), got, want)
					}
				}
			}
		})
	}
}

func TestEveryKeyHashHasAReference(t *testing.T) {
	// A key hash added to keyHashNames must be proven somewhere: by a C library here, by zlib
	// (crc32), or by the peers' vector files (twemproxy's own functions and spymemcached's Java
	// ones, which no C library has; TestVectorFilesCoverEveryIdAndPickAllocatesNothing checks that
	// every id is in a vector file's image, and the C++ core's tests/php_java_test.cpp runs the
	// JVM on the same functions).
	byVectors := map[string]bool{"twemproxy_hsieh": true, "twemproxy_crc16": true, "crc32": true,
		"java_string_hashcode": true, "java_fnv1_64": true, "java_fnv1a_64": true, "java_fnv1_32": true,
		"java_fnv1a_32": true}
	for _, name := range keyHashNames {
		if _, ok := hashref.Reference(name, nil); !ok && !byVectors[name] {
			t.Errorf("key hash %s has no reference test", name)
		}
	}
}

// TestJavaHashesWalkTheUTF16Units: the spymemcached hashes (ids 15-19) decode UTF-8 into UTF-16
// code units on the fly; here the units come from the standard library instead (unicode/utf16 of
// the decoded runes) and the page's definitions are applied to them, on random well-formed
// UTF-8 of every sequence length (surrogate pairs included). The hashes against the real
// spymemcached: its vector files.
func TestJavaHashesWalkTheUTF16Units(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	ranges := [][2]rune{{0, 0x7f}, {0x80, 0x7ff}, {0x800, 0xd7ff}, {0xe000, 0xffff}, {0x10000, 0x10ffff}}
	for i := 0; i < 20000; i++ {
		var key []byte
		for n := rng.Intn(40); n > 0; n-- {
			r := ranges[rng.Intn(len(ranges))]
			key = utf8.AppendRune(key, r[0]+rune(rng.Int63n(int64(r[1]-r[0]+1))))
		}
		units := utf16.Encode([]rune(string(key)))
		var code, f32, f32a uint32 = 0, fnv32Init, fnv32Init
		f64, f64a := fnv64Init, fnv64Init
		for _, u := range units {
			code = 31*code + uint32(u)
			f64 = f64*fnv64Prime ^ uint64(u)
			f64a = (f64a ^ uint64(u)) * fnv64Prime
			f32 = f32*fnv32Prime ^ uint32(u)
			f32a = (f32a ^ uint32(u)) * fnv32Prime
		}
		for id, want := range map[uint32]uint32{keyHashJavaHashCode: code, keyHashJavaFnv1_64: uint32(f64),
			keyHashJavaFnv1a_64: uint32(f64a), keyHashJavaFnv1_32: f32, keyHashJavaFnv1a_32: f32a} {
			if got := keyHash(id, 0, key); got != want {
				t.Fatalf("%s(%x) = %#08x, over unicode/utf16's units %#08x", keyHashNames[id], key, got, want)
			}
		}
	}
}

func TestCrc32MatchesZlib(t *testing.T) {
	for i, k := range randomKeys(2) {
		seed := uint32(0)
		if i%2 == 1 {
			seed = hashref.ZlibCrc32(0, []byte("app:namespace"))
		}
		if got, want := keyHash(keyHashCrc32, seed, k), hashref.ZlibCrc32(seed, k); got != want {
			t.Fatalf("crc32(seed %#x, %x) = %#08x, zlib %#08x", seed, k, got, want)
		}
		if got, want := keyHash(keyHashCrc32Hi15, seed, k), (hashref.ZlibCrc32(seed, k)>>16)&0x7fff; got != want {
			t.Fatalf("crc32_hi15(seed %#x, %x) = %#04x, zlib %#04x", seed, k, got, want)
		}
	}
}

func TestXXH64MatchesLibxxhash(t *testing.T) {
	for _, k := range randomKeys(3) {
		if got, want := xxh64(k, -1), hashref.XXH64(k, 0); got != want {
			t.Fatalf("xxh64(%x) (%d bytes) = %#016x, libxxhash %#016x", k, len(k), got, want)
		}
		if len(k) >= 32 {
			zeroed := append([]byte(nil), k...)
			copy(zeroed[checksumOffset:checksumOffset+8], make([]byte, 8))
			if got, want := xxh64(k, checksumOffset), hashref.XXH64(zeroed, 0); got != want {
				t.Fatalf("xxh64 skipping the checksum field of %x = %#016x, libxxhash of the zeroed bytes %#016x", k, got, want)
			}
		}
	}
}

var sink uint32

// BenchmarkCrc32: the key hash of the cmf, gomemcache and nginx flavors on a 21-byte key, ours
// against hash/crc32 (what gomemcache calls): the reason crc32Update exists.
func BenchmarkCrc32(b *testing.B) {
	key := []byte("user:00007919:profile")
	b.Run("samering", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			sink += crc32Update(0, key)
		}
	})
	b.Run("hash-crc32", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			sink += crc32.Update(0, crc32.IEEETable, key)
		}
	})
}
