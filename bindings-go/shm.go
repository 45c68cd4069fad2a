package samering

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"
)

// The control file of a broker's --shm-dir (docs/protocol.md "Shared memory";
// broker/src/shm_format.hpp).
const (
	controlMagic     = "SRNGCTL1"
	controlVersion   = 1
	controlBlockSize = 56
	ctlSeq           = 16 // atomic u64: odd while the broker writes
	ctlGeneration    = 24
	ctlImageSize     = 32
	ctlImageChecksum = 40
	ctlBrokerPid     = 48
)

// Shm follows the ring a samering-broker publishes in its --shm-dir: it maps <dir>/<ring>.ctl and
// the image the control block names, and maps the next one when the broker publishes a reload.
// Current costs one atomic load of the control block's sequence number when nothing changed (no
// system call, no lock, no allocation); it is safe for concurrent use by many goroutines.
//
// A newly published image that is missing, truncated or corrupt is refused: the previous ring
// stays current and Err reports why, until the broker publishes again.
type Shm struct {
	dir, name string
	ctl       *mapping
	seq       *uint64        // in the control mapping
	state     unsafe.Pointer // *shmState; atomic.LoadPointer rather than atomic.Pointer[T] keeps Current inlinable
	mu        sync.Mutex     // one goroutine follows a reload at a time; the others keep picking
}

type shmState struct {
	seq  uint64 // the control sequence this state answers
	ring *Ring
	err  error // why the image published at seq was refused; nil when ring is that image
}

// OpenShm maps the ring named ring that the broker publishes in dir (its --shm-dir) and returns
// a follower of its generations. Errors: the control file is missing or is not one (the error
// wraps os.ErrNotExist when the broker never published ring there), nothing is published yet, or
// the current image is invalid (wraps ErrInvalidImage; the message names the file).
// No descriptor stays open; the mappings are read-only.
func OpenShm(dir, ring string) (*Shm, error) {
	if !validRingName(ring) {
		return nil, fmt.Errorf("samering shm: invalid ring name %q", ring)
	}
	path := filepath.Join(dir, ring+".ctl")
	ctl, err := mapFile(path)
	if err != nil {
		return nil, fmt.Errorf("samering shm: %w", err)
	}
	c := ctl.data
	if len(c) < controlBlockSize || string(c[:8]) != controlMagic || u32(c, 8) != controlVersion ||
		u32(c, 12) != controlBlockSize {
		return nil, fmt.Errorf("samering shm: %s: not a samering control file (bad magic, version or size)", path)
	}
	s := &Shm{dir: dir, name: ring, ctl: ctl, seq: (*uint64)(unsafe.Pointer(&c[ctlSeq]))}
	r, seq, err := s.loadImage(nil)
	if err != nil {
		return nil, err
	}
	s.store(&shmState{seq: seq, ring: r})
	return s, nil
}

// Current returns the newest valid ring the broker published, first following a new
// publication if there is one.
func (s *Shm) Current() *Ring {
	st := s.load()
	if atomic.LoadUint64(s.seq) == st.seq {
		return st.ring
	}
	return s.follow().ring
}

// Generation is the broker's generation of Current().
func (s *Shm) Generation() uint64 { return s.Current().generation }

// Err returns why the newest publication was refused (the previous ring stays current), or nil
// when Current is the newest published ring.
func (s *Shm) Err() error {
	s.Current()
	return s.load().err
}

// Close releases nothing at once and is safe to call while other goroutines pick: the mappings
// are unmapped when no Ring or Shm references them any more. It exists so that a Shm can be used
// where an io.Closer is expected.
func (s *Shm) Close() error { return nil }

// follow maps the newly published image. A goroutine that finds another one following keeps the
// current ring for this pick (the hot path never waits for a reload).
func (s *Shm) follow() *shmState {
	if !s.mu.TryLock() {
		return s.load()
	}
	defer s.mu.Unlock()
	st := s.load()
	now := atomic.LoadUint64(s.seq)
	if now == st.seq {
		return st
	}
	r, seq, err := s.loadImage(st.ring)
	if err != nil {
		// Keep the previous ring; do not try again on every pick: wait for the next publication.
		st = &shmState{seq: now, ring: st.ring, err: err}
	} else {
		st = &shmState{seq: seq, ring: r}
	}
	s.store(st)
	return st
}

func (s *Shm) load() *shmState    { return (*shmState)(atomic.LoadPointer(&s.state)) }
func (s *Shm) store(st *shmState) { atomic.StorePointer(&s.state, unsafe.Pointer(st)) }

type controlSnapshot struct {
	seq, generation, imageSize, imageChecksum, brokerPid uint64
}

// snapshot reads the control block between two equal even sequence numbers (a seqlock: the
// broker makes seq odd, stores the fields, makes it even). Go's atomics are sequentially
// consistent, which gives the acquire ordering the C++ reader asks for.
func (s *Shm) snapshot() (controlSnapshot, bool) {
	c := s.ctl.data
	field := func(off int) uint64 { return atomic.LoadUint64((*uint64)(unsafe.Pointer(&c[off]))) }
	for i := 0; i < 100000; i++ {
		s1 := atomic.LoadUint64(s.seq)
		if s1&1 != 0 {
			runtime.Gosched()
			continue
		}
		snap := controlSnapshot{
			seq: s1, generation: field(ctlGeneration), imageSize: field(ctlImageSize),
			imageChecksum: field(ctlImageChecksum), brokerPid: field(ctlBrokerPid),
		}
		if atomic.LoadUint64(s.seq) == s1 {
			return snap, true
		}
	}
	return controlSnapshot{}, false
}

// loadImage maps and validates the image the control block names now (ShmSelector::load in
// broker/src/shm_selector.cpp: the same checks, the same messages).
func (s *Shm) loadImage(prev *Ring) (*Ring, uint64, error) {
	ctlPath := filepath.Join(s.dir, s.name+".ctl")
	// The broker removes an image only a grace period after it was replaced, so a missing file
	// means the control moved on while we read it: read the control again (a few times).
	for attempt := 0; ; attempt++ {
		snap, ok := s.snapshot()
		if !ok {
			return nil, 0, fmt.Errorf("samering shm: %s: the control block stays mid-update", ctlPath)
		}
		if snap.generation == 0 {
			return nil, 0, fmt.Errorf("samering shm: %s: no image published yet", ctlPath)
		}
		path := filepath.Join(s.dir, s.name+"."+strconv.FormatUint(snap.generation, 10)+".img")
		m, err := mapFile(path)
		if err != nil {
			if again, ok := s.snapshot(); attempt < 3 && ok && again.seq != snap.seq {
				continue
			}
			if errors.Is(err, os.ErrNotExist) {
				return nil, 0, fmt.Errorf("samering shm: %w (the image of generation %d named by the control block)",
					err, snap.generation)
			}
			return nil, 0, fmt.Errorf("samering shm: %w", err)
		}
		if uint64(len(m.data)) != snap.imageSize {
			return nil, 0, fmt.Errorf("samering shm: %s: %w: truncated or resized: the control block says %d bytes, the file has %d",
				path, ErrInvalidImage, snap.imageSize, len(m.data))
		}
		r, err := parseImage(m.data, prev)
		if err != nil {
			return nil, 0, fmt.Errorf("samering shm: %s: %w", path, err)
		}
		if r.checksum != snap.imageChecksum {
			return nil, 0, fmt.Errorf("samering shm: %s: %w: its checksum differs from the one the control block names",
				path, ErrInvalidImage)
		}
		r.owner = m
		r.generation = snap.generation
		return r, snap.seq, nil
	}
}

// validRingName: 1-200 bytes of [A-Za-z0-9_.-], not starting with '.' (broker/src/protocol.hpp
// valid_ring_name: ring names name files in the shm dir).
func validRingName(name string) bool {
	if len(name) == 0 || len(name) > 200 || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
