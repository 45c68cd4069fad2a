package samering

import (
	"sort"
	"testing"

	"samering/internal/testutil"
)

// TestVectorFilesCoverEveryIdAndPickAllocatesNothing: the images the C++ core writes for the
// fixtures/vectors specs use every algorithm, key hash and key transform this reader knows, so
// TestVectorFiles proves each of them against a real peer (a new id without a vector file fails
// here); and a pick allocates nothing on any of them (testing.AllocsPerRun on each file's keys,
// the longest ones included: key transforms work in fixed stack buffers).
func TestVectorFilesCoverEveryIdAndPickAllocatesNothing(t *testing.T) {
	algorithms, hashes, transforms := map[uint32]int{}, map[uint32]int{}, map[uint32]int{}
	for _, v := range testutil.Vectors(t) {
		r, err := FromImage(testutil.ImageBytes(t, v.Spec))
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		algorithms[r.algorithm]++
		hashes[r.keyHash]++
		transforms[r.transform]++
		if raceEnabled {
			continue // sync.Pool drops items at random under -race (Dalli's long keys would allocate)
		}
		keys := make([]string, 0, len(v.Cases))
		for _, c := range v.Cases {
			keys = append(keys, c.Key)
		}
		sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
		if len(keys) > 40 {
			keys = append(keys[:20], keys[len(keys)-20:]...) // the 20 longest and the 20 shortest
		}
		sel := NewSelector(r)
		for _, k := range keys {
			if n := testing.AllocsPerRun(20, func() {
				r.Pick(k)
				_, _ = sel.PickServer(k)
			}); n != 0 {
				t.Errorf("%s: a pick of a %d-byte key allocates %v times", v.Name, len(k), n)
				break
			}
		}
	}
	for _, id := range []uint32{algorithmContinuum, algorithmModulo, algorithmRendezvous} {
		if algorithms[id] == 0 {
			t.Errorf("no vector file's image uses algorithm %d", id)
		}
	}
	for id, name := range keyHashNames {
		if hashes[id] == 0 {
			t.Errorf("no vector file's image uses key hash %d (%s)", id, name)
		}
	}
	for id := uint32(keyTransformNone); id <= keyTransformPyBytes; id++ {
		if transforms[id] == 0 {
			t.Errorf("no vector file's image uses key transform %d", id)
		}
	}
	t.Logf("algorithms %v, key hashes %v, key transforms %v", algorithms, hashes, transforms)
}
