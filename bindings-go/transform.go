package samering

import (
	"crypto/md5"
	"encoding/binary"
	"hash"
	"sync"
	"unicode/utf8"
)

// The key transforms of docs/ring-image.md ("Key transforms", "Pick" steps 1 and 5) and the
// rendezvous algorithm (algorithm 4): the C++ core's Ring::pick_transformed, pick_rpy and
// pick_rendezvous (selector/src/ring.cpp), in pure Go. Rewritten bytes live in fixed buffers on
// the stack (the page bounds every one of them), so a pick still allocates nothing
// (TestPickAllocatesNothing); each path is proven by the vector files of its peer.

const (
	keyTransformPhpMemcache = 1 // bytes <= 0x20 hashed as '_' (pecl memcache 4.0.5.2 mmc_prepare_key_ex)
	keyTransformUtf8        = 2 // keys that are not well-formed UTF-8 are refused (spymemcached)
	keyTransformDalli       = 3 // Dalli 3.0.6 KeyManager#validate_key: params ‖ key, shortened past 250 characters
	keyTransformPyStr       = 4 // pymemcache: a Python str, the low byte of each code point
	keyTransformPyBytes     = 5 // pymemcache: Python bytes formatted with %s, i.e. repr(key)

	phpMemcacheMaxKey = 250  // pecl memcache MMC_MAX_KEY_LEN: transform 1 needs hashed_prefix_max 1..250
	maxRendezvousKey  = 1024 // rendezvous images have max_key_length 1..1024
	dalliMaxKey       = 250  // Dalli KeyManager::MAX_KEY_LENGTH (characters), memcached's (bytes)

	// pythonBytesRepr writes at most 4 bytes per key byte plus b and two quotes.
	maxRendezvousText = 4*maxRendezvousKey + 3
)

const ones = 0x0101010101010101

// hasControl reports whether b has a byte <= 0x20, 8 bytes at a time (the last word overlapping):
// "has a byte less than 0x21" is exact for thresholds <= 0x80 (ring.cpp has_control).
func hasControl(b []byte) bool {
	if len(b) < 8 {
		for _, c := range b {
			if c <= 0x20 {
				return true
			}
		}
		return false
	}
	word := func(w uint64) bool { return (w-0x21*ones)&^w&(0x80*ones) != 0 }
	for i := 0; i+8 < len(b); i += 8 {
		if word(binary.LittleEndian.Uint64(b[i:])) {
			return true
		}
	}
	return word(binary.LittleEndian.Uint64(b[len(b)-8:]))
}

// pickTransformed picks for an image with a key transform or the rendezvous algorithm; the key's
// length is already within the image's range (step 1).
func (r *Ring) pickTransformed(key []byte) int {
	switch r.transform {
	case keyTransformUtf8:
		// spymemcached: a key is a Java String sent as its UTF-8 bytes, so other bytes name no key.
		// Refused before the single-server short-cut. (utf8.Valid is RFC 3629's well-formedness:
		// no overlong form, no surrogate, nothing above U+10FFFF; ASCII 8 bytes at a time.)
		if !utf8.Valid(key) {
			return -1
		}
		if r.serverCount == 1 {
			return 0
		}
		return r.pickHash(r.hashKey(key))
	case keyTransformPhpMemcache:
		// pecl memcache 4.0.5.2 mmc_prepare_key_ex hashes (and sends) the key cut to 250 bytes with
		// every byte <= ' ' written as '_'. The image keeps hashed_prefix_max in 1..250, so the
		// rewritten bytes fit the buffer; a key without such a byte is hashed in place.
		if r.serverCount == 1 {
			return 0
		}
		if uint64(len(key)) > uint64(r.prefixMax) {
			key = key[:r.prefixMax]
		}
		if !hasControl(key) {
			return r.pickHash(r.hashKey(key))
		}
		var buf [phpMemcacheMaxKey]byte
		for i, c := range key {
			if c <= 0x20 {
				c = '_'
			}
			buf[i] = c
		}
		return r.pickHash(r.hashLocal(buf[:len(key)]))
	case keyTransformDalli:
		return r.pickDalli(key)
	case keyTransformPyStr:
		return r.pickRendezvousStr(key)
	case keyTransformPyBytes:
		return r.pickRendezvousBytes(key)
	}
	// The rendezvous algorithm without a transform: the key's bytes as they are.
	if r.serverCount == 1 {
		return 0
	}
	return r.rendezvousBest(key)
}

// pickDalli: Dalli 3.0.6 hashes the key it sends, w = params ‖ key (the namespace and ':'),
// shortened when longer than 250 characters (docs/ring-image.md "dalli").
func (r *Ring) pickDalli(key []byte) int {
	var h uint32
	if len(r.params)+len(key) <= dalliMaxKey {
		// at most 250 bytes, so at most 250 characters: sent as it is
		h = crc32Update(r.paramsCrc, key)
	} else {
		var ok bool
		if h, ok = dalliLongKeyHash(r.params, key); !ok {
			return -1
		}
	}
	if r.serverCount == 1 {
		return 0 // Dalli builds no ring for one server
	}
	return r.pickHash(h)
}

// dalliDigest is the MD5 state of Dalli's long keys, pooled: md5.New allocates, and a long key's
// digest would be one allocation per pick.
type dalliDigest struct {
	h   hash.Hash
	sum [md5.Size]byte
	hex [2 * md5.Size]byte
}

var dalliDigests = sync.Pool{New: func() interface{} { return &dalliDigest{h: md5.New()} }}

// dalliLongKeyHash is the crc32 of the key Dalli 3.0.6 sends for w = params ‖ key of more than
// 250 bytes (key_manager.rb validate_key / truncated_key), or false when memcached would refuse
// that key (more than 250 bytes). Characters are counted as Ruby counts a UTF-8 String
// (String#length: a well-formed sequence is one character, any other byte one by itself; that is
// utf8.DecodeRune's width). ring.cpp dalli_long_key_hash.
func dalliLongKeyHash(params string, key []byte) (uint32, bool) {
	p := stringBytes(params)
	total := len(p) + len(key)
	at := func(i int) byte {
		if i < len(p) {
			return p[i]
		}
		return key[i-len(p)]
	}
	// prefix_length: 249 - ":md5:" - 32 hex digits = 212 characters; 213 with a namespace
	prefixChars := 212
	if len(p) != 0 {
		prefixChars = 213
	}
	pos, chars, cut := 0, 0, 0
	for pos < total && chars <= dalliMaxKey {
		if chars == prefixChars {
			cut = pos
		}
		var window [4]byte
		avail := total - pos
		if avail > 4 {
			avail = 4
		}
		for i := 0; i < avail; i++ {
			window[i] = at(pos + i)
		}
		_, n := utf8.DecodeRune(window[:avail])
		pos += n
		chars++
	}
	if chars <= dalliMaxKey {
		return 0, false // sent as it is: more than 250 bytes, memcached refuses it
	}
	const separator = ":md5:"
	if cut+len(separator)+2*md5.Size > dalliMaxKey {
		return 0, false // the shortened key is still too long
	}
	d := dalliDigests.Get().(*dalliDigest)
	d.h.Reset()
	d.h.Write(p)
	d.h.Write(key)
	sum := d.h.Sum(d.sum[:0])
	const digits = "0123456789abcdef"
	for i, c := range sum {
		d.hex[2*i], d.hex[2*i+1] = digits[c>>4], digits[c&15]
	}
	fromParams := cut
	if fromParams > len(p) {
		fromParams = len(p)
	}
	h := crc32Update(0, p[:fromParams])
	h = crc32Update(h, key[:cut-fromParams])
	h = crc32Update(h, stringBytes(separator))
	h = crc32Update(h, d.hex[:])
	dalliDigests.Put(d)
	return h, true
}

// Go zeroes a local array where it is declared, so the rendezvous buffers come in two sizes: a
// typical key's (smallText bytes) and the page's bound (maxRendezvousKey); only the one a key needs
// is cleared. BenchmarkPickFlavors/rendezvous (21-byte keys, 10 servers, taskset -c 1, interleaved
// runs on a loaded machine): 210 -> 141 ns with this and the ASCII path of rendezvousStr, about
// a third of the gain from this one.
const smallText = 256

// pickRendezvousStr: pymemcache hashes "%s-%s" % (node, key) with murmur3_32, which reads
// ord(c) & 0xff per character (client/murmur3.py). A str key: the low byte of each code point;
// a key that is not UTF-8 is refused (no Python str has it). ring.cpp python_str_low_bytes.
func (r *Ring) pickRendezvousStr(key []byte) int {
	if len(key) <= smallText {
		var text [smallText]byte // one byte per character, at most one character per key byte
		return r.rendezvousStr(key, text[:])
	}
	var text [maxRendezvousKey]byte
	return r.rendezvousStr(key, text[:])
}

func (r *Ring) rendezvousStr(key, text []byte) int {
	n := 0
	for i := 0; i < len(key); {
		if c := key[i]; c < utf8.RuneSelf { // ASCII: the character is the byte
			text[n] = c
			n++
			i++
			continue
		}
		c, size := utf8.DecodeRune(key[i:])
		if c == utf8.RuneError && size == 1 {
			return -1
		}
		text[n] = byte(c)
		n++
		i += size
	}
	if r.serverCount == 1 {
		return 0
	}
	return r.rendezvousBest(text[:n])
}

// pickRendezvousBytes: a bytes key formatted with %s is its repr (CPython Objects/bytesobject.c
// PyBytes_Repr): b, a quote, the escaped bytes, the quote. ring.cpp python_bytes_repr.
func (r *Ring) pickRendezvousBytes(key []byte) int {
	if r.serverCount == 1 {
		return 0
	}
	if 4*len(key)+3 <= smallText {
		var text [smallText]byte
		return r.rendezvousBest(pythonBytesRepr(key, text[:]))
	}
	var text [maxRendezvousText]byte
	return r.rendezvousBest(pythonBytesRepr(key, text[:]))
}

// pythonBytesRepr writes repr(key) into text (at least 4*len(key)+3 bytes) and returns it.
func pythonBytesRepr(key, text []byte) []byte {
	single, double := false, false
	for _, c := range key {
		single = single || c == '\''
		double = double || c == '"'
	}
	quote := byte('\'')
	if single && !double {
		quote = '"'
	}
	const digits = "0123456789abcdef"
	n := 0
	text[n], text[n+1] = 'b', quote
	n += 2
	for _, c := range key {
		switch {
		case c == quote || c == '\\':
			text[n], text[n+1] = '\\', c
			n += 2
		case c == '\t':
			text[n], text[n+1] = '\\', 't'
			n += 2
		case c == '\n':
			text[n], text[n+1] = '\\', 'n'
			n += 2
		case c == '\r':
			text[n], text[n+1] = '\\', 'r'
			n += 2
		case c < 0x20 || c >= 0x7f:
			text[n], text[n+1], text[n+2], text[n+3] = '\\', 'x', digits[c>>4], digits[c&15]
			n += 4
		default:
			text[n] = c
			n++
		}
	}
	text[n] = quote
	return text[:n+1]
}

// rendezvousNodes is pymemcache's rendezvous hash of "address-" ‖ text for every server, split at
// the server's last whole murmur3 block: a server whose "address-" has `open` (0..3) bytes past its
// whole blocks is in group[open], with its state after the whole blocks, those open bytes (the
// start of its next block), the length of "address-" and its tie rank. A pick then mixes the
// text's own blocks once per group, not once per server (ring.cpp Ring::RendezvousNodes).
type rendezvousNodes struct {
	group        [4]rendezvousGroup
	serverOfRank []uint32
}

type rendezvousGroup struct {
	state, open, prefixLen, rank []uint32
}

// newRendezvousNodes precomputes the servers' prefixes; table holds the tie ranks (validated: a
// permutation of 0..n-1).
func newRendezvousNodes(servers []Server, table []uint32) *rendezvousNodes {
	rv := &rendezvousNodes{serverOfRank: make([]uint32, len(servers))}
	for i, s := range servers {
		prefix := []byte(s.Address + "-")
		whole := len(prefix) / 4
		var state uint32
		for b := 0; b < whole; b++ {
			state = m3step(state, m3mix(le32(prefix[4*b:])))
		}
		open := len(prefix) & 3
		g := &rv.group[open]
		g.state = append(g.state, state)
		g.open = append(g.open, m3tail(prefix[4*whole:]))
		g.prefixLen = append(g.prefixLen, uint32(len(prefix)))
		g.rank = append(g.rank, table[i])
		rv.serverOfRank[table[i]] = uint32(i)
	}
	return rv
}

// rendezvousBest is RendezvousHash.get_node (pymemcache 3.5.2 client/rendezvous.py): the server
// with the highest murmur3_32("address-" ‖ text); a tie goes to the greater node name
// (max(str(node), str(winner))), i.e. the greater tie rank. Score and rank are compared as one
// 64-bit number. len(text) <= maxRendezvousText.
func (r *Ring) rendezvousBest(text []byte) int {
	if len(text) <= smallText {
		var blocks [smallText / 4]uint32
		return r.rendezvousScores(text, blocks[:])
	}
	var blocks [maxRendezvousText/4 + 1]uint32
	return r.rendezvousScores(text, blocks[:])
}

// rendezvousScores: blocks holds the text's whole blocks, mixed (len(text)/4 of them).
func (r *Ring) rendezvousScores(text []byte, blocks []uint32) int {
	rv := r.rendezvous
	n := len(text)
	var best uint64
	for open := 0; open < 4; open++ {
		g := &rv.group[open]
		if len(g.state) == 0 {
			continue
		}
		// the server's open block takes the text's first `need` bytes (all of them if shorter)
		need := 0
		if open != 0 {
			need = 4 - open
		}
		first := need
		if first > n {
			first = n
		}
		firstCloses := open != 0 && n >= need // the open block becomes a whole block
		openTail := open != 0 && !firstCloses // server bytes + the whole (short) text stay a tail
		var firstBytes uint32
		if first > 0 {
			firstBytes = m3tail(text[:first]) << (8 * open)
		}
		rest := text[first:]
		whole := len(rest) / 4
		mixed := blocks[:whole]
		for b := range mixed {
			mixed[b] = m3mix(le32(rest[4*b:]))
		}
		var tail uint32
		if len(rest)&3 != 0 {
			tail = m3mix(m3tail(rest[4*whole:]))
		}
		for i, h := range g.state {
			k := g.open[i] | firstBytes
			if firstCloses {
				h = m3step(h, m3mix(k))
			}
			if openTail {
				h ^= m3mix(k)
			}
			for _, m := range mixed {
				h = m3step(h, m)
			}
			score := m3fmix(h ^ tail ^ (g.prefixLen[i] + uint32(n)))
			if v := uint64(score)<<32 | uint64(g.rank[i]); v > best {
				best = v
			}
		}
	}
	return int(rv.serverOfRank[uint32(best)])
}
