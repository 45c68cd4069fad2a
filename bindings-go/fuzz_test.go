package samering

import (
	"encoding/binary"
	"strings"
	"testing"
)

// FuzzFromImage: any bytes given to FromImage give a Ring or an error, never a panic; a Ring
// that is accepted picks in range for any key and describes every server. Each input is also
// parsed with its size and checksum fields made right, so that the fuzzer reaches the structural
// checks behind the checksum. The committed corpus (testdata/fuzz/FuzzFromImage: images the C++
// core wrote, one per algorithm, key hash family and key transform) is replayed by every `go test`;
// `go test -fuzz FuzzFromImage` explores from it.
func FuzzFromImage(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("SAMERING"))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkImage(t, b)
		if len(b) >= headerSize {
			sealed := append([]byte(nil), b...)
			binary.LittleEndian.PutUint64(sealed[offTotalSize:], uint64(len(sealed)))
			reseal(sealed)
			checkImage(t, sealed)
		}
	})
}

func checkImage(t *testing.T, b []byte) {
	r, err := FromImage(b)
	if err != nil {
		if r != nil {
			t.Fatal("a Ring with an error")
		}
		return
	}
	n := r.ServerCount()
	for _, k := range []string{"", "a", "foo", "user:42", "{tag}x", "a b\x00'\"\\", "\xff\xfe", "ключ", strings.Repeat("é", 240),
		string(b[:len(b)%300]), string(b[:len(b)%1100])} {
		if i := r.Pick(k); i < -1 || i >= n {
			t.Fatalf("Pick(%q) = %d of %d servers", k, i, n)
		}
	}
	for i := 0; i < n; i++ {
		_ = r.Server(i).Address
		if r.Addr(i) == nil {
			t.Fatalf("server %d has no net.Addr", i)
		}
	}
	_ = r.Namespace()
}

// FuzzBrokerReplies: the reply parsers never panic, whatever the broker sends.
func FuzzBrokerReplies(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 16))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 'c', 'm', 'f', 1, 0, 0, 0, 3, 0, 'a', ':', '1'})
	f.Add([]byte{2, 0, 0, 0, 0, 0, 16, 0, 0, 64, 0, 0, 1, 2, 3, 4, 4, 0, '/', 's', 'h', 'm'}) // a version-2 HELLO reply
	f.Fuzz(func(t *testing.T, p []byte) {
		_, _ = parseHelloReply(p)
		_, _ = parseRingInfoReply(p)
		_, _, _, _ = parseRingImageHead(p)
		_, _ = parseErrorReply(p)
		if len(p) >= frameHeaderSize {
			_, _ = parseHeader(p)
		}
	})
}
