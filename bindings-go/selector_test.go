package samering_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"strings"
	"testing"

	"github.com/bradfitz/gomemcache/memcache"

	"samering"
	"samering/internal/testutil"
)

type specServer struct {
	Host   string  `json:"host"`
	Port   int     `json:"port"`
	Weight float64 `json:"weight,omitempty"`
}

func specJSON(t testing.TB, flavor string, options map[string]interface{}, servers []specServer) []byte {
	t.Helper()
	if options == nil {
		options = map[string]interface{}{}
	}
	b, err := json.Marshal(map[string]interface{}{"flavor": flavor, "options": options, "servers": servers})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ringOf(t testing.TB, spec []byte) *samering.Ring {
	t.Helper()
	r, err := samering.FromImage(testutil.ImageBytes(t, spec))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// loopbackServers: n servers 127.0.x.y:port (IP literals: gomemcache's SetServers resolves them).
func loopbackServers(n int) []specServer {
	s := make([]specServer, n)
	for i := range s {
		s[i] = specServer{Host: fmt.Sprintf("127.0.%d.%d", i/250, i%250+1), Port: 11211 + i}
	}
	return s
}

// randomBinaryKey: 0..600 bytes of any value (gomemcache hashes only the first 256: its
// keyBufPool buffer), often around 256.
func randomBinaryKey(rng *rand.Rand) string {
	var n int
	switch rng.Intn(4) {
	case 0:
		n = rng.Intn(16)
	case 1:
		n = 250 + rng.Intn(12)
	default:
		n = rng.Intn(600)
	}
	b := make([]byte, n)
	rng.Read(b)
	return string(b)
}

// TestGomemcacheDifferential: the gomemcache flavor through the Selector against the real
// memcache.ServerList.PickServer (Debian's golang-github-bradfitz-gomemcache-dev) on the same
// servers, on random binary keys; the answer is compared by position in Each's list.
func TestGomemcacheDifferential(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	for _, n := range []int{2, 3, 7, 10, 100, 1000} {
		for _, repeat := range []bool{false, true} {
			servers := loopbackServers(n)
			var addrs []string
			for i := range servers {
				if repeat {
					servers[i].Weight = float64(1 + i%3)
				}
				for w := 0; w < int(servers[i].Weight) || w == 0; w++ {
					addrs = append(addrs, fmt.Sprintf("%s:%d", servers[i].Host, servers[i].Port))
				}
			}
			opts := map[string]interface{}{}
			if repeat {
				opts["repeat_by_weight"] = true
			}
			sel := samering.NewSelector(ringOf(t, specJSON(t, "gomemcache", opts, servers)))
			var ss memcache.ServerList
			if err := ss.SetServers(addrs...); err != nil {
				t.Fatal(err)
			}
			var list []net.Addr
			_ = ss.Each(func(a net.Addr) error { list = append(list, a); return nil })
			for k := 0; k < 20000; k++ {
				key := randomBinaryKey(rng)
				want, err := ss.PickServer(key)
				if err != nil {
					t.Fatal(err)
				}
				got, err := sel.PickServer(key)
				if err != nil {
					t.Fatalf("%d servers: PickServer(%x): %v", n, key, err)
				}
				if got.String() != want.String() {
					t.Fatalf("%d servers (repeat_by_weight %v): key %x (%d bytes): samering %v, gomemcache %v",
						n, repeat, key, len(key), got, want)
				}
			}
		}
	}
}

func TestEachListsEveryServerOnceWithStableAddrs(t *testing.T) {
	servers := loopbackServers(5)
	r := ringOf(t, specJSON(t, "cmf", map[string]interface{}{"ketama_points": 150}, servers))
	sel := samering.NewSelector(r)
	var seen []net.Addr
	if err := sel.Each(func(a net.Addr) error { seen = append(seen, a); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 5 {
		t.Fatalf("Each listed %d servers", len(seen))
	}
	for i, a := range seen {
		if a != r.Addr(i) || a.String() != fmt.Sprintf("%s:%d", servers[i].Host, servers[i].Port) || a.Network() != "tcp" {
			t.Errorf("Each[%d] = %v", i, a)
		}
	}
	// PickServer returns those very values (gomemcache's GetMulti groups keys by them).
	for i := 0; i < 1000; i++ {
		a, err := sel.PickServer(fmt.Sprint("key:", i))
		if err != nil || a != seen[r.Pick(fmt.Sprint("key:", i))] {
			t.Fatalf("PickServer returned %v (%v), not the listed value", a, err)
		}
	}
	stop := errors.New("stop")
	calls := 0
	if err := sel.Each(func(net.Addr) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("Each returned %v after %d calls, want the callback's error after 1", err, calls)
	}
}

func TestRefusedKeyIsAnErrorNeverAnotherServer(t *testing.T) {
	// nginx never hashes an empty key (its flavor refuses it).
	sel := samering.NewSelector(ringOf(t, specJSON(t, "nginx", nil, loopbackServers(3))))
	if a, err := sel.PickServer(""); err != samering.ErrKeyRefused || a != nil {
		t.Fatalf("PickServer(\"\") = %v, %v; want nil, ErrKeyRefused", a, err)
	}
	if _, err := sel.PickServer("x"); err != nil {
		t.Fatal(err)
	}
}

// TestNamespaceMatchesCMF: on every CMF and Cache::Memcached vector file with a namespace, a Go
// caller that prepends the namespace itself routes each key where the real peer sent it (the
// peer got the key without the namespace: Cache::Memcached::Fast sends namespace+key and hashes
// the key, or namespace+key with hash_namespace).
func TestNamespaceMatchesCMF(t *testing.T) {
	checked := 0
	for _, v := range testutil.Vectors(t) {
		r := ringOf(t, v.Spec)
		ns := r.Namespace()
		if ns == "" {
			continue
		}
		checked++
		sel := samering.NewSelector(r, samering.WithNamespace(ns))
		for i, c := range v.Cases {
			a, err := sel.PickServer(ns + c.Key)
			if err != nil || a != r.Addr(c.Want) {
				t.Fatalf("%s: case %d key %x: PickServer(namespace+key) = %v %v, the peer picked %s", v.Name, i, c.Key,
					a, err, r.Server(c.Want).Address)
			}
		}
		if _, err := sel.PickServer("\x00key"); err != samering.ErrNotInNamespace {
			t.Errorf("%s: a key without the namespace: %v, want ErrNotInNamespace", v.Name, err)
		}
	}
	if checked < 3 {
		t.Errorf("only %d vector files with a namespace", checked)
	}
}

func TestPickServerAllocatesNothing(t *testing.T) {
	for _, spec := range [][]byte{
		specJSON(t, "cmf", map[string]interface{}{"ketama_points": 150}, loopbackServers(100)),
		specJSON(t, "gomemcache", nil, loopbackServers(10)),
		specJSON(t, "libmemcached", map[string]interface{}{"distribution": "ketama", "hash": "md5"}, loopbackServers(10)),
	} {
		sel := samering.NewSelector(ringOf(t, spec), samering.WithNamespace("app:"))
		key := "app:" + strings.Repeat("user:12345678:", 10) // > 32 bytes: a []byte copy would be on the heap
		if n := testing.AllocsPerRun(1000, func() { _, _ = sel.PickServer(key) }); n != 0 {
			t.Errorf("%s: PickServer allocates %v times per call", spec[:40], n)
		}
	}
}

// The adapter plugs into gomemcache: memcache.NewFromSelector takes it as a ServerSelector.
var _ memcache.ServerSelector = (*samering.Selector)(nil)
