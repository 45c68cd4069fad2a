package samering_test

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"samering"
	"samering/internal/testutil"
)

// The shared-memory reader rules of docs/protocol.md "Shared memory" (issue 20), as
// tests/broker/broker_files_test.cpp checks them for the C++ and C readers: files a reader cannot
// trust are refused, links and FIFOs are not followed, and a reader follows a broker restarted on
// a re-created shm dir.

// openErr is OpenShm's error, which must wrap want and contain every sub.
func openErr(t *testing.T, dir string, want error, sub ...string) {
	t.Helper()
	s, err := samering.OpenShm(dir, "main")
	if err == nil {
		s.Close()
		t.Fatalf("OpenShm accepted it (want an error with %q)", sub)
	}
	if want != nil && !errors.Is(err, want) {
		t.Errorf("OpenShm = %q, want it to wrap %v", err, want)
	}
	for _, x := range sub {
		if !strings.Contains(err.Error(), x) {
			t.Errorf("OpenShm = %q, want it to contain %q", err, x)
		}
	}
}

func mustOpen(t *testing.T, dir string, opts ...samering.ShmOption) {
	t.Helper()
	s, err := samering.OpenShm(dir, "main", opts...)
	if err != nil {
		t.Fatalf("OpenShm: %v", err)
	}
	s.Close()
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func chown(t *testing.T, path string, uid int) {
	t.Helper()
	if err := os.Chown(path, uid, -1); err != nil {
		t.Fatal(err)
	}
}

// TestShmReaderTrust: rule 1 — the dir, the control file and the image must be owned by root, the
// reader's uid or the one it was given, and not be writable by group or others; files are opened
// without following links and without waiting on a FIFO.
func TestShmReaderTrust(t *testing.T) {
	f := newBrokerFixture(t)
	dir := f.b.ShmDir
	ctl := filepath.Join(dir, "main.ctl")
	img := filepath.Join(dir, "main."+strconv.FormatUint(f.g0, 10)+".img")
	f.b.Stop(t) // the files stay; nothing changes them under the test
	mustOpen(t, dir)

	chmod(t, img, 0o666)
	openErr(t, dir, samering.ErrUntrusted, img+": writable by group or others (mode 0666): refused")
	chmod(t, img, 0o644)
	chmod(t, ctl, 0o646)
	openErr(t, dir, samering.ErrUntrusted, ctl+": writable by group or others")
	chmod(t, ctl, 0o644)
	chmod(t, dir, 0o757)
	openErr(t, dir, samering.ErrUntrusted, dir+": writable by group or others")
	chmod(t, dir, 0o755)
	mustOpen(t, dir)

	// Rule 1 follows links in the dir's path (/var/run), not at the files' names.
	link := filepath.Join(f.dir, "shm-link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, link)
	saved := filepath.Join(f.dir, "saved.ctl")
	if err := os.Rename(ctl, saved); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(saved, ctl); err != nil {
		t.Fatal(err)
	}
	openErr(t, dir, samering.ErrUntrusted, ctl+": a symbolic link: refused")
	os.Remove(ctl)
	if err := os.Rename(saved, ctl); err != nil {
		t.Fatal(err)
	}
	savedImg := filepath.Join(f.dir, "saved.img")
	if err := os.Rename(img, savedImg); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(img, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { // a FIFO must be refused, not waited on (O_NONBLOCK): bounded by the test's timer below
		defer close(done)
		openErr(t, dir, samering.ErrUntrusted, img+": not a regular file")
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("OpenShm blocked on a FIFO at the image's name")
	}
	os.Remove(img)
	if err := os.Rename(savedImg, img); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, dir)

	if os.Geteuid() != 0 {
		t.Skip("the other-owner half needs root (chown to nobody)")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := strconv.Atoi(nobody.Uid)
	chown(t, img, other)
	openErr(t, dir, samering.ErrUntrusted,
		img+": owned by uid "+nobody.Uid+"; a shm reader trusts only root and uid 0 (its own): refused")
	// ...unless the reader was told to trust that uid (a broker running as that user).
	mustOpen(t, dir, samering.WithTrustedUID(other))
	if _, err := samering.OpenShm(dir, "main", samering.WithTrustedUID(other+1)); err == nil ||
		!strings.Contains(err.Error(), "trusts only root, uid 0 (its own) and uid "+strconv.Itoa(other+1)) {
		t.Errorf("another trusted uid: %v", err)
	}
	chown(t, img, 0)
	chown(t, dir, other)
	openErr(t, dir, samering.ErrUntrusted, dir+": owned by uid "+nobody.Uid)
	mustOpen(t, dir, samering.WithTrustedUID(other))
	chown(t, dir, 0)
	mustOpen(t, dir)
}

// TestShmImageRefusedByTrustKeepsTheRing: a publication whose image the rules refuse is like a
// corrupt one: the ring in use stays, Err names the file, the next publication is followed.
func TestShmImageRefusedByTrustKeepsTheRing(t *testing.T) {
	f := newBrokerFixture(t)
	s, err := samering.OpenShm(f.b.ShmDir, "main")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The broker publishes the next image (0644); the test makes it group-writable before the
	// reader looks.
	f.reload(t, 1)
	testutil.WaitFor(t, "the broker to publish", 10*time.Second, func() bool { return f.b.Generation(t, "main") == f.g0+1 })
	img := filepath.Join(f.b.ShmDir, "main."+strconv.FormatUint(f.g0+1, 10)+".img")
	chmod(t, img, 0o664)
	if err := s.Refresh(); err == nil || !errors.Is(err, samering.ErrUntrusted) || !strings.Contains(err.Error(), img) {
		t.Fatalf("Refresh = %v, want the untrusted image named", err)
	}
	if s.Generation() != f.g0 {
		t.Fatalf("the reader moved to %d on an untrusted image", s.Generation())
	}
	samePicks(t, "the kept ring", s.Current(), f.want[0])
	f.reload(t, 2)
	testutil.WaitFor(t, "the next good generation", 10*time.Second, func() bool { return s.Generation() == f.g0+2 })
	if s.Err() != nil {
		t.Errorf("Err() = %v after a good publication", s.Err())
	}
	samePicks(t, "the next good ring", s.Current(), f.want[2])
}

// follows picks keys through sel (a Selector on the reader) until every answer is want's, and the
// reader names generation gen; bounded. The reader checks its control file's path at most once a
// second of picking.
func follows(t *testing.T, s *samering.Shm, want *samering.Ring, gen uint64) bool {
	t.Helper()
	sel := samering.NewSelector(s)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		same := s.Generation() == gen
		for _, k := range probeKeys {
			a, err := sel.PickServer(k)
			if i := want.Pick(k); (i < 0) != (err != nil) || (i >= 0 && a.String() != want.Server(i).Address) {
				same = false
				break
			}
		}
		if same {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

// TestShmFollowsABrokerRestartedOnARecreatedDir: rule 6 (issue 20, defect 10). systemd removes a
// RuntimeDirectory on every stop; a broker started again on it makes a new control file, and a
// reader that kept the old, unlinked one would pick from the old ring forever. Also after a
// SIGKILL (nothing cleaned up), and the new broker's generations are above the old one's.
func TestShmFollowsABrokerRestartedOnARecreatedDir(t *testing.T) {
	f := newBrokerFixture(t)
	s, err := samering.OpenShm(f.b.ShmDir, "main")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	samePicks(t, "the first broker", s.Current(), f.want[0])

	f.b.Stop(t)
	if err := os.RemoveAll(f.b.ShmDir); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		s.Current().Pick(probeKeys[i]) // still answering from the old mapping
	}
	samePicks(t, "while no broker runs", s.Current(), f.want[0])
	testutil.ReplaceFile(t, f.spec, f.rings[1])
	second := testutil.StartBroker(t, f.dir, []string{"main", f.spec})
	g1 := second.Generation(t, "main")
	if g1 <= f.g0 {
		t.Errorf("the restarted broker's generation %d is not above the first one's %d", g1, f.g0)
	}
	if !follows(t, s, f.want[1], g1) {
		t.Fatalf("the reader kept generation %d after the broker restarted on a new dir (generation %d); Err %v",
			s.Generation(), g1, s.Err())
	}
	if s.Err() != nil {
		t.Errorf("Err() = %v after following the new control file", s.Err())
	}

	second.Kill()
	if err := os.RemoveAll(second.ShmDir); err != nil {
		t.Fatal(err)
	}
	testutil.ReplaceFile(t, f.spec, f.rings[3])
	third := testutil.StartBroker(t, f.dir, []string{"main", f.spec})
	g2 := third.Generation(t, "main")
	if g2 <= g1 {
		t.Errorf("generation %d after the second restart, not above %d", g2, g1)
	}
	if !follows(t, s, f.want[3], g2) {
		t.Fatalf("after a SIGKILL and a new dir the reader kept generation %d (want %d); Err %v", s.Generation(), g2, s.Err())
	}
	// And a reload of the new broker is followed through its control file.
	testutil.ReplaceFile(t, f.spec, f.rings[2])
	third.Signal(t, syscall.SIGHUP)
	if !follows(t, s, f.want[2], g2+1) {
		t.Fatalf("a reload after the restart was not followed (generation %d)", s.Generation())
	}
}

// TestShmWhoseControlFileWasRemovedKeepsItsRingAndSaysSo: while the dir is gone and no broker has
// made it again, the reader answers from its ring and says why (a monitor can see it).
func TestShmWhoseControlFileWasRemovedKeepsItsRingAndSaysSo(t *testing.T) {
	f := newBrokerFixture(t)
	s, err := samering.OpenShm(f.b.ShmDir, "main")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f.b.Stop(t)
	if err := os.RemoveAll(f.b.ShmDir); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the reader to notice", 10*time.Second, func() bool {
		samePicks(t, "the kept ring", s.Current(), f.want[0])
		return s.Err() != nil
	})
	ctl := filepath.Join(f.b.ShmDir, "main.ctl")
	for _, want := range []string{"no longer the published one", "keeping generation " + strconv.FormatUint(f.g0, 10), ctl} {
		if !strings.Contains(s.Err().Error(), want) {
			t.Errorf("Err() = %q, want it to contain %q", s.Err(), want)
		}
	}
	if !errors.Is(s.Err(), os.ErrNotExist) {
		t.Errorf("Err() = %q does not wrap os.ErrNotExist", s.Err())
	}
	if s.Generation() != f.g0 {
		t.Errorf("generation %d, want the kept %d", s.Generation(), f.g0)
	}
	if err := s.Refresh(); err == nil {
		t.Errorf("Refresh() = nil with the control file gone")
	}
}
