package samering_test

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"testing"

	"github.com/bradfitz/gomemcache/memcache"

	"samering"
	"samering/internal/testutil"
)

// The pick benchmarks (bench/results/go.md; bench/go/run.sh runs them with taskset): the
// Selector on a cmf ketama ring against gomemcache's own ServerList.PickServer on the same servers,
// serial and under b.RunParallel; the shm-following pick against a plain image pick.

var benchKeys = func() []string {
	k := make([]string, 1024)
	for i := range k {
		k[i] = fmt.Sprintf("user:%08d:profile", i*7919) // 21 bytes, like a typical cache key
	}
	return k
}()

func benchServers(n int) ([]specServer, []string) {
	s := loopbackServers(n)
	addrs := make([]string, n)
	for i, x := range s {
		addrs[i] = fmt.Sprintf("%s:%d", x.Host, x.Port)
	}
	return s, addrs
}

func benchPick(b *testing.B, pick func(string) error) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := pick(benchKeys[i&1023]); err != nil {
			b.Fatal(err)
		}
	}
}

func benchPickParallel(b *testing.B, pick func(string) error) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if err := pick(benchKeys[i&1023]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func BenchmarkPickServer(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		servers, addrs := benchServers(n)
		sel := samering.NewSelector(ringOf(b, specJSON(b, "cmf", map[string]interface{}{"ketama_points": 150}, servers)))
		var ss memcache.ServerList
		if err := ss.SetServers(addrs...); err != nil {
			b.Fatal(err)
		}
		samering := func(k string) error { _, err := sel.PickServer(k); return err }
		gomemcache := func(k string) error { _, err := ss.PickServer(k); return err }
		b.Run(fmt.Sprintf("samering-cmf-ketama/servers=%d", n), func(b *testing.B) { benchPick(b, samering) })
		b.Run(fmt.Sprintf("gomemcache-ServerList/servers=%d", n), func(b *testing.B) { benchPick(b, gomemcache) })
		b.Run(fmt.Sprintf("parallel/samering-cmf-ketama/servers=%d", n), func(b *testing.B) { benchPickParallel(b, samering) })
		b.Run(fmt.Sprintf("parallel/gomemcache-ServerList/servers=%d", n), func(b *testing.B) { benchPickParallel(b, gomemcache) })
	}
}

// shmGeneration is the generation of shmDir's image: a broker's first is the wall clock in µs.
const shmGeneration = 1796000000000000

// shmDir publishes the image of spec the way the broker does (NAME.ctl naming NAME.GEN.img), so
// that the benchmark follows a real control file without a broker process in the measurement.
func shmDir(b *testing.B, spec []byte) string {
	dir := testutil.TempDir(b)
	img := testutil.ImageBytes(b, spec)
	testutil.WriteFile(b, dir, fmt.Sprintf("main.%d.img", shmGeneration), img)
	ctl := make([]byte, 4096)
	copy(ctl, "SRNGCTL1")
	binary.LittleEndian.PutUint32(ctl[8:], 1)
	binary.LittleEndian.PutUint32(ctl[12:], 56)
	binary.LittleEndian.PutUint64(ctl[16:], 2)
	binary.LittleEndian.PutUint64(ctl[24:], shmGeneration)
	binary.LittleEndian.PutUint64(ctl[32:], uint64(len(img)))
	copy(ctl[40:48], img[24:32])
	testutil.WriteFile(b, dir, "main.ctl", ctl)
	return dir
}

func BenchmarkPickShm(b *testing.B) {
	for _, n := range []int{10, 1000} {
		servers, _ := benchServers(n)
		spec := specJSON(b, "cmf", map[string]interface{}{"ketama_points": 150}, servers)
		plain := samering.NewSelector(ringOf(b, spec))
		shm, err := samering.OpenShm(shmDir(b, spec), "main")
		if err != nil {
			b.Fatal(err)
		}
		followed := samering.NewSelector(shm)
		b.Run(fmt.Sprintf("image/servers=%d", n), func(b *testing.B) {
			benchPick(b, func(k string) error { _, err := plain.PickServer(k); return err })
		})
		b.Run(fmt.Sprintf("shm/servers=%d", n), func(b *testing.B) {
			benchPick(b, func(k string) error { _, err := followed.PickServer(k); return err })
		})
		b.Run(fmt.Sprintf("parallel/image/servers=%d", n), func(b *testing.B) {
			benchPickParallel(b, func(k string) error { _, err := plain.PickServer(k); return err })
		})
		b.Run(fmt.Sprintf("parallel/shm/servers=%d", n), func(b *testing.B) {
			benchPickParallel(b, func(k string) error { _, err := followed.PickServer(k); return err })
		})
	}
}

// BenchmarkPickFlavors: PickServer on 10 servers for the flavors whose images use a key transform
// or the rendezvous algorithm (transform.go), beside cmf ketama; the same 21-byte keys.
func BenchmarkPickFlavors(b *testing.B) {
	servers, _ := benchServers(10)
	for _, f := range []struct {
		name, flavor string
		options      map[string]interface{}
	}{
		{"cmf-ketama", "cmf", map[string]interface{}{"ketama_points": 150}},
		{"php-memcache-consistent", "php-memcache", nil},
		{"spymemcached-ketama", "spymemcached", map[string]interface{}{"locator": "CONSISTENT"}},
		{"dalli-namespace", "dalli", map[string]interface{}{"namespace": "app"}},
		{"rendezvous", "rendezvous", nil},
	} {
		sel := samering.NewSelector(ringOf(b, specJSON(b, f.flavor, f.options, servers)))
		b.Run(f.name, func(b *testing.B) {
			benchPick(b, func(k string) error { _, err := sel.PickServer(k); return err })
		})
	}
}

// BenchmarkPickServerManyKeys: 1,000 servers, 2^20 distinct keys in a shuffled order, so that the
// ring's lookup structures are not all in cache (the benchmarks above cycle through 1,024 keys:
// every line they touch stays hot). The keys' own bytes miss in cache on both sides alike.
func BenchmarkPickServerManyKeys(b *testing.B) {
	servers, addrs := benchServers(1000)
	sel := samering.NewSelector(ringOf(b, specJSON(b, "cmf", map[string]interface{}{"ketama_points": 150}, servers)))
	var ss memcache.ServerList
	if err := ss.SetServers(addrs...); err != nil {
		b.Fatal(err)
	}
	keys := make([]string, 1<<20)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%08d:profile", (i*7919)%100000000)
	}
	rng := rand.New(rand.NewSource(1))
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	run := func(b *testing.B, pick func(string) error) {
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := pick(keys[i&(1<<20-1)]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("samering-cmf-ketama/servers=1000", func(b *testing.B) {
		run(b, func(k string) error { _, err := sel.PickServer(k); return err })
	})
	b.Run("gomemcache-ServerList/servers=1000", func(b *testing.B) {
		run(b, func(k string) error { _, err := ss.PickServer(k); return err })
	})
}
