package samering_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"samering"
	"samering/internal/testutil"
)

func dialModes() map[string][]samering.BrokerOption {
	return map[string][]samering.BrokerOption{
		"descriptor": {samering.WithPollInterval(0)},
		"bytes":      {samering.WithPollInterval(0), samering.WithImageBytes()},
	}
}

func TestDialBrokerFetchesAndFollowsGenerations(t *testing.T) {
	f := newBrokerFixture(t)
	for mode, opts := range dialModes() {
		t.Run(mode, func(t *testing.T) {
			b, err := samering.DialBroker(f.b.Socket, "main", opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			gen := b.Generation()
			want := f.want[int(gen-f.g0)%2]
			samePicks(t, "first image", b.Current(), want)
			if err := b.Refresh(); err != nil || b.Generation() != gen {
				t.Fatalf("Refresh without a reload: %v, generation %d -> %d", err, gen, b.Generation())
			}
			before := b.Current()
			f.reload(t, int(gen-f.g0+1)%2) // the other of rings 0 and 1
			testutil.WaitFor(t, "the next generation", 10*time.Second, func() bool {
				if err := b.Refresh(); err != nil {
					t.Fatal(err)
				}
				return b.Generation() == gen+1
			})
			samePicks(t, "after the reload", b.Current(), f.want[int(gen-f.g0+1)%2])
			if b.Err() != nil {
				t.Errorf("Err() = %v", b.Err())
			}
			if b.Current().Addr(0) != before.Addr(0) {
				t.Errorf("server 0's net.Addr changed across generations")
			}
		})
	}
}

func TestDialBrokerPolls(t *testing.T) {
	f := newBrokerFixture(t)
	b, err := samering.DialBroker(f.b.Socket, "main", samering.WithPollInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sel := samering.NewSelector(b)
	f.reload(t, 2)
	testutil.WaitFor(t, "the poller to fetch the next generation", 10*time.Second, func() bool { return b.Generation() == f.g0+1 })
	samePicks(t, "polled", b.Current(), f.want[2])
	if a, err := sel.PickServer("foo"); err != nil || a != b.Current().Addr(f.want[2].Pick("foo")) {
		t.Errorf("PickServer through the broker follower: %v %v", a, err)
	}
	b.Close()
	b.Close() // twice is fine
	if b.Current() == nil || b.Current().Pick("foo") < 0 {
		t.Errorf("the ring is not usable after Close")
	}
}

func TestDialBrokerNoSuchRing(t *testing.T) {
	f := newBrokerFixture(t)
	_, err := samering.DialBroker(f.b.Socket, "other")
	var be *samering.BrokerError
	if !errors.As(err, &be) || be.Name != "no_such_ring" || be.Code != 5 || !strings.Contains(err.Error(), f.b.Socket) {
		t.Fatalf("DialBroker(other) = %v", err)
	}
	if _, err := samering.DialBroker(f.b.Socket, "a/b"); err == nil || !strings.Contains(err.Error(), "invalid ring name") {
		t.Errorf("DialBroker(a/b) = %v", err)
	}
	if _, err := samering.DialBroker(filepath.Join(f.dir, "nobody.sock"), "main"); err == nil ||
		!errors.Is(err, syscall.ENOENT) {
		t.Errorf("DialBroker(no socket) = %v", err)
	}
}

// TestDialBrokerSurvivesRestartAndIdleClose: the broker closes idle connections and restarts; a
// failed poll keeps the ring and reports why; the next one reconnects (a new broker process:
// the image is fetched again even if its generation number is the same).
func TestDialBrokerSurvivesRestartAndIdleClose(t *testing.T) {
	f := newBrokerFixture(t, "--idle-timeout", "0.2")
	b, err := samering.DialBroker(f.b.Socket, "main", samering.WithPollInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	time.Sleep(400 * time.Millisecond) // the broker closed our idle connection
	if err := b.Refresh(); err != nil {
		t.Fatalf("Refresh after an idle close: %v", err)
	}
	f.b.Stop(t)
	if err := b.Refresh(); err == nil || b.Err() == nil {
		t.Fatalf("Refresh with the broker gone: %v", err)
	}
	samePicks(t, "kept while the broker is gone", b.Current(), f.want[0])
	testutil.ReplaceFile(t, f.spec, f.rings[3])
	f.b = testutil.StartBroker(t, f.dir, []string{"main", f.spec})
	if err := b.Refresh(); err != nil {
		t.Fatalf("Refresh after the restart: %v", err)
	}
	if b.Err() != nil {
		t.Errorf("Err() = %v after a good refresh", b.Err())
	}
	samePicks(t, "the restarted broker's ring", b.Current(), f.want[3])
}

// fakeBroker answers the first connection with reply(request bytes): for malformed replies.
func fakeBroker(t *testing.T, reply func(c *net.UnixConn, hello, req []byte)) string {
	dir := testutil.TempDir(t)
	path := filepath.Join(dir, "fake.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.AcceptUnix()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				hello := make([]byte, 20)
				if _, err := io.ReadFull(c, hello); err != nil {
					return
				}
				h := make([]byte, 12)
				if _, err := io.ReadFull(c, h); err != nil {
					return
				}
				req := make([]byte, binary.LittleEndian.Uint32(h))
				if _, err := io.ReadFull(c, req); err != nil {
					return
				}
				reply(c, hello, append(h, req...))
			}()
		}
	}()
	return path
}

func frame(op byte, id uint32, payload []byte) []byte {
	h := make([]byte, 12, 12+len(payload))
	binary.LittleEndian.PutUint32(h, uint32(len(payload)))
	h[4] = op
	binary.LittleEndian.PutUint32(h[8:], id)
	return append(h, payload...)
}

func helloReply(version uint16) []byte {
	p := make([]byte, 16)
	binary.LittleEndian.PutUint16(p, version)
	binary.LittleEndian.PutUint32(p[4:], 1<<20)
	binary.LittleEndian.PutUint32(p[8:], 16384)
	binary.LittleEndian.PutUint32(p[12:], 4242)
	return p
}

// helloReply2 is a version-2 HELLO reply naming shmDir.
func helloReply2(shmDir string) []byte {
	p := append(helloReply(2), 0, 0)
	binary.LittleEndian.PutUint16(p[16:], uint16(len(shmDir)))
	return append(p, shmDir...)
}

// ringInfoReply: u64 generation, u64 image_size, u8 n + flavor, u32 count, count × (u16 n + address).
func ringInfoReply(gen uint64, flavor string, servers ...string) []byte {
	p := make([]byte, 16)
	binary.LittleEndian.PutUint64(p, gen)
	p = append(append(append(p, byte(len(flavor))), flavor...), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(p[len(p)-4:], uint32(len(servers)))
	for _, a := range servers {
		p = append(append(p, byte(len(a)), byte(len(a)>>8)), a...)
	}
	return p
}

func imageReply(gen uint64, size uint64, img []byte) []byte {
	p := make([]byte, 16, 16+len(img))
	binary.LittleEndian.PutUint64(p, gen)
	binary.LittleEndian.PutUint64(p[8:], size)
	return append(p, img...)
}

func idOf(b []byte) uint32 { return binary.LittleEndian.Uint32(b[8:]) }

func TestDialBrokerBadReplies(t *testing.T) {
	img := testutil.ImageBytes(t, reloadSpecs(t)[0])
	corrupt := append([]byte(nil), img...)
	corrupt[len(corrupt)/2] ^= 1
	errorPayload := func(code uint16, fatal byte, msg string) []byte {
		p := []byte{0, 0, fatal, 0}
		binary.LittleEndian.PutUint16(p, code)
		return append(p, msg...)
	}
	tests := []struct {
		name  string
		reply func(hello, req []byte) []byte
		want  string
		is    error
	}{
		{"good", func(h, r []byte) []byte {
			return append(frame(0x81, idOf(h), helloReply(1)), frame(0xa1, idOf(r), imageReply(1, uint64(len(img)), img))...)
		}, "", nil},
		{"closed at once", func(h, r []byte) []byte { return nil }, "closed by the broker", nil},
		{"good, version 2", func(h, r []byte) []byte {
			return append(frame(0x81, idOf(h), helloReply2("/dev/shm/x")), frame(0xa1, idOf(r), imageReply(1, uint64(len(img)), img))...)
		}, "", nil},
		{"version 3 chosen", func(h, r []byte) []byte { return frame(0x81, idOf(h), helloReply(3)) }, "protocol version 3", samering.ErrProtocol},
		{"version 2 without its shm dir", func(h, r []byte) []byte { return frame(0x81, idOf(h), helloReply(2)) }, "version 2 HELLO reply of 16 bytes", samering.ErrProtocol},
		{"version 2 shm dir cut", func(h, r []byte) []byte {
			p := helloReply2("/dev/shm/x")
			return frame(0x81, idOf(h), p[:len(p)-1])
		}, "version 2 HELLO reply of", samering.ErrProtocol},
		{"version 2 relative shm dir", func(h, r []byte) []byte { return frame(0x81, idOf(h), helloReply2("shm")) }, "relative shm dir", samering.ErrProtocol},
		{"version 1 with trailing bytes", func(h, r []byte) []byte { return frame(0x81, idOf(h), helloReply2("/x")[:19]) }, "HELLO reply of", samering.ErrProtocol},
		{"hello too short", func(h, r []byte) []byte { return frame(0x81, idOf(h), helloReply(1)[:12]) }, "HELLO reply of 12 bytes", samering.ErrProtocol},
		{"reserved bytes set", func(h, r []byte) []byte {
			f := frame(0x81, idOf(h), helloReply(1))
			f[6] = 1
			return f
		}, "reserved header bytes", samering.ErrProtocol},
		{"frame too large", func(h, r []byte) []byte {
			f := frame(0x81, idOf(h), nil)
			binary.LittleEndian.PutUint32(f, 300<<20)
			return f
		}, "reply frame of", samering.ErrProtocol},
		{"wrong reply id", func(h, r []byte) []byte {
			return append(frame(0x81, idOf(h), helloReply(1)), frame(0xa1, idOf(r)+7, imageReply(1, uint64(len(img)), img))...)
		}, "expected 0xa1 id", samering.ErrProtocol},
		{"wrong opcode", func(h, r []byte) []byte {
			return append(frame(0x81, idOf(h), helloReply(1)), frame(0xa0, idOf(r), imageReply(1, uint64(len(img)), img))...)
		}, "reply opcode 0xa0", samering.ErrProtocol},
		{"truncated image reply", func(h, r []byte) []byte {
			return append(frame(0x81, idOf(h), helloReply(1)), frame(0xa1, idOf(r), []byte{1, 2, 3})...)
		}, "truncated RING_IMAGE reply", samering.ErrProtocol},
		{"image size differs", func(h, r []byte) []byte {
			return append(frame(0x81, idOf(h), helloReply(1)), frame(0xa1, idOf(r), imageReply(1, uint64(len(img))+8, img))...)
		}, "carries", samering.ErrProtocol},
		{"corrupt image", func(h, r []byte) []byte {
			return append(frame(0x81, idOf(h), helloReply(1)), frame(0xa1, idOf(r), imageReply(1, uint64(len(corrupt)), corrupt))...)
		}, "checksum mismatch", samering.ErrInvalidImage},
		{"truncated image", func(h, r []byte) []byte {
			return append(frame(0x81, idOf(h), helloReply(1)), frame(0xa1, idOf(r), imageReply(1, 100, img[:100]))...)
		}, "truncated", samering.ErrInvalidImage},
		{"cut mid-frame", func(h, r []byte) []byte {
			return append(frame(0x81, idOf(h), helloReply(1)), frame(0xa1, idOf(r), imageReply(1, uint64(len(img)), img))[:40]...)
		}, "in the middle of a reply", io.ErrUnexpectedEOF},
		{"malformed error frame", func(h, r []byte) []byte { return frame(0xff, idOf(h), []byte{1}) }, "malformed error reply", samering.ErrProtocol},
		{"error frame", func(h, r []byte) []byte {
			return append(frame(0x81, idOf(h), helloReply(1)), frame(0xff, idOf(r), errorPayload(14, 0, "a bug"))...)
		}, "internal: a bug", nil},
		{"no descriptor", func(h, r []byte) []byte {
			return append(frame(0x81, idOf(h), helloReply(1)), frame(0xa1, idOf(r), imageReply(1, uint64(len(img)), nil))...)
		}, "without a descriptor", samering.ErrProtocol},
	}
	for _, tc := range tests {
		tc := tc // the fake broker's goroutine may outlive this iteration
		t.Run(tc.name, func(t *testing.T) {
			path := fakeBroker(t, func(c *net.UnixConn, hello, req []byte) { c.Write(tc.reply(hello, req)) })
			opts := []samering.BrokerOption{samering.WithPollInterval(0), samering.WithTimeout(5 * time.Second)}
			if tc.name != "no descriptor" {
				opts = append(opts, samering.WithImageBytes())
			}
			b, err := samering.DialBroker(path, "main", opts...)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				samePicks(t, "fake broker", b.Current(), ringOf(t, reloadSpecs(t)[0]))
				b.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("DialBroker = %v, want an error with %q (wrapping %v)", err, tc.want, tc.is)
			}
		})
	}
}

// TestOpenBrokerShm: the shm dir comes from the broker's version-2 HELLO, its files are trusted
// as the broker's uid's (SO_PEERCRED), and the ring is checked first; a broker that speaks only
// version 1, or publishes no shared memory, is an error that says so.
func TestOpenBrokerShm(t *testing.T) {
	f := newBrokerFixture(t)
	s, err := samering.OpenBrokerShm(f.b.Socket, "main")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Generation() != f.g0 {
		t.Errorf("generation %d, the control file names %d", s.Generation(), f.g0)
	}
	samePicks(t, "through the broker's shm", s.Current(), f.want[0])
	f.reload(t, 2)
	testutil.WaitFor(t, "the next generation", 10*time.Second, func() bool { return s.Generation() == f.g0+1 })
	samePicks(t, "after the reload", s.Current(), f.want[2])

	var be *samering.BrokerError
	if _, err := samering.OpenBrokerShm(f.b.Socket, "other"); !errors.As(err, &be) || be.Name != "no_such_ring" {
		t.Errorf("OpenBrokerShm(other) = %v", err)
	}
	noShm := testutil.StartBrokerWithoutShm(t, testutil.TempDir(t), []string{"main", f.spec})
	if _, err := samering.OpenBrokerShm(noShm.Socket, "main"); err == nil ||
		!strings.Contains(err.Error(), "publishes no shared memory") || !strings.Contains(err.Error(), noShm.Socket) {
		t.Errorf("a broker without --shm-dir: OpenBrokerShm = %v", err)
	}
	// A broker before issue 20 speaks version 1 only: its HELLO reply names no shm dir.
	path := fakeBroker(t, func(c *net.UnixConn, hello, req []byte) {
		c.Write(append(frame(0x81, idOf(hello), helloReply(1)), frame(0xa0, idOf(req), ringInfoReply(7, "cmf", "a:1"))...))
	})
	if _, err := samering.OpenBrokerShm(path, "main"); err == nil ||
		!strings.Contains(err.Error(), "speaks protocol version 1") || !strings.Contains(err.Error(), path) {
		t.Errorf("a version-1 broker: OpenBrokerShm = %v", err)
	}
}

func TestDialBrokerTimesOut(t *testing.T) {
	path := fakeBroker(t, func(c *net.UnixConn, hello, req []byte) { time.Sleep(2 * time.Second) })
	start := time.Now()
	_, err := samering.DialBroker(path, "main", samering.WithTimeout(100*time.Millisecond))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("DialBroker = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("the timeout of 100 ms took %v", d)
	}
}
