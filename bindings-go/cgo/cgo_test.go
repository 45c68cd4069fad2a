package cgo_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"unicode/utf8"

	"samering"
	"samering/cgo"
	"samering/internal/cpick"
	"samering/internal/testutil"
)

// TestVectorFilesFromSpec: every fixtures/vectors file through samering/cgo: the C API builds the
// image in process (selector_image), the Go reader picks; the expected indexes are the real
// peers'. The image must be the very bytes the CLI writes for the same spec.
func TestVectorFilesFromSpec(t *testing.T) {
	vectors := testutil.Vectors(t)
	for _, v := range vectors {
		v := v
		t.Run(v.Name, func(t *testing.T) {
			r, err := cgo.FromSpec(v.Spec)
			if err != nil {
				t.Fatalf("FromSpec: %v", err)
			}
			cli, err := samering.FromImage(testutil.ImageBytes(t, v.Spec))
			if err != nil {
				t.Fatal(err)
			}
			if r.Checksum() != cli.Checksum() || r.ImageSize() != cli.ImageSize() {
				t.Errorf("the C API's image differs from the CLI's (checksum %#x vs %#x)", r.Checksum(), cli.Checksum())
			}
			sel := samering.NewSelector(r)
			bad := 0
			for i, c := range v.Cases {
				got := r.Pick(c.Key)
				a, err := sel.PickServer(c.Key)
				if got == c.Want && err == nil && a == r.Addr(c.Want) {
					continue
				}
				if bad++; bad <= 10 {
					t.Errorf("case %d key %x: peer %s %s picked %d, Go %d (%v %v)", i, c.Key, v.Peer, v.PeerVersion,
						c.Want, got, a, err)
				}
			}
		})
	}
	if len(vectors) < 200 {
		t.Errorf("only %d vector files", len(vectors))
	}
}

// randomKeys: keys for every rule of docs/ring-image.md "Pick" and "Key transforms" — any bytes
// of any length (around the 250-byte and 1,024-byte limits too), well-formed UTF-8 of every
// sequence length (Dalli counts characters, pymemcache decodes them), broken UTF-8, and keys
// full of the bytes the transforms rewrite (controls, quotes, backslashes, '_').
func randomKeys(rng *rand.Rand) []string {
	var keys []string
	add := func(b []byte) { keys = append(keys, string(b)) }
	for _, n := range []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 20, 63, 64, 65, 200, 211, 212, 213, 214, 236, 237, 238, 249,
		250, 251, 252, 255, 256, 257, 300, 1023, 1024, 1025, 1100} {
		for rep := 0; rep < 6; rep++ {
			b := make([]byte, n)
			rng.Read(b)
			add(b)
			for i := range b {
				b[i] = `ab"'\`[rng.Intn(5)] // quotes and backslashes (pymemcache_bytes)
				if rng.Intn(8) == 0 {
					b[i] = byte(rng.Intn(0x21)) // controls and space (php_memcache_key)
				}
			}
			add(b)
			var u []byte // well-formed UTF-8 of about n bytes
			for len(u) < n {
				r := []rune{rune(rng.Intn(0x80)), rune(0x80 + rng.Intn(0x780)), rune(0x800 + rng.Intn(0xd000)),
					rune(0x10000 + rng.Intn(0x100000))}[rng.Intn(4)]
				u = utf8.AppendRune(u, r)
			}
			add(u)
			if len(u) > 2 {
				c := append([]byte(nil), u...)
				c[rng.Intn(len(c))] = byte(0x80 + rng.Intn(0x80)) // most likely broken now
				add(c)
				add(u[:len(u)-1]) // perhaps a truncated sequence
			}
		}
	}
	for _, k := range []string{"\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80", "\xef\xbb\xbf", `'"`, "'", `"`, `\`} {
		keys = append(keys, k, "key"+k+"key")
	}
	return keys
}

// TestRandomKeysPickAsTheCCore: on every vector file's spec, and on the same spec with its first
// server only (the refusals before the single-server short-cut), the Go reader and the C++ core
// (selector_pick through the C API, one cgo call per key) answer every random key the same way,
// refusals included (Go -1, C SAMERING_EKEY). The vector files prove the answers against the
// peers; this proves that the Go reader is the C++ core's pick on keys no peer was asked about.
func TestRandomKeysPickAsTheCCore(t *testing.T) {
	rng := rand.New(rand.NewSource(20))
	keys := randomKeys(rng)
	refused := 0
	for _, v := range testutil.Vectors(t) {
		var spec map[string]interface{}
		if err := json.Unmarshal(v.Spec, &spec); err != nil {
			t.Fatal(err)
		}
		one := map[string]interface{}{}
		for k, x := range spec {
			one[k] = x
		}
		one["servers"] = spec["servers"].([]interface{})[:1]
		oneSpec, _ := json.Marshal(one)
		for _, s := range [][]byte{v.Spec, oneSpec} {
			r, err := cgo.FromSpec(s)
			if err != nil {
				t.Fatalf("%s: FromSpec: %v", v.Name, err)
			}
			c, err := cpick.New(s)
			if err != nil {
				t.Fatalf("%s: %v", v.Name, err)
			}
			bad := 0
			for _, k := range keys {
				want := c.Pick([]byte(k))
				if want == cpick.EKEY {
					want = -1
					refused++
				}
				if got := r.Pick(k); got != want {
					if bad++; bad <= 5 {
						t.Errorf("%s (%d servers): key %x (%d bytes): Go %d, the C++ core %d", v.Name, r.ServerCount(), k,
							len(k), got, want)
					}
				}
			}
			c.Free()
		}
	}
	t.Logf("%d keys per spec, %d refusals compared", len(keys), refused)
}

func TestFromSpecErrorsNameTheField(t *testing.T) {
	for spec, want := range map[string]string{
		`{"flavor": "cmf", "servers": [{"host": "a", "port": 70000}]}`: "servers[0].port",
		`{"flavor": "nope", "servers": [{"host": "a"}]}`:               "flavor",
		`{"flavor": "cmf", "servers": []}`:                             "servers",
		`not json`:                                                     "JSON",
		``:                                                             "JSON",
	} {
		r, err := cgo.FromSpec([]byte(spec))
		if err == nil || r != nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "samering/cgo: ") {
			t.Errorf("FromSpec(%q) = %v, %v; want an error naming %q", spec, r, err, want)
		}
		var ce *cgo.Error
		if !errors.As(err, &ce) || ce.Code != cgo.ESPEC || ce.Call != "selector_new_from_json" ||
			!strings.Contains(err.Error(), "selector_new_from_json: invalid spec: ") {
			t.Errorf("FromSpec(%q): %v is not SAMERING_ESPEC (%d) from selector_new_from_json", spec, err, cgo.ESPEC)
		}
	}
}

func TestFromSpecFile(t *testing.T) {
	dir := testutil.TempDir(t)
	spec := []byte(`{"flavor": "gomemcache", "servers": [{"host": "127.0.0.1", "port": 1}, {"host": "127.0.0.1", "port": 2}]}`)
	r, err := cgo.FromSpecFile(testutil.WriteFile(t, dir, "g.json", spec))
	if err != nil || r.Flavor() != "gomemcache" || r.ServerCount() != 2 {
		t.Fatalf("FromSpecFile = %v, %v", r, err)
	}
	_, err = cgo.FromSpecFile(dir + "/missing.json")
	if err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("FromSpecFile(missing) = %v", err)
	}
	bad := testutil.WriteFile(t, dir, "bad.json", []byte(`{"flavor": "cmf"}`))
	if _, err := cgo.FromSpecFile(bad); err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Errorf("FromSpecFile(bad) = %v", err)
	}
}

func benchSpec(n int) []byte {
	var s []map[string]interface{}
	for i := 0; i < n; i++ {
		s = append(s, map[string]interface{}{"host": fmt.Sprintf("127.0.%d.%d", i/250, i%250+1), "port": 11211 + i})
	}
	b, _ := json.Marshal(map[string]interface{}{"flavor": "cmf", "options": map[string]int{"ketama_points": 150}, "servers": s})
	return b
}

var benchKeys = func() []string {
	k := make([]string, 1024)
	for i := range k {
		k[i] = fmt.Sprintf("user:%08d:profile", i*7919)
	}
	return k
}()

// BenchmarkFromSpecPick: a ring built through the C API picks in Go (the same code as any Ring),
// against one cgo call per key into the C core (selector_pick).
func BenchmarkFromSpecPick(b *testing.B) {
	for _, n := range []int{10, 1000} {
		spec := benchSpec(n)
		r, err := cgo.FromSpec(spec)
		if err != nil {
			b.Fatal(err)
		}
		sel := samering.NewSelector(r)
		c, err := cpick.New(spec)
		if err != nil {
			b.Fatal(err)
		}
		keyBytes := make([][]byte, len(benchKeys))
		for i, k := range benchKeys {
			keyBytes[i] = []byte(k)
			if c.Pick(keyBytes[i]) != r.Pick(k) {
				b.Fatalf("key %d: C %d, Go %d", i, c.Pick(keyBytes[i]), r.Pick(k))
			}
		}
		b.Run(fmt.Sprintf("go-PickServer/servers=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := sel.PickServer(benchKeys[i&1023]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("cgo-selector_pick/servers=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if c.Pick(keyBytes[i&1023]) < 0 {
					b.Fatal("refused")
				}
			}
		})
		c.Free()
	}
}
