package samering

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"unsafe"
)

// The RingImage layout, format version 2 (docs/ring-image.md; selector/src/image_format.hpp).
const (
	imageMagic       = "SAMERING"
	formatVersion    = 2
	headerSize       = 152
	serverRecordSize = 48
	checksumOffset   = 24
	maxIndexBits     = 16
	hashTagOn        = 1 << 16

	algorithmContinuum  = 1
	algorithmModulo     = 3 // (2 was version 1's cmf-compat continuum: invalid in version 2)
	algorithmRendezvous = 4 // pymemcache 3.5.2 RendezvousHash (transform.go)

	keyTransformNone = 0 // the others: transform.go
)

// Header field offsets (docs/ring-image.md "Layout").
const (
	offVersion      = 8
	offHeaderSize   = 12
	offTotalSize    = 16
	offChecksum     = 24
	offAlgorithm    = 32
	offKeyHash      = 36
	offKeySeed      = 40
	offHashedPrefix = 44
	offMinKey       = 48
	offMaxKey       = 52
	offServerCount  = 56
	offPointCount   = 60
	offTableCount   = 64
	offIndexBits    = 68
	offKeyTransform = 72
	offHashTag      = 76
	offParamsOffset = 80
	offParamsLength = 84
	offServers      = 88
	offStrings      = 96
	offStringsSize  = 104
	offPoints       = 112
	offIndex        = 120
	offTable        = 128
	offFlavorOffset = 136
	offFlavorLength = 140
	offSpecOffset   = 144
	offSpecLength   = 148
)

// ErrInvalidImage is wrapped by every error about the bytes of a ring image (bad magic, another
// format version, truncation, a checksum mismatch, a structure out of bounds, an unknown
// algorithm or key hash): errors.Is(err, samering.ErrInvalidImage).
var ErrInvalidImage = errors.New("invalid ring image")

func invalid(format string, a ...interface{}) error {
	return fmt.Errorf("%w: "+format, append([]interface{}{ErrInvalidImage}, a...)...)
}

// isLittleEndian: the image is little-endian and is read in place (the points as []uint32).
var isLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// alignedBytes returns n zero bytes in 8-byte aligned memory (the image's sections are read in
// place as []uint32) and the []uint64 that owns them.
func alignedBytes(n int) ([]uint64, []byte) {
	mem := make([]uint64, (n+7)/8)
	if n == 0 {
		return mem, nil
	}
	return mem, unsafe.Slice((*byte)(unsafe.Pointer(&mem[0])), n)
}

// FromImage validates RingImage bytes (docs/ring-image.md) and returns the Ring they describe.
// The bytes are copied (into 8-byte aligned memory), so b may be reused afterwards. A truncated,
// corrupt or unknown image returns an error wrapping ErrInvalidImage; FromImage never panics on
// any input. Allocates the copy and one string per server field.
func FromImage(b []byte) (*Ring, error) {
	mem, buf := alignedBytes(len(b))
	copy(buf, b)
	r, err := parseImage(buf, nil)
	if err != nil {
		return nil, fmt.Errorf("samering: %w", err)
	}
	r.mem = mem
	return r, nil
}

// LoadImage reads and validates the image file at path, as written by `samering image --spec
// FILE -o OUT` (a ring shipped without broker or cgo). Errors name the file; an invalid image
// wraps ErrInvalidImage. The file is read once: the Ring does not follow later changes.
func LoadImage(path string) (*Ring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("samering: %w", err)
	}
	mem, buf := alignedBytes(len(b))
	copy(buf, b)
	r, err := parseImage(buf, nil)
	if err != nil {
		return nil, fmt.Errorf("samering: %s: %w", path, err)
	}
	r.mem = mem
	return r, nil
}

func u32(b []byte, off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
func u64(b []byte, off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }

// words views n little-endian uint32 at b[off:] in place (off is 8-byte aligned and in bounds:
// checked by the caller; b is 8-byte aligned).
func words(b []byte, off, n uint64) []uint32 {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*uint32)(unsafe.Pointer(&b[off])), int(n))
}

// parseImage validates b completely, with the rules of validate_image
// (selector/src/ring_image.cpp; docs/ring-image.md "Validation"), and returns a Ring whose slices
// point into b. b must be 8-byte aligned. prev, when not nil, is the ring this one replaces: a
// server whose address is unchanged keeps its net.Addr value (gomemcache keys its multi-get
// groups by it). Never panics: every offset and count is checked before it is used.
func parseImage(b []byte, prev *Ring) (*Ring, error) {
	size := uint64(len(b))
	if !isLittleEndian {
		return nil, invalid("this reader needs a little-endian host")
	}
	if len(b) > 0 && uintptr(unsafe.Pointer(&b[0]))%8 != 0 {
		return nil, invalid("not 8-byte aligned in memory")
	}
	if size < headerSize {
		return nil, invalid("truncated: %d bytes, header needs %d", size, headerSize)
	}
	if string(b[:8]) != imageMagic {
		return nil, invalid("bad magic (not a samering ring image)")
	}
	if v := u32(b, offVersion); v != formatVersion {
		return nil, invalid("format version %d, this reader reads %d", v, formatVersion)
	}
	if hs := u32(b, offHeaderSize); hs != headerSize {
		return nil, invalid("header size %d", hs)
	}
	if total := u64(b, offTotalSize); total != size {
		more := ""
		if total > size {
			more = " (truncated)"
		}
		return nil, invalid("size mismatch: header says %d bytes, have %d%s", total, size, more)
	}
	checksum := u64(b, offChecksum)
	if xxh64(b, checksumOffset) != checksum {
		return nil, invalid("checksum mismatch (corrupt)")
	}

	// The bytes are what a writer produced; a writer of another build could still be wrong, so
	// every count and offset is checked before anything is read through it.
	serverCount := u32(b, offServerCount)
	pointCount := u32(b, offPointCount)
	tableCount := u32(b, offTableCount)
	indexBits := u32(b, offIndexBits)
	section := func(off, count, unit uint64, what string) error {
		if off%8 != 0 || off < headerSize || off > size || count > (size-off)/unit {
			return invalid("%s section out of bounds", what)
		}
		return nil
	}
	if serverCount == 0 {
		return nil, invalid("no servers")
	}
	serversOff := u64(b, offServers)
	pointsOff := u64(b, offPoints)
	indexOff := u64(b, offIndex)
	tableOff := u64(b, offTable)
	stringsOff := u64(b, offStrings)
	stringsSize := u64(b, offStringsSize)
	if err := section(serversOff, uint64(serverCount), serverRecordSize, "servers"); err != nil {
		return nil, err
	}
	if err := section(pointsOff, uint64(pointCount)*2, 4, "points"); err != nil {
		return nil, err
	}
	if indexBits > maxIndexBits {
		return nil, invalid("index bits %d", indexBits)
	}
	var indexEntries uint64
	if indexBits > 0 {
		indexEntries = 1<<indexBits + 1
	}
	if err := section(indexOff, indexEntries, 4, "index"); err != nil {
		return nil, err
	}
	if err := section(tableOff, uint64(tableCount), 4, "table"); err != nil {
		return nil, err
	}
	if err := section(stringsOff, stringsSize, 1, "strings"); err != nil {
		return nil, err
	}
	strs := b[stringsOff : stringsOff+stringsSize]
	str := func(off, length uint32, what string) (string, error) {
		if uint64(off) > stringsSize || uint64(length) >= stringsSize-uint64(off) || strs[uint64(off)+uint64(length)] != 0 {
			return "", invalid("%s string out of bounds", what)
		}
		return string(strs[off : off+length]), nil
	}
	r := &Ring{
		serverCount: serverCount,
		algorithm:   u32(b, offAlgorithm),
		keyHash:     u32(b, offKeyHash),
		keySeed:     u32(b, offKeySeed),
		prefixMax:   u32(b, offHashedPrefix),
		minKey:      u32(b, offMinKey),
		maxKey:      u32(b, offMaxKey),
		hashTag:     u32(b, offHashTag),
		transform:   u32(b, offKeyTransform),
		checksum:    checksum,
		size:        len(b),
	}
	var err error
	if r.flavor, err = str(u32(b, offFlavorOffset), u32(b, offFlavorLength), "flavor"); err != nil {
		return nil, err
	}
	if r.spec, err = str(u32(b, offSpecOffset), u32(b, offSpecLength), "spec"); err != nil {
		return nil, err
	}
	if po, pl := u32(b, offParamsOffset), u32(b, offParamsLength); po != 0 || pl != 0 {
		if r.params, err = str(po, pl, "params"); err != nil {
			return nil, err
		}
	}
	var reuse map[string]net.Addr
	if prev != nil {
		reuse = make(map[string]net.Addr, len(prev.addrs))
		for i, a := range prev.addrs {
			reuse[prev.servers[i].Address] = a
		}
	}
	r.servers = make([]Server, serverCount)
	r.addrs = make([]net.Addr, serverCount)
	for i := range r.servers {
		rec := b[serversOff+uint64(i)*serverRecordSize:][:serverRecordSize]
		s := &r.servers[i]
		if s.Address, err = str(u32(rec, 0), u32(rec, 4), "server"); err != nil {
			return nil, err
		}
		if s.Host, err = str(u32(rec, 8), u32(rec, 12), "server"); err != nil {
			return nil, err
		}
		if s.Port, err = str(u32(rec, 16), u32(rec, 20), "server"); err != nil {
			return nil, err
		}
		if s.Name, err = str(u32(rec, 24), u32(rec, 28), "server"); err != nil {
			return nil, err
		}
		s.Weight = math.Float64frombits(u64(rec, 32))
		s.Points = u32(rec, 40)
		if a, ok := reuse[s.Address]; ok {
			r.addrs[i] = a
		} else {
			r.addrs[i] = &serverAddr{s.Address}
		}
	}

	points := words(b, pointsOff, uint64(pointCount)*2)
	r.values, r.owners = points[:pointCount:pointCount], points[pointCount:]
	for i, o := range r.owners {
		if o >= serverCount {
			return nil, invalid("point %d names server %d", i, o)
		}
		if i > 0 && r.values[i] < r.values[i-1] {
			return nil, invalid("points not sorted at %d", i)
		}
	}
	if indexBits > 0 {
		if pointCount == 0 {
			return nil, invalid("index without points")
		}
		r.index = words(b, indexOff, indexEntries)
		pos := uint32(0)
		for bucket := uint64(0); bucket+1 < indexEntries; bucket++ {
			threshold := bucket << (32 - indexBits)
			for pos < pointCount && uint64(r.values[pos]) < threshold {
				pos++
			}
			if r.index[bucket] != pos {
				return nil, invalid("lookup index wrong at %d", bucket)
			}
		}
		if r.index[indexEntries-1] != pointCount {
			return nil, invalid("lookup index does not end at the point count")
		}
		r.shift = 32 - indexBits
	}
	// The continuum interleaved, each point's value and server in one uint64: a lookup then reads
	// one cache line of points instead of one in the values and one in the servers. At 1,000
	// servers (150,000 points: 1.2 MB of points and a 256 KiB index, mostly missed in cache) this
	// took PickServer from 46.7 to 30.9 ns in one session (BenchmarkPickServer); the copy is 8 bytes
	// per point, made once per image.
	if pointCount > 0 {
		r.points = make([]uint64, pointCount)
		for i, v := range r.values {
			r.points[i] = uint64(v)<<32 | uint64(r.owners[i])
		}
	}
	r.buildBuckets()
	r.table = words(b, tableOff, uint64(tableCount))
	for i, t := range r.table {
		if t >= serverCount {
			return nil, invalid("table entry %d names server %d", i, t)
		}
	}

	if _, ok := keyHashNames[r.keyHash]; !ok {
		return nil, invalid("unknown key hash %d", r.keyHash)
	}
	switch r.transform {
	case keyTransformNone, keyTransformUtf8:
	case keyTransformPhpMemcache:
		// the rewrite works in a fixed buffer of pecl memcache's 250 bytes
		if r.prefixMax < 1 || r.prefixMax > phpMemcacheMaxKey {
			return nil, invalid("key transform 1 needs hashed_prefix_max 1-250 (got %d)", r.prefixMax)
		}
	case keyTransformPyStr, keyTransformPyBytes: // texts for the rendezvous hash only (bounded by its key length)
		if r.algorithm != algorithmRendezvous {
			return nil, invalid("key transform %d needs rendezvous", r.transform)
		}
	case keyTransformDalli: // its fast path continues crc32 from the params' CRC
		if r.keyHash != keyHashCrc32 || r.keySeed != 0 {
			return nil, invalid("key transform dalli needs key hash crc32, seed 0")
		}
	default:
		return nil, invalid("unknown key transform %d", r.transform)
	}
	if r.keyHash >= keyHashJavaHashCode && r.keyHash <= keyHashJavaFnv1a_32 && r.transform != keyTransformUtf8 {
		return nil, invalid("key hash %d (UTF-16 units) needs key transform 2 (utf8_required)", r.keyHash)
	}
	if r.hashTag != 0 && r.hashTag&^(hashTagOn|0xffff) != 0 {
		return nil, invalid("bad hash tag")
	}
	if (r.transform >= keyTransformDalli || r.algorithm == algorithmRendezvous) && (r.prefixMax != 0 || r.hashTag != 0) {
		return nil, invalid("a dalli, pymemcache or rendezvous image cuts no prefix and has no hash tag")
	}
	if r.algorithm == algorithmRendezvous && r.transform != keyTransformNone && r.transform < keyTransformPyStr {
		return nil, invalid("rendezvous takes key transform 0, 4 or 5")
	}
	if r.maxKey != 0 && r.minKey > r.maxKey {
		return nil, invalid("key length range empty")
	}
	single := serverCount == 1
	switch r.algorithm {
	case algorithmContinuum:
		if !single && pointCount == 0 {
			return nil, invalid("continuum without points")
		}
	case algorithmModulo:
		if !single && tableCount == 0 {
			return nil, invalid("modulo table empty")
		}
	case algorithmRendezvous:
		// docs/ring-image.md: table = tie ranks (a permutation), murmur3_32, bounded keys
		if r.keyHash != keyHashMurmur3_32 || r.keySeed != 0 {
			return nil, invalid("rendezvous needs key hash murmur3_32, seed 0")
		}
		if r.maxKey == 0 || r.maxKey > maxRendezvousKey {
			return nil, invalid("rendezvous needs a maximum key length of 1-%d", maxRendezvousKey)
		}
		if pointCount != 0 || tableCount != serverCount {
			return nil, invalid("rendezvous needs one tie rank per server, no points")
		}
		seen := make([]bool, serverCount)
		for _, t := range r.table {
			if seen[t] {
				return nil, invalid("rendezvous tie ranks are not a permutation")
			}
			seen[t] = true
		}
		r.rendezvous = newRendezvousNodes(r.servers, r.table)
	default:
		return nil, invalid("unknown algorithm %d", r.algorithm)
	}
	if n := uint32(len(r.table)); n != 0 && n&(n-1) == 0 {
		r.tableMask = n - 1
	}
	r.special = r.transform != keyTransformNone || r.algorithm == algorithmRendezvous
	r.paramsCrc = crc32Update(0, stringBytes(r.params))
	return r, nil
}
