package samering

import (
	"fmt"
	"math/rand"
	"testing"

	"samering/internal/testutil"
)

// TestBucketsAnswerAsThePoints: the successor table (buildBuckets) gives the server of the first
// point >= h, as the search of the points does, for every hash where the answer can change (each
// point's value and its neighbours, each bucket's first and last hash) and random ones, on rings
// of 1 to 150,000 points; a ring whose points cluster keeps the search.
func TestBucketsAnswerAsThePoints(t *testing.T) {
	specs := []string{
		`{"flavor": "cmf", "options": {"ketama_points": 3}, "servers": [{"host": "a", "port": 1}, {"host": "b", "port": "02"}]}`,
		`{"flavor": "libmemcached", "options": {"distribution": "ketama", "hash": "md5"}, "servers": [{"host": "a"}, {"host": "b"}, {"host": "c"}]}`,
		`{"flavor": "twemproxy", "options": {"distribution": "ketama"}, "servers": [{"host": "a", "name": "a"}, {"host": "b", "name": "b"}]}`,
	}
	for _, n := range []int{10, 1000} {
		servers := ""
		for i := 0; i < n; i++ {
			if i > 0 {
				servers += ", "
			}
			servers += fmt.Sprintf(`{"host": "10.0.%d.%d", "port": %d}`, i/250, i%250, 11211+i)
		}
		specs = append(specs, `{"flavor": "cmf", "options": {"ketama_points": 150}, "servers": [`+servers+`]}`)
	}
	rng := rand.New(rand.NewSource(7))
	for _, spec := range specs {
		r, err := FromImage(testutil.ImageBytes(t, []byte(spec)))
		if err != nil {
			t.Fatal(err)
		}
		if r.buckets == nil {
			t.Fatalf("%.60s: no successor table", spec)
		}
		want := func(h uint32) int { return int(uint32(r.points[r.position(h)])) }
		check := func(h uint32) {
			if got, w := r.pickHash(h), want(h); got != w {
				t.Fatalf("%.60s (%d points): hash %#08x: the buckets say server %d, the points %d", spec, len(r.points), h, got, w)
			}
		}
		for _, p := range r.points {
			v := uint32(p >> 32)
			check(v - 1)
			check(v)
			check(v + 1)
		}
		for b := range r.buckets {
			start := uint32(b) << r.bshift
			check(start)
			check(start - 1)
		}
		for i := 0; i < 100000; i++ {
			check(rng.Uint32())
		}
	}
	// Points clustered in one bucket: the table is not built and the search answers.
	r, err := FromImage(testutil.ImageBytes(t, []byte(specs[3])))
	if err != nil {
		t.Fatal(err)
	}
	for i := range r.points {
		r.points[i] = uint64(0x80000000+uint32(i))<<32 | uint64(uint32(r.points[i]))
	}
	r.buckets = nil
	r.buildBuckets()
	if r.buckets != nil {
		t.Errorf("1,500 points in one bucket: a successor table was built")
	}
}
