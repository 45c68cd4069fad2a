package samering_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"samering"
	"samering/internal/testutil"
)

// Three specs a broker reloads between; their rings are built by the C++ core through the CLI.
func reloadSpecs(t testing.TB) [][]byte {
	s := loopbackServers(4)
	return [][]byte{
		specJSON(t, "cmf", map[string]interface{}{"ketama_points": 150}, s[:3]),
		specJSON(t, "cmf", map[string]interface{}{"ketama_points": 150}, s),
		specJSON(t, "cmf", map[string]interface{}{"ketama_points": 160}, s),
		specJSON(t, "gomemcache", nil, s[1:]),
	}
}

var probeKeys = func() []string {
	keys := []string{"", "foo", "user:42", "\x00\xff\x80", strings.Repeat("k", 300)}
	for i := 0; i < 500; i++ {
		keys = append(keys, fmt.Sprintf("key:%d", i*7919))
	}
	return keys
}()

// samePicks fails unless got picks like want (the C++ core's ring of the same spec) on probeKeys.
func samePicks(t testing.TB, what string, got, want *samering.Ring) {
	t.Helper()
	if got.Checksum() != want.Checksum() {
		t.Fatalf("%s: image checksum %#x, the CLI's image of the spec %#x", what, got.Checksum(), want.Checksum())
	}
	for _, k := range probeKeys {
		if g, w := got.Pick(k), want.Pick(k); g != w {
			t.Fatalf("%s: key %q: %d, want %d", what, k, g, w)
		}
	}
}

type brokerFixture struct {
	dir, spec string
	b         *testutil.BrokerProcess
	rings     [][]byte
	want      []*samering.Ring
	g0        uint64 // the broker's first generation (the wall clock in µs: never assume 1)
}

func newBrokerFixture(t *testing.T, extra ...string) *brokerFixture {
	f := &brokerFixture{dir: testutil.TempDir(t), rings: reloadSpecs(t)}
	for _, s := range f.rings {
		f.want = append(f.want, ringOf(t, s))
	}
	f.spec = testutil.WriteFile(t, f.dir, "main.json", f.rings[0])
	f.b = testutil.StartBroker(t, f.dir, []string{"main", f.spec}, extra...)
	f.g0 = f.b.Generation(t, "main")
	if f.g0 < 1e15 {
		t.Fatalf("the broker's first generation is %d: not the wall clock in µs (docs/protocol.md)", f.g0)
	}
	return f
}

// reload makes the broker serve rings[i] (the spec file replaced, then SIGHUP).
func (f *brokerFixture) reload(t *testing.T, i int) {
	testutil.ReplaceFile(t, f.spec, f.rings[i])
	f.b.Signal(t, syscall.SIGHUP)
}

func TestShmFollowsReloads(t *testing.T) {
	f := newBrokerFixture(t)
	s, err := samering.OpenShm(f.b.ShmDir, "main")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Generation() != f.g0 || s.Err() != nil {
		t.Fatalf("generation %d (the control file names %d), err %v", s.Generation(), f.g0, s.Err())
	}
	samePicks(t, "the first generation", s.Current(), f.want[0])
	first := s.Current()
	f.reload(t, 1)
	testutil.WaitFor(t, "the next generation", 10*time.Second, func() bool { return s.Generation() == f.g0+1 })
	samePicks(t, "the next generation", s.Current(), f.want[1])
	// A server whose address did not change keeps its net.Addr value across generations.
	for i := 0; i < 3; i++ {
		if s.Current().Addr(i) != first.Addr(i) {
			t.Errorf("server %d has a new net.Addr value after the reload", i)
		}
	}
	samePicks(t, "the first generation's ring still held", first, f.want[0])
}

// corruptFile flips a byte in the middle of path in place (the reader maps the file; the
// broker keeps its own copy in a sealed memfd).
func corruptFile(t *testing.T, path string) {
	fh, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	st, _ := fh.Stat()
	b := make([]byte, 1)
	if _, err := fh.ReadAt(b, st.Size()/2); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := fh.WriteAt(b, st.Size()/2); err != nil {
		t.Fatal(err)
	}
}

func TestShmKeepsItsRingWhenANewImageIsBad(t *testing.T) {
	f := newBrokerFixture(t)
	s, err := samering.OpenShm(f.b.ShmDir, "main")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		gen   uint64
		spoil func(path string)
		why   string
	}{
		{1, func(p string) { corruptFile(t, p) }, "checksum mismatch"},
		{2, func(p string) {
			if err := os.Truncate(p, 200); err != nil {
				t.Fatal(err)
			}
		}, "truncated or resized"},
		{3, func(p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}, "no such file"},
	} {
		gen := f.g0 + bad.gen
		// The broker publishes generation gen (the spec flips between rings 1 and 2); the file is
		// spoiled before the reader looks.
		f.reload(t, 1+int(bad.gen%2))
		f.b.WaitGeneration(t, "main", gen)
		path := filepath.Join(f.b.ShmDir, fmt.Sprintf("main.%d.img", gen))
		bad.spoil(path)
		testutil.WaitFor(t, "the reader to refuse "+path, 10*time.Second, func() bool { return s.Err() != nil })
		err := s.Err()
		if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), bad.why) {
			t.Errorf("generation %d: Err() = %q, want it to name %s and say %q", gen, err, path, bad.why)
		}
		if s.Generation() != f.g0 {
			t.Fatalf("generation %d refused, yet the reader moved from %d to %d", gen, f.g0, s.Generation())
		}
		samePicks(t, "the kept first generation", s.Current(), f.want[0])
	}
	// The next good publication is followed.
	f.reload(t, 3)
	testutil.WaitFor(t, "the fifth generation", 10*time.Second, func() bool { return s.Generation() == f.g0+4 })
	if s.Err() != nil {
		t.Errorf("Err() = %v after a good generation", s.Err())
	}
	samePicks(t, "the fifth generation", s.Current(), f.want[3])
}

// writeControl writes a control file as docs/protocol.md "Shared memory" lays it out.
func writeControl(t *testing.T, dir, ring string, seq, generation, size, checksum uint64) {
	b := make([]byte, 4096)
	copy(b, "SRNGCTL1")
	binary.LittleEndian.PutUint32(b[8:], 1)
	binary.LittleEndian.PutUint32(b[12:], 56)
	for i, v := range []uint64{seq, generation, size, checksum, uint64(os.Getpid())} {
		binary.LittleEndian.PutUint64(b[16+8*i:], v)
	}
	testutil.WriteFile(t, dir, ring+".ctl", b)
}

func TestOpenShmErrors(t *testing.T) {
	dir := testutil.TempDir(t)
	expectErr := func(what, ring string, match func(error) bool) {
		t.Helper()
		s, err := samering.OpenShm(dir, ring)
		if err == nil || s != nil || !match(err) {
			t.Errorf("%s: OpenShm = %v, %v", what, s, err)
		}
	}
	contains := func(sub ...string) func(error) bool {
		return func(err error) bool {
			for _, x := range sub {
				if !strings.Contains(err.Error(), x) {
					return false
				}
			}
			return true
		}
	}
	expectErr("no control file", "main", func(err error) bool { return errors.Is(err, os.ErrNotExist) })
	expectErr("invalid ring name", "../main", contains("invalid ring name"))
	testutil.WriteFile(t, dir, "zero.ctl", make([]byte, 4096))
	expectErr("not a control file", "zero", contains("zero.ctl", "not a samering control file"))
	testutil.WriteFile(t, dir, "short.ctl", []byte("SRNGCTL1"))
	expectErr("a short control file", "short", contains("not a samering control file"))
	writeControl(t, dir, "empty", 2, 0, 0, 0)
	expectErr("nothing published", "empty", contains("no image published yet"))
	writeControl(t, dir, "gone", 2, 5, 1000, 1)
	expectErr("image missing", "gone", func(err error) bool {
		return errors.Is(err, os.ErrNotExist) && contains("gone.5.img", "generation 5")(err)
	})
	img := testutil.ImageBytes(t, reloadSpecs(t)[0])
	sum := binary.LittleEndian.Uint64(img[24:])
	testutil.WriteFile(t, dir, "sized.3.img", img)
	writeControl(t, dir, "sized", 2, 3, uint64(len(img))+8, sum)
	expectErr("size differs", "sized", func(err error) bool {
		return errors.Is(err, samering.ErrInvalidImage) && contains("sized.3.img", "truncated or resized")(err)
	})
	writeControl(t, dir, "summed", 2, 3, uint64(len(img)), sum+1)
	testutil.WriteFile(t, dir, "summed.3.img", img)
	expectErr("checksum differs from the control's", "summed", contains("summed.3.img", "checksum differs"))
	bad := append([]byte(nil), img...)
	bad[len(bad)-1] ^= 1
	testutil.WriteFile(t, dir, "corrupt.3.img", bad)
	writeControl(t, dir, "corrupt", 2, 3, uint64(len(img)), sum)
	expectErr("corrupt image", "corrupt", func(err error) bool {
		return errors.Is(err, samering.ErrInvalidImage) && contains("corrupt.3.img", "checksum mismatch")(err)
	})
	writeControl(t, dir, "busy", 3, 3, uint64(len(img)), sum) // odd: the writer never finishes
	expectErr("control stays mid-update", "busy", contains("mid-update"))
	// And a hand-made control naming a good image is followed like the broker's.
	writeControl(t, dir, "good", 2, 3, uint64(len(img)), sum)
	testutil.WriteFile(t, dir, "good.3.img", img)
	s, err := samering.OpenShm(dir, "good")
	if err != nil || s.Generation() != 3 {
		t.Fatalf("OpenShm(good) = %v", err)
	}
	samePicks(t, "hand-made control", s.Current(), ringOf(t, reloadSpecs(t)[0]))
}

// TestShmConcurrentPicksDuringReloads: goroutines pick through one Shm (and a Selector on it)
// while the broker reloads as fast as it can, and then restarts on a re-created shm dir; every
// answer must be the answer of a ring the C++ core built from one of the specs (found by the
// image checksum). Run under -race in ctest.
func TestShmConcurrentPicksDuringReloads(t *testing.T) {
	f := newBrokerFixture(t, "--shm-grace", "1")
	s, err := samering.OpenShm(f.b.ShmDir, "main")
	if err != nil {
		t.Fatal(err)
	}
	byChecksum := map[uint64]*samering.Ring{}
	for _, r := range f.want {
		byChecksum[r.Checksum()] = r
	}
	sel := samering.NewSelector(s)
	var stop atomic.Bool
	var picks, gens atomic.Int64
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			last := uint64(0)
			for i := 0; !stop.Load(); i++ {
				k := probeKeys[(i*7+g)%len(probeKeys)]
				r := s.Current()
				want, ok := byChecksum[r.Checksum()]
				if !ok {
					errs <- fmt.Errorf("a ring with checksum %#x that no spec gives", r.Checksum())
					return
				}
				if got := r.Pick(k); got != want.Pick(k) {
					errs <- fmt.Errorf("generation %d key %q: %d, want %d", r.Generation(), k, got, want.Pick(k))
					return
				}
				if a, err := sel.PickServer(k); err != nil || a == nil {
					errs <- fmt.Errorf("PickServer(%q): %v", k, err)
					return
				}
				if r.Generation() != last {
					last = r.Generation()
					gens.Add(1)
				}
				picks.Add(1)
			}
		}(g)
	}
	for i := 1; i <= 30; i++ {
		f.reload(t, i%len(f.rings))
		time.Sleep(15 * time.Millisecond)
	}
	// Then the broker is restarted on a re-created shm dir (a new control file under the same
	// path: followed by the pickers' path check, at most once a second of picking).
	f.b.Stop(t)
	if err := os.RemoveAll(f.b.ShmDir); err != nil {
		t.Fatal(err)
	}
	testutil.ReplaceFile(t, f.spec, f.rings[3])
	f.b = testutil.StartBroker(t, f.dir, []string{"main", f.spec}, "--shm-grace", "1")
	testutil.WaitFor(t, "the last spec", 10*time.Second, func() bool { return s.Current().Checksum() == f.want[3].Checksum() })
	if s.Generation() != f.b.Generation(t, "main") || s.Err() != nil {
		t.Errorf("generation %d (the new control file names %d), Err %v", s.Generation(), f.b.Generation(t, "main"), s.Err())
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d picks, %d generation changes seen by the pickers, final generation %d", picks.Load(), gens.Load(),
		s.Generation())
	if s.Generation() < f.g0+10 {
		t.Errorf("final generation %d (first %d): the broker reloaded less than expected", s.Generation(), f.g0)
	}
}
