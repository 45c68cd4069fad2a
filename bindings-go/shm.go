package samering

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
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

// controlCheckEvery is how often, at most, a picking Shm checks that its control file's path
// still names the file it maps (reader rule 6; the C++ reader's kCheckEveryNs).
const controlCheckEvery = time.Second

// checkDue is the sequence number a state that asks for the path check compares with: no control
// block reaches it (2^64 - 1 publications), so the next pick takes the slow path.
const checkDue = ^uint64(0)

// ErrUntrusted is matched (errors.Is) by the errors of a shm dir, control file or image that the
// reader rules refuse to trust: owned by a uid other than root, the process's own and the one
// given with WithTrustedUID; writable by group or others; a symbolic link; not a regular file.
var ErrUntrusted = errors.New("samering shm: untrusted file")

type untrustedError struct{ msg string }

func (e *untrustedError) Error() string        { return e.msg }
func (e *untrustedError) Is(target error) bool { return target == ErrUntrusted }

// Shm follows the ring a samering-broker publishes in its --shm-dir, by the reader rules of
// docs/protocol.md "Shared memory": it maps <dir>/<ring>.ctl and the image the control block
// names, maps the next one when the broker publishes a reload, and maps a new control file when
// the broker was restarted on a re-created dir. Current costs one atomic load of the control
// block's sequence number when nothing changed (no system call, no lock, no allocation); it is
// safe for concurrent use by many goroutines.
//
// A newly published image that is missing, truncated, corrupt or untrusted is refused: the
// previous ring stays current and Err reports why, until the broker publishes again.
type Shm struct {
	dir, name, ctlPath string
	trusted            int64          // the uid trusted besides root and our own (-1: none)
	state              unsafe.Pointer // *shmState; atomic.LoadPointer rather than atomic.Pointer[T] keeps Current inlinable
	mu                 sync.Mutex     // one goroutine follows a reload at a time; the others keep picking
	timer              *time.Timer    // asks for the next path check (markDue); under mu
	closed             bool           // under mu
}

// shmState is what Current reads: immutable once stored.
type shmState struct {
	seqp     *uint64 // the control block's sequence number (in ctl)
	want     uint64  // what Current compares *seqp with: seq, or checkDue when the path check is due
	seq      uint64  // the control sequence this state answers
	ctl      *mapping
	dev, ino uint64 // the control file's identity (fstat when it was mapped)
	ring     *Ring
	err      error // why the newest publication (or control file) was refused; nil when ring is it
}

// A ShmOption configures OpenShm.
type ShmOption func(*shmOptions)

type shmOptions struct{ trusted int64 }

// WithTrustedUID makes the reader trust files owned by uid besides root's and the process's own
// effective uid's: the broker's, when it runs as another user (OpenBrokerShm passes the uid the
// kernel reports for the broker's socket). A negative uid trusts nobody more.
func WithTrustedUID(uid int) ShmOption {
	return func(o *shmOptions) {
		o.trusted = int64(uid)
		if uid < 0 {
			o.trusted = -1
		}
	}
}

// OpenShm maps the ring named ring that the broker publishes in dir (its --shm-dir) and returns
// a follower of its generations. The dir, the control file and the image must each be owned by
// root, by this process's effective uid or by the WithTrustedUID uid, and not be writable by
// group or others; the files are opened relative to the dir without following symbolic links.
// Errors: the dir or control file is missing (wraps os.ErrNotExist), refused by those rules
// (wraps ErrUntrusted), or is not a control file; nothing is published yet; or the current image
// is missing or invalid (wraps ErrInvalidImage). Every message names the file. No descriptor
// stays open; the mappings are read-only. Allocates the mappings and the ring's server strings.
func OpenShm(dir, ring string, opts ...ShmOption) (*Shm, error) {
	o := shmOptions{trusted: -1}
	for _, f := range opts {
		f(&o)
	}
	if !validRingName(ring) {
		return nil, fmt.Errorf("samering shm: invalid ring name %q", ring)
	}
	s := &Shm{dir: dir, name: ring, ctlPath: filepath.Join(dir, ring+".ctl"), trusted: o.trusted}
	st, err := s.openControl(nil)
	if err != nil {
		return nil, err
	}
	s.store(st)
	s.timer = time.AfterFunc(controlCheckEvery, s.markDue)
	return s, nil
}

// Current returns the newest valid ring the broker published, first following a new
// publication (or a replaced control file, checked at most once a second) if there is one.
func (s *Shm) Current() *Ring {
	st := s.load()
	if atomic.LoadUint64(st.seqp) == st.want {
		return st.ring
	}
	return s.follow(false).ring
}

// Generation is the broker's generation of Current(): a number that names one image on the host
// (docs/protocol.md "Opcodes"); compare generations for equality and order only.
func (s *Shm) Generation() uint64 { return s.Current().generation }

// Err returns why the newest publication or control file was refused (the previous ring stays
// current), or nil when Current is the newest published ring.
func (s *Shm) Err() error {
	s.Current()
	return s.load().err
}

// Refresh checks now, rather than at the next pick, both for a new publication and for a
// replaced control file, and returns Err(). It waits for a reload another goroutine is following.
func (s *Shm) Refresh() error {
	return s.follow(true).err
}

// Close stops the control file's path check (its timer); the current ring stays usable and
// reloads published in the mapped control file are still followed. The mappings are unmapped
// when no Ring or Shm references them any more. Safe to call while other goroutines pick.
func (s *Shm) Close() error {
	s.mu.Lock()
	s.closed = true
	s.timer.Stop()
	s.mu.Unlock()
	return nil
}

func (s *Shm) load() *shmState    { return (*shmState)(atomic.LoadPointer(&s.state)) }
func (s *Shm) store(st *shmState) { atomic.StorePointer(&s.state, unsafe.Pointer(st)) }

// markDue runs on the runtime's timer (no goroutine waits for it): it makes the next pick take
// the slow path, which checks the control file's path and arms the timer again. Nobody picking:
// the timer is not armed again, so an idle Shm costs nothing.
func (s *Shm) markDue() {
	for {
		p := atomic.LoadPointer(&s.state)
		st := (*shmState)(p)
		if st.want == checkDue {
			return
		}
		due := *st
		due.want = checkDue
		if atomic.CompareAndSwapPointer(&s.state, p, unsafe.Pointer(&due)) {
			return
		}
	}
}

// follow takes the slow path of Current: the control file's path check when it is due (or
// always), then a new publication. A goroutine that finds another one following keeps the
// current ring for this pick (the hot path never waits for a reload); with always set (Refresh)
// it waits for the lock.
func (s *Shm) follow(always bool) *shmState {
	if always {
		s.mu.Lock()
	} else if !s.mu.TryLock() {
		return s.load()
	}
	defer s.mu.Unlock()
	st := s.load()
	if always || st.want == checkDue {
		st = s.checkControlFile(st)
		if !s.closed {
			s.timer.Reset(controlCheckEvery)
		}
	}
	if now := atomic.LoadUint64(st.seqp); now != st.seq {
		next := *st
		r, seq, err := s.loadImage(st.ctl, st.ring)
		if err != nil {
			// Keep the previous ring; do not try again on every pick: wait for the next publication.
			next.seq, next.err = now, err
		} else {
			next.seq, next.ring, next.err = seq, r, nil
		}
		st = &next
	}
	if st.want != st.seq {
		next := *st
		next.want = next.seq
		st = &next
	}
	s.store(st)
	return st
}

// checkControlFile is reader rule 6: a broker restarted on a re-created dir (systemd removes a
// RuntimeDirectory on every stop) makes a new control file under the same path, and the one
// mapped, unlinked, never changes again. One lstat says whether the path still names the mapped
// file; if not, the file there now is opened by rules 1-4 and followed (ShmSelector::
// check_control_file in broker/src/shm_selector.cpp: the same messages).
func (s *Shm) checkControlFile(st *shmState) *shmState {
	var fi syscall.Stat_t
	err := syscall.Lstat(s.ctlPath, &fi)
	if err == nil && uint64(fi.Dev) == st.dev && fi.Ino == st.ino {
		return st
	}
	var next *shmState
	if err != nil {
		err = fmt.Errorf("samering shm: %s: %w (the broker's shm dir was removed?)", s.ctlPath, err)
	} else {
		next, err = s.openControl(st.ring)
	}
	if err != nil {
		kept := *st
		kept.err = &wrapped{fmt.Sprintf("samering shm: the control file mapped is no longer the published one; "+
			"keeping generation %d: %s", st.ring.generation, strings.TrimPrefix(err.Error(), "samering shm: ")), err}
		return &kept
	}
	return next
}

// wrapped is an error with its own message that still matches what it wraps (errors.Is, As).
type wrapped struct {
	msg string
	err error
}

func (e *wrapped) Error() string { return e.msg }
func (e *wrapped) Unwrap() error { return e.err }

// openControl is rules 1-4 from the start: the dir, the control file (mapped, checked), and the
// image it names. prev is the ring in use (server net.Addr values are kept).
func (s *Shm) openControl(prev *Ring) (*shmState, error) {
	dirfd, err := s.openDir()
	if err != nil {
		return nil, err
	}
	ctl, fi, err := s.mapAt(dirfd, s.name+".ctl")
	syscall.Close(dirfd)
	if err != nil {
		return nil, err
	}
	c := ctl.data
	if len(c) < controlBlockSize || string(c[:8]) != controlMagic || u32(c, 8) != controlVersion ||
		u32(c, 12) != controlBlockSize {
		return nil, fmt.Errorf("samering shm: %s: not a samering control file (bad magic, version or size)", s.ctlPath)
	}
	r, seq, err := s.loadImage(ctl, prev)
	if err != nil {
		return nil, err
	}
	return &shmState{seqp: (*uint64)(unsafe.Pointer(&c[ctlSeq])), want: seq, seq: seq, ctl: ctl,
		dev: uint64(fi.Dev), ino: fi.Ino, ring: r}, nil
}

// trust is reader rule 1 for st (of path): owned by root, our effective uid or the trusted one,
// and not writable by group or others. nil when trusted; the message says which rule failed.
func (s *Shm) trust(st *syscall.Stat_t, path string) error {
	self := uint32(os.Geteuid())
	if st.Uid != 0 && st.Uid != self && (s.trusted < 0 || int64(st.Uid) != s.trusted) {
		if s.trusted >= 0 {
			return &untrustedError{fmt.Sprintf(
				"samering shm: %s: owned by uid %d; a shm reader trusts only root, uid %d (its own) and uid %d: refused",
				path, st.Uid, self, s.trusted)}
		}
		return &untrustedError{fmt.Sprintf(
			"samering shm: %s: owned by uid %d; a shm reader trusts only root and uid %d (its own): refused",
			path, st.Uid, self)}
	}
	if st.Mode&0o022 != 0 {
		return &untrustedError{fmt.Sprintf("samering shm: %s: writable by group or others (mode %04o): refused",
			path, st.Mode&0o7777)}
	}
	return nil
}

// openDir opens the dir (following symbolic links in its path: rule 1) and checks its owner and
// mode. The caller closes the descriptor.
func (s *Shm) openDir() (int, error) {
	fd, err := syscall.Open(s.dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("samering shm: %s: %w", s.dir, err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return -1, fmt.Errorf("samering shm: %s: fstat: %w", s.dir, err)
	}
	if err := s.trust(&st, s.dir); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

// mapAt maps name in the dir read-only by rule 1: opened relative to the dir with O_NOFOLLOW (a
// link is not the broker's file) and O_NONBLOCK (a FIFO must not block the open), checked with
// fstat on the descriptor (a regular, trusted, non-empty file). No descriptor survives the call.
// A missing file wraps os.ErrNotExist.
func (s *Shm) mapAt(dirfd int, name string) (*mapping, syscall.Stat_t, error) {
	path := filepath.Join(s.dir, name)
	var st syscall.Stat_t
	fd, err := syscall.Openat(dirfd, name, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if err == syscall.ELOOP {
			return nil, st, &untrustedError{fmt.Sprintf("samering shm: %s: a symbolic link: refused", path)}
		}
		return nil, st, fmt.Errorf("samering shm: %s: %w", path, err)
	}
	defer syscall.Close(fd)
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, st, fmt.Errorf("samering shm: %s: fstat: %w", path, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, st, &untrustedError{fmt.Sprintf("samering shm: %s: not a regular file", path)}
	}
	if err := s.trust(&st, path); err != nil {
		return nil, st, err
	}
	m, err := mapFd(fd, st.Size, path)
	if err != nil {
		return nil, st, fmt.Errorf("samering shm: %w", err)
	}
	return m, st, nil
}

type controlSnapshot struct {
	seq, generation, imageSize, imageChecksum, brokerPid uint64
}

// snapshot reads the control block between two equal even sequence numbers (rule 3, a seqlock:
// the broker makes seq odd, stores the fields, makes it even). Go's atomics are sequentially
// consistent, which gives the acquire ordering the C++ reader asks for.
func snapshot(ctl *mapping) (controlSnapshot, bool) {
	c := ctl.data
	field := func(off int) uint64 { return atomic.LoadUint64((*uint64)(unsafe.Pointer(&c[off]))) }
	for i := 0; i < 100000; i++ {
		s1 := field(ctlSeq)
		if s1&1 != 0 {
			runtime.Gosched()
			continue
		}
		snap := controlSnapshot{
			seq: s1, generation: field(ctlGeneration), imageSize: field(ctlImageSize),
			imageChecksum: field(ctlImageChecksum), brokerPid: field(ctlBrokerPid),
		}
		if field(ctlSeq) == s1 {
			return snap, true
		}
	}
	return controlSnapshot{}, false
}

// loadImage maps and validates the image the control block ctl names now (rules 3-4;
// ShmSelector::load in broker/src/shm_selector.cpp: the same checks, the same messages).
func (s *Shm) loadImage(ctl *mapping, prev *Ring) (*Ring, uint64, error) {
	dirfd, err := s.openDir()
	if err != nil {
		return nil, 0, err
	}
	defer syscall.Close(dirfd)
	// The broker removes an image only a grace period after it was replaced, so a missing file
	// means the control moved on while we read it: read the control again (a few times).
	for attempt := 0; ; attempt++ {
		snap, ok := snapshot(ctl)
		if !ok {
			return nil, 0, fmt.Errorf("samering shm: %s: the control block stays mid-update", s.ctlPath)
		}
		if snap.generation == 0 {
			return nil, 0, fmt.Errorf("samering shm: %s: no image published yet", s.ctlPath)
		}
		name := s.name + "." + strconv.FormatUint(snap.generation, 10) + ".img"
		path := filepath.Join(s.dir, name)
		m, _, err := s.mapAt(dirfd, name)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				if again, ok := snapshot(ctl); attempt < 3 && ok && again.seq != snap.seq {
					continue
				}
				return nil, 0, fmt.Errorf("%w (the image of generation %d named by the control block)", err,
					snap.generation)
			}
			return nil, 0, err
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
