package samering

import (
	"encoding/json"
	"net"
	"runtime"
	"sync"
)

// A Ring is a validated RingImage: the immutable ring the C++ core built from a spec, read in
// place. Pick finds a key's server exactly as the spec's flavor (the peer client it names) does,
// in pure Go: no allocation, no lock, no system call. A Ring is safe for concurrent use by any
// number of goroutines.
//
// Rings come from FromImage, LoadImage, samering/cgo.FromSpec, or a follower (OpenShm,
// DialBroker) whose Current ring changes when the broker reloads.
type Ring struct {
	values, owners []uint32 // continuum points (ascending) and their servers, in the image
	points         []uint64 // the same interleaved, value<<32 | server (see parseImage)
	buckets        []uint32 // the continuum's successor table (buildBuckets), or nil
	bshift         uint32   // 32 - log2(len(buckets))
	index          []uint32 // lookup index over the top bits of the hash (nil = none)
	table          []uint32 // modulo table
	tableMask      uint32   // len(table)-1 when that is a power of two (then h&mask == h%len), else 0
	shift          uint32   // 32 - index_bits
	serverCount    uint32
	algorithm      uint32
	keyHash        uint32
	keySeed        uint32
	prefixMax      uint32
	minKey, maxKey uint32
	hashTag        uint32
	transform      uint32
	special        bool   // a key transform or the rendezvous algorithm (transform.go)
	paramsCrc      uint32 // crc32 of params (dalli: the CRC its keys continue from)
	rendezvous     *rendezvousNodes

	servers []Server
	addrs   []net.Addr
	flavor  string
	spec    string
	params  string

	checksum   uint64
	size       int
	generation uint64 // the broker's generation (0 for a ring that no broker published)

	mem   []uint64 // the image, when it lives in Go memory
	owner *mapping // the image, when it is a read-only mapping (released when the Ring is unreachable)

	nsOnce sync.Once
	ns     string
}

// Server describes one server of a ring, as the spec wrote it.
type Server struct {
	Address string  // "host:port" exactly as written in the spec
	Host    string  // the host as written (hashed as written by every flavor: no DNS)
	Port    string  // the port text as written
	Name    string  // the twemproxy node name, "" when none
	Weight  float64 // the weight given in the spec
	Points  uint32  // ring points (continuum) or table entries (modulo) of this server
}

// serverAddr is the one net.Addr of a server: "tcp" and the address as written (gomemcache dials
// addr.Network(), addr.String(), and groups GetMulti keys by the net.Addr value).
type serverAddr struct{ address string }

func (a *serverAddr) Network() string { return "tcp" }
func (a *serverAddr) String() string  { return a.address }

// Pick returns the index of the server for key (any bytes, any length), or -1 when the flavor
// refuses the key (its length is outside what the peer accepts: e.g. nginx never hashes an empty
// key). Never allocates, locks or panics.
func (r *Ring) Pick(key string) int {
	i := r.pick(stringBytes(key))
	runtime.KeepAlive(r) // the slices may point into r's mapping: keep it until the lookup is done
	return i
}

// PickBytes is Pick for a key held in a []byte. It allocates nothing itself (the key's bytes are
// only read), though the compiler may place a caller's stack buffer on the heap because the bytes
// are handed to hash/crc32.
func (r *Ring) PickBytes(key []byte) int {
	i := r.pick(key)
	runtime.KeepAlive(r)
	return i
}

// pick follows docs/ring-image.md "Pick", step by step.
func (r *Ring) pick(key []byte) int {
	n := uint64(len(key))
	if n < uint64(r.minKey) || (r.maxKey != 0 && n > uint64(r.maxKey)) {
		return -1
	}
	if r.special {
		return r.pickTransformed(key) // a key transform or rendezvous (transform.go)
	}
	if r.serverCount == 1 {
		return 0 // every peer short-cuts a single server without hashing
	}
	return r.pickHash(r.hashKey(key))
}

// hashKey is steps 3, 4 and 6 of "Pick": the hashed prefix, the hash tag, the key hash.
func (r *Ring) hashKey(key []byte) uint32 {
	if r.prefixMax != 0 && uint64(len(key)) > uint64(r.prefixMax) {
		key = key[:r.prefixMax] // gomemcache: 256 (PickServer copies the key into a 256-byte buffer)
	}
	if r.hashTag != 0 {
		key = tagged(r.hashTag, key)
	}
	if r.keyHash == keyHashCrc32 {
		return crc32Update(r.keySeed, key) // the common case without the switch
	}
	return keyHash(r.keyHash, r.keySeed, key)
}

// hashLocal is hashKey for a transform's stack buffer (keyHashLocal: the bytes do not escape).
func (r *Ring) hashLocal(key []byte) uint32 {
	if r.prefixMax != 0 && uint64(len(key)) > uint64(r.prefixMax) {
		key = key[:r.prefixMax]
	}
	if r.hashTag != 0 {
		key = tagged(r.hashTag, key)
	}
	return keyHashLocal(r.keyHash, r.keySeed, key)
}

// pickHash is step 7 for the continuum and modulo algorithms. A power-of-two table (every 15-bit
// table, php-memcache's 1,024 buckets) is indexed with a mask: the same entry as h % len.
func (r *Ring) pickHash(h uint32) int {
	if r.algorithm == algorithmModulo {
		if r.tableMask != 0 || len(r.table) == 1 {
			return int(r.table[h&r.tableMask])
		}
		return int(r.table[h%uint32(len(r.table))])
	}
	if r.buckets != nil {
		e := r.buckets[h>>r.bshift]
		if e&bucketServer != 0 {
			return int(e &^ bucketServer) // no point in h's bucket: one read answers
		}
		// The bucket's points start at e (at most maxBucketPoints of them, and the point after
		// them ends the scan): the first whose value is >= h.
		v, key := r.points, uint64(h)<<32
		j := int(e)
		for j < len(v) && v[j] < key {
			j++
		}
		if j == len(v) {
			j = 0
		}
		return int(uint32(v[j]))
	}
	return int(uint32(r.points[r.position(h)]))
}

// The successor table of a continuum: 2^k buckets over the hash space (k: the smallest with at
// least two buckets per point, 8..18), each either the server that every hash of the bucket
// picks (bucketServer set: no point lies in the bucket, so its hashes all go to the first point
// after it) or the position of the bucket's first point. Most lookups then read one word: with
// 150,000 points (1,000 cmf servers) 56% of the 2^18 buckets are empty, and the others scan a
// few points from a known position, where the image's lookup index (bits <= 16) costs a read
// of the index and a search of the points every time. Built from the validated points, so it
// answers as position does (TestVectorFiles; TestBucketsAnswerAsThePoints on every hash a bucket
// boundary and point value gives). Measured at 1,000 servers, taskset -c 1, interleaved runs on
// a loaded machine: 44 -> 38 ns with the benchmarks' 1,024 hot keys, 170 -> 140 ns with 2^20 keys
// out of cache (BenchmarkPickServerManyKeys); 2^19 and 2^20 buckets were not measurably better.
const (
	bucketServer    = 1 << 31
	minBucketBits   = 8
	maxBucketBits   = 18 // 1 MiB of buckets at most
	maxBucketPoints = 16 // a ring with more points in one bucket keeps the binary search (position)
)

func (r *Ring) buildBuckets() {
	n := len(r.points)
	if n == 0 || r.serverCount >= bucketServer {
		return
	}
	bits := uint32(minBucketBits)
	for bits < maxBucketBits && uint64(1)<<bits < 2*uint64(n) {
		bits++
	}
	buckets := make([]uint32, 1<<bits)
	shift := 32 - bits
	pos := 0
	for b := range buckets {
		start := uint64(b) << shift
		end := start + 1<<shift // exclusive
		for pos < n && r.points[pos]>>32 < start {
			pos++
		}
		first := pos
		for pos < n && r.points[pos]>>32 < end {
			pos++
		}
		switch {
		case pos == first && first == n: // past the last point: the hashes wrap to point 0
			buckets[b] = bucketServer | uint32(r.points[0])
		case pos == first:
			buckets[b] = bucketServer | uint32(r.points[first])
		case pos-first > maxBucketPoints:
			return // clustered points: the lookup index and a binary search do better
		default:
			buckets[b] = uint32(first)
		}
	}
	r.buckets, r.bshift = buckets, shift
}

// position is the first point whose value is >= h (among equal values the first: the point the
// peer inserted first), wrapping to 0 past the last point. The lookup index narrows the search to
// one bucket; a bucket of more than 8 points is searched by halves.
func (r *Ring) position(h uint32) int {
	v := r.points
	lo, hi := 0, len(v)
	if r.index != nil {
		b := h >> r.shift
		lo, hi = int(r.index[b]), int(r.index[b+1])
	}
	key := uint64(h) << 32 // value < h  <=>  value<<32 | server < h<<32
	for hi-lo > 8 {
		mid := int(uint(lo+hi) >> 1)
		if v[mid] < key {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	for lo < hi && v[lo] < key {
		lo++
	}
	if lo == len(v) {
		return 0
	}
	return lo
}

// tagged narrows key to its hash tag (twemproxy 0.5.0 nc_server.c server_pool_idx): the bytes
// strictly between the first open byte and the first close byte after it, when at least one byte
// lies between; otherwise the whole key.
func tagged(tag uint32, key []byte) []byte {
	open, close := byte(tag), byte(tag>>8)
	for i, c := range key {
		if c != open {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == close {
				if j-i > 1 {
					return key[i+1 : j]
				}
				return key
			}
		}
		return key
	}
	return key
}

// ServerCount is the number of servers (>= 1).
func (r *Ring) ServerCount() int { return len(r.servers) }

// Server returns server i (0 <= i < ServerCount; it panics otherwise, like a slice index).
func (r *Ring) Server(i int) Server { return r.servers[i] }

// Servers returns a copy of the server list, in index order.
func (r *Ring) Servers() []Server { return append([]Server(nil), r.servers...) }

// Addr returns the net.Addr of server i: the same value for every call on this Ring (and on the
// rings a follower loads after it, for a server whose address did not change).
func (r *Ring) Addr(i int) net.Addr { return r.addrs[i] }

// Flavor is the spec's flavor name ("cmf", "gomemcache", ...).
func (r *Ring) Flavor() string { return r.flavor }

// SpecJSON is the canonical spec JSON the image was built from.
func (r *Ring) SpecJSON() string { return r.spec }

// Generation is the broker's generation of this ring (OpenShm, DialBroker), 0 otherwise.
func (r *Ring) Generation() uint64 { return r.generation }

// Checksum is the image's XXH64 checksum: two rings with the same checksum have the same bytes.
func (r *Ring) Checksum() uint64 { return r.checksum }

// ImageSize is the size of the image in bytes.
func (r *Ring) ImageSize() int { return r.size }

// Current returns r itself: a Ring is the RingSource of a ring that never changes.
func (r *Ring) Current() *Ring { return r }

// Namespace is the spec's options.namespace ("" when it has none): the prefix that the cmf and
// cache-memcached flavors' peers put before every key they send. Pass it to WithNamespace when
// the Go caller prepends it to its keys itself (gomemcache has no namespace option).
func (r *Ring) Namespace() string {
	r.nsOnce.Do(func() {
		var spec struct {
			Options struct {
				Namespace string `json:"namespace"`
			} `json:"options"`
		}
		if json.Unmarshal([]byte(r.spec), &spec) == nil {
			r.ns = spec.Options.Namespace
		}
	})
	return r.ns
}
