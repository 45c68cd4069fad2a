package samering_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"samering"
	"samering/internal/testutil"
)

// checkVector checks every case of v on r (Pick, PickBytes and a Selector), reporting at most 10
// mismatches. Expected indexes come from the vector file only: what the real peer picked.
func checkVector(t *testing.T, v testutil.Vector, r *samering.Ring) {
	t.Helper()
	sel := samering.NewSelector(r)
	bad := 0
	for i, c := range v.Cases {
		got, gotBytes := r.Pick(c.Key), r.PickBytes([]byte(c.Key))
		addr, err := sel.PickServer(c.Key)
		if got == c.Want && gotBytes == c.Want && err == nil && addr == r.Addr(c.Want) &&
			addr.String() == r.Server(c.Want).Address {
			continue
		}
		if bad++; bad <= 10 {
			t.Errorf("%s: case %d key %x (%d bytes): peer %s %s picked %d, Go Pick %d, PickBytes %d, PickServer %v %v",
				v.Name, i, c.Key, len(c.Key), v.Peer, v.PeerVersion, c.Want, got, gotBytes, addr, err)
		}
	}
	if bad > 10 {
		t.Errorf("%s: %d of %d cases differ", v.Name, bad, len(v.Cases))
	}
}

// TestVectorFiles: every fixtures/vectors file through the Go reader, its image built by the C++
// core from the vector's spec (`samering image`), loaded both from the file and from its bytes.
// A file whose image uses an id this reader does not know fails here: whoever adds an id to the
// format adds it to Go.
func TestVectorFiles(t *testing.T) {
	vectors := testutil.Vectors(t)
	dir := testutil.TempDir(t)
	cases := 0
	for _, v := range vectors {
		v := v
		cases += len(v.Cases)
		t.Run(v.Name, func(t *testing.T) {
			sub, err := os.MkdirTemp(dir, "v")
			if err != nil {
				t.Fatal(err)
			}
			path := testutil.ImageFile(t, sub, v.Spec)
			r, err := samering.LoadImage(path)
			if err != nil {
				t.Fatalf("LoadImage of the C++ core's image of %s: %v", v.Name, err)
			}
			checkVector(t, v, r)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			r2, err := samering.FromImage(b[:len(b):len(b)])
			if err != nil {
				t.Fatalf("FromImage: %v", err)
			}
			if r2.Checksum() != r.Checksum() || r2.SpecJSON() != r.SpecJSON() || r2.Flavor() != r.Flavor() {
				t.Errorf("FromImage and LoadImage of the same bytes differ")
			}
			checkVector(t, v, r2)
		})
	}
	t.Logf("%d vector files, %d cases", len(vectors), cases)
	if len(vectors) < 200 {
		t.Errorf("only %d vector files: fixtures/vectors had 222 when this test was written", len(vectors))
	}
}

func ExampleLoadImage() {
	// samering image --spec ring.json -o ring.img (on a build host), then in the service:
	r, err := samering.LoadImage("ring.img")
	if err != nil {
		fmt.Println(err) // e.g. "samering: open ring.img: no such file or directory"
		return
	}
	fmt.Println(r.Server(r.Pick("user:42")).Address)
}

func TestLoadImageErrorsNameTheFile(t *testing.T) {
	dir := testutil.TempDir(t)
	if _, err := samering.LoadImage(dir + "/missing.img"); !errors.Is(err, os.ErrNotExist) ||
		!strings.Contains(err.Error(), "missing.img") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := samering.LoadImage(dir); err == nil {
		t.Errorf("a directory was accepted")
	}
	img := testutil.ImageBytes(t, []byte(`{"flavor": "cmf", "servers": [{"host": "a"}, {"host": "b"}]}`))
	for name, b := range map[string][]byte{
		"truncated.img": img[:len(img)/2],
		"empty.img":     {},
		"spec.json":     []byte(`{"flavor": "cmf", "servers": [{"host": "a"}]}`),
	} {
		p := testutil.WriteFile(t, dir, name, b)
		_, err := samering.LoadImage(p)
		if !errors.Is(err, samering.ErrInvalidImage) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
