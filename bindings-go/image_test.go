package samering

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"samering/internal/testutil"
)

// Small rings, one per kind of image, so that exhaustive loops over bytes stay fast (the same
// specs as tests/image_test.cpp kSmallSpecs).
var smallSpecs = []string{
	// continuum (6 points: a lookup index is present)
	`{"flavor": "cmf", "options": {"ketama_points": 3}, "servers": [{"host": "a", "port": 1}, {"host": "b", "port": "02"}]}`,
	// CMF's compatible mode: a 2^15-entry modulo table
	`{"flavor": "cmf", "servers": [{"host": "a"}, {"host": "b", "weight": 1.5}, {"host": "c", "weight": 0.5}]}`,
	// modulo, 15-bit hash
	`{"flavor": "cache-memcached", "servers": [{"host": "a"}, {"host": "b", "weight": 2}]}`,
	// modulo, 256-byte prefix
	`{"flavor": "gomemcache", "options": {"repeat_by_weight": true}, "servers": [{"host": "a", "weight": 2}, {"host": "b"}]}`,
	// modulo, key transform 1 (php-memcache consistent: 1,024 buckets)
	`{"flavor": "php-memcache", "servers": [{"host": "a"}, {"host": "b", "weight": 2}]}`,
	// continuum, key transform 2, a UTF-16 key hash (spymemcached)
	`{"flavor": "spymemcached", "options": {"locator": "CONSISTENT"}, "servers": [{"host": "1.2.3.4"}, {"host": "h", "name": "h/1.2.3.5:11211"}]}`,
	// rendezvous (pymemcache), key hash murmur3_32
	`{"flavor": "rendezvous", "servers": [{"host": "a", "port": 1}, {"host": "b", "port": 2}, {"host": "c"}]}`,
	// modulo, key transform 3 with params (Dalli's namespace)
	`{"flavor": "dalli", "options": {"namespace": "ns"}, "servers": [{"host": "a", "port": 1}, {"host": "b"}]}`,
}

// image is a writable, 8-byte aligned copy of the C++ core's image of spec.
func image(t *testing.T, spec string) []byte {
	t.Helper()
	b := testutil.ImageBytes(t, []byte(spec))
	_, buf := alignedBytes(len(b))
	copy(buf, b)
	return buf
}

// reseal recomputes the checksum (XXH64, the checksum field read as zero), so that only the
// structural checks can refuse what a test changed.
func reseal(b []byte) { binary.LittleEndian.PutUint64(b[checksumOffset:], xxh64(b, checksumOffset)) }

func put32(b []byte, off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }
func put64(b []byte, off int, v uint64) { binary.LittleEndian.PutUint64(b[off:], v) }

// rejection is the error of parsing b, which must wrap ErrInvalidImage.
func rejection(t *testing.T, b []byte) string {
	t.Helper()
	r, err := parseImage(b, nil)
	if err == nil {
		t.Fatalf("the image was accepted (%d servers)", r.ServerCount())
	}
	if !errors.Is(err, ErrInvalidImage) {
		t.Fatalf("error %q does not wrap ErrInvalidImage", err)
	}
	return err.Error()
}

func wantSubstr(t *testing.T, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Errorf("error %q, want it to contain %q", got, want)
	}
}

func TestBuiltImagesValidate(t *testing.T) {
	for _, spec := range smallSpecs {
		b := image(t, spec)
		r, err := parseImage(b, nil)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if u32(b, offVersion) != 2 || len(b)%8 != 0 || r.ImageSize() != len(b) {
			t.Errorf("%s: version %d, size %d", spec, u32(b, offVersion), len(b))
		}
	}
}

func TestEveryTruncationIsRejected(t *testing.T) {
	for _, spec := range smallSpecs {
		b := image(t, spec)
		for n := 0; n < len(b); n++ {
			why := rejection(t, b[:n])
			if !strings.Contains(why, "truncated") {
				t.Fatalf("%s: length %d of %d: %q does not say truncated", spec, n, len(b), why)
			}
		}
	}
}

func TestTrailingBytesAreRejected(t *testing.T) {
	b := image(t, smallSpecs[0])
	_, longer := alignedBytes(len(b) + 8)
	copy(longer, b)
	wantSubstr(t, rejection(t, longer), "size mismatch")
}

func TestEverySingleBitFlipIsRejected(t *testing.T) {
	for _, spec := range smallSpecs {
		b := image(t, spec)
		for i := 0; i < len(b); i++ {
			// Every byte of a small image; of the 2^15-entry tables (128 KiB, a checksum each time)
			// the first and last 4 KiB and every 61st byte between.
			if len(b) > 16<<10 && i >= 4<<10 && i < len(b)-4<<10 && i%61 != 0 {
				continue
			}
			if raceEnabled && i%97 != 0 {
				continue
			}
			for bit := 0; bit < 8; bit++ {
				b[i] ^= 1 << bit
				if r, err := parseImage(b, nil); err == nil {
					t.Fatalf("%s: flipping bit %d of byte %d was accepted (%d servers)", spec, bit, i, r.ServerCount())
				}
				b[i] ^= 1 << bit
			}
		}
	}
}

func TestFlipOutsideTheHeaderIsAChecksumMismatch(t *testing.T) {
	b := image(t, smallSpecs[0])
	b[len(b)-3] ^= 0x10
	wantSubstr(t, rejection(t, b), "checksum mismatch")
}

func TestWrongMagicVersionAndHeaderSizeAreNamed(t *testing.T) {
	b := image(t, smallSpecs[0])
	b[0] = 'X'
	wantSubstr(t, rejection(t, b), "bad magic")
	b = image(t, smallSpecs[0])
	put32(b, offVersion, 1)
	wantSubstr(t, rejection(t, b), "format version 1")
	b = image(t, smallSpecs[0])
	put32(b, offHeaderSize, 144)
	wantSubstr(t, rejection(t, b), "header size 144")
}

func TestFromImageCopiesMisalignedBytes(t *testing.T) {
	b := image(t, smallSpecs[0])
	for shift := 1; shift < 8; shift++ {
		_, buf := alignedBytes(len(b) + shift)
		copy(buf[shift:], b)
		wantSubstr(t, rejection(t, buf[shift:]), "aligned") // in place: refused
		r, err := FromImage(buf[shift:])                    // copied into aligned memory: fine
		if err != nil {
			t.Fatalf("shift %d: %v", shift, err)
		}
		buf[shift+len(b)-1] ^= 0xff // the caller reuses its buffer: the ring is unaffected
		if r.Pick("foo") < 0 || r.Server(0).Address != "a:1" {
			t.Fatalf("shift %d: ring changed with the caller's buffer", shift)
		}
	}
}

func TestEmptyAndNilInputAreErrors(t *testing.T) {
	for _, b := range [][]byte{nil, {}} {
		_, err := FromImage(b)
		if err == nil || !errors.Is(err, ErrInvalidImage) || !strings.Contains(err.Error(), "truncated") {
			t.Errorf("FromImage(%v) = %v", b, err)
		}
	}
}

// corrupt applies change to the image of spec, reseals it and returns the validator's message,
// which must not be about the checksum. A reseal of the unchanged image must validate.
func corrupt(t *testing.T, spec string, change func(b []byte)) string {
	t.Helper()
	b := image(t, spec)
	reseal(b)
	if _, err := parseImage(b, nil); err != nil {
		t.Fatalf("reseal of an unchanged image must validate: %v", err)
	}
	change(b)
	reseal(b)
	why := rejection(t, b)
	if strings.Contains(why, "checksum") {
		t.Errorf("%q is about the checksum", why)
	}
	return why
}

func TestStructuralChecksBehindAValidChecksum(t *testing.T) {
	cont, table, php, spy, rv, dalli := smallSpecs[0], smallSpecs[2], smallSpecs[4], smallSpecs[5], smallSpecs[6], smallSpecs[7]
	points := func(b []byte) uint64 { return u64(b, offPoints) }
	tests := []struct {
		name, spec, want string
		change           func(b []byte)
	}{
		{"point naming a missing server", cont, "point 1 names server 2", func(b []byte) {
			put32(b, int(points(b))+4*int(u32(b, offPointCount)+1), u32(b, offServerCount))
		}},
		{"points out of order", cont, "not sorted at 1", func(b []byte) {
			p := int(points(b))
			v0, v1 := u32(b, p), u32(b, p+4)
			put32(b, p, v1)
			put32(b, p+4, v0)
		}},
		{"lookup index entry wrong", cont, "lookup index wrong", func(b []byte) {
			last := int(u64(b, offIndex)) + 4*((1<<u32(b, offIndexBits))-1)
			if v := u32(b, last); v == 0 {
				put32(b, last, 1)
			} else {
				put32(b, last, v-1)
			}
		}},
		{"lookup index end wrong", cont, "lookup index", func(b []byte) {
			put32(b, int(u64(b, offIndex))+4*(1<<u32(b, offIndexBits)), u32(b, offPointCount)+5)
		}},
		{"table entry naming a missing server", table, "table entry 0 names server 7", func(b []byte) {
			put32(b, int(u64(b, offTable)), 7)
		}},
		{"zero servers", table, "no servers", func(b []byte) { put32(b, offServerCount, 0) }},
		{"points section past the end", cont, "points section out of bounds", func(b []byte) {
			put64(b, offPoints, uint64(len(b))+8)
		}},
		{"too many points", cont, "points section out of bounds", func(b []byte) { put32(b, offPointCount, 0x7fffffff) }},
		{"misaligned servers", cont, "servers section out of bounds", func(b []byte) {
			put64(b, offServers, u64(b, offServers)+4)
		}},
		{"servers in the header", cont, "servers section out of bounds", func(b []byte) { put64(b, offServers, 8) }},
		{"too many table entries", table, "table section out of bounds", func(b []byte) { put32(b, offTableCount, 1<<30) }},
		{"index bits 17", cont, "index bits 17", func(b []byte) { put32(b, offIndexBits, 17) }},
		{"strings past the end", cont, "strings section out of bounds", func(b []byte) {
			put64(b, offStringsSize, u64(b, offStringsSize)+4096)
		}},
		{"flavor not NUL-terminated", cont, "flavor string", func(b []byte) {
			put32(b, offFlavorLength, u32(b, offFlavorLength)+1)
		}},
		{"spec at the end of the strings", cont, "spec string", func(b []byte) {
			put32(b, offSpecOffset, uint32(u64(b, offStringsSize)))
			put32(b, offSpecLength, 0)
		}},
		{"server string too long", cont, "server string", func(b []byte) {
			put32(b, int(u64(b, offServers))+serverRecordSize+12, 0xfffffff0) // server 1's host length
		}},
		{"unknown algorithm 9", cont, "unknown algorithm 9", func(b []byte) { put32(b, offAlgorithm, 9) }},
		{"version 1's compat algorithm", cont, "unknown algorithm 2", func(b []byte) { put32(b, offAlgorithm, 2) }},
		{"unknown key hash 0", cont, "unknown key hash 0", func(b []byte) { put32(b, offKeyHash, 0) }},
		{"unknown key hash 21", cont, "unknown key hash 21", func(b []byte) { put32(b, offKeyHash, 21) }},
		{"unknown key transform 6", cont, "unknown key transform 6", func(b []byte) { put32(b, offKeyTransform, 6) }},
		// The ids of the later flavors and the invariants that tie them together (docs/ring-image.md).
		{"php transform with a prefix of 251", php, "key transform 1 needs hashed_prefix_max 1-250 (got 251)", func(b []byte) {
			put32(b, offHashedPrefix, 251)
		}},
		{"php transform on a cmf image", cont, "key transform 1 needs hashed_prefix_max 1-250 (got 0)", func(b []byte) {
			put32(b, offKeyTransform, 1)
		}},
		{"a UTF-16 hash without utf8_required", spy, "key hash 15 (UTF-16 units) needs key transform 2", func(b []byte) {
			put32(b, offKeyHash, 15)
			put32(b, offKeyTransform, 0)
		}},
		{"rendezvous tie ranks repeat", rv, "not a permutation", func(b []byte) {
			put32(b, int(u64(b, offTable)), u32(b, int(u64(b, offTable))+4))
		}},
		{"rendezvous tie rank out of range", rv, "table entry 2 names server 3", func(b []byte) { put32(b, int(u64(b, offTable))+8, 3) }},
		{"rendezvous with crc32", rv, "rendezvous needs key hash murmur3_32", func(b []byte) { put32(b, offKeyHash, 1) }},
		{"rendezvous with a seed", rv, "rendezvous needs key hash murmur3_32, seed 0", func(b []byte) { put32(b, offKeySeed, 1) }},
		{"rendezvous without a key bound", rv, "maximum key length of 1-1024", func(b []byte) { put32(b, offMaxKey, 0) }},
		{"rendezvous keys of 1025", rv, "maximum key length of 1-1024", func(b []byte) { put32(b, offMaxKey, 1025) }},
		{"rendezvous without a rank per server", rv, "one tie rank per server", func(b []byte) { put32(b, offTableCount, 2) }},
		{"rendezvous with a prefix cut", rv, "no hash tag", func(b []byte) { put32(b, offHashedPrefix, 4) }},
		{"rendezvous with transform 2", rv, "rendezvous takes key transform 0, 4 or 5", func(b []byte) {
			put32(b, offKeyTransform, 2)
		}},
		{"pymemcache transform without rendezvous", dalli, "key transform 4 needs rendezvous", func(b []byte) {
			put32(b, offKeyTransform, 4)
		}},
		{"dalli with md5", dalli, "dalli needs key hash crc32", func(b []byte) { put32(b, offKeyHash, 4) }},
		{"dalli with a seed", dalli, "dalli needs key hash crc32, seed 0", func(b []byte) { put32(b, offKeySeed, 1) }},
		{"dalli with a hash tag", dalli, "no hash tag", func(b []byte) { put32(b, offHashTag, hashTagOn|'{'|'}'<<8) }},
		{"params past the strings", cont, "params string", func(b []byte) {
			put32(b, offParamsOffset, uint32(u64(b, offStringsSize)))
			put32(b, offParamsLength, 1)
		}},
		{"params not NUL-terminated", cont, "params string", func(b []byte) {
			put32(b, offParamsOffset, u32(b, offFlavorOffset))
			put32(b, offParamsLength, u32(b, offFlavorLength)+1)
		}},
		{"modulo table empty", table, "modulo table empty", func(b []byte) { put32(b, offTableCount, 0) }},
		{"continuum without points", cont, "continuum without points", func(b []byte) {
			put32(b, offPointCount, 0)
			put32(b, offIndexBits, 0)
		}},
		{"index without points", cont, "index without points", func(b []byte) { put32(b, offPointCount, 0) }},
		{"hash tag with unknown bits", cont, "bad hash tag", func(b []byte) { put32(b, offHashTag, 0x7d7b|hashTagOn|1<<20) }},
		{"empty key length range", cont, "key length range empty", func(b []byte) {
			put32(b, offMinKey, 10)
			put32(b, offMaxKey, 5)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wantSubstr(t, corrupt(t, tc.spec, tc.change), tc.want) })
	}
}

func TestParamsStringIsRead(t *testing.T) {
	// No flavor writes params yet (key transform 0 reads none); a params string in bounds is valid.
	b := image(t, smallSpecs[0])
	put32(b, offParamsOffset, u32(b, offFlavorOffset))
	put32(b, offParamsLength, u32(b, offFlavorLength))
	reseal(b)
	r, err := parseImage(b, nil)
	if err != nil || r.params != "cmf" {
		t.Fatalf("params: %v %q", err, r.params)
	}
}

func TestRingDescribesItsServers(t *testing.T) {
	r, err := FromImage(image(t, smallSpecs[0]))
	if err != nil {
		t.Fatal(err)
	}
	if r.Flavor() != "cmf" || r.ServerCount() != 2 || r.Generation() != 0 {
		t.Fatalf("flavor %q, %d servers, generation %d", r.Flavor(), r.ServerCount(), r.Generation())
	}
	s := r.Server(1)
	if s.Address != "b:02" || s.Host != "b" || s.Port != "02" || s.Weight != 1 || s.Points != 3 || s.Name != "" {
		t.Errorf("server 1 = %+v", s)
	}
	if a := r.Addr(1); a.Network() != "tcp" || a.String() != "b:02" || a != r.Addr(1) {
		t.Errorf("Addr(1) = %v %v", a.Network(), a)
	}
	if !strings.Contains(r.SpecJSON(), `"ketama_points":3`) {
		t.Errorf("spec JSON %s", r.SpecJSON())
	}
	if got := r.Servers(); len(got) != 2 || got[0].Address != "a:1" {
		t.Errorf("Servers() = %+v", got)
	}
}
