package cgo_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

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
