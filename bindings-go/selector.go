package samering

import (
	"errors"
	"net"
	"strings"
	"sync/atomic"
)

// A RingSource yields the ring to pick from: a *Ring (always itself), or a follower (*Shm from
// OpenShm, *Broker from DialBroker) whose ring changes when the broker reloads. Current must be
// safe for concurrent use and never return nil.
type RingSource interface {
	Current() *Ring
}

// ErrKeyRefused is returned by Selector.PickServer for a key that the ring's flavor refuses (its
// length is outside what the peer accepts). The key goes to no server: never to another node.
var ErrKeyRefused = errors.New("samering: the ring's flavor refuses this key")

// ErrNotInNamespace is returned by Selector.PickServer when the selector has a namespace and the
// key does not start with it (the caller forgot to prepend it: the peer would never see that key).
var ErrNotInNamespace = errors.New("samering: key does not start with the selector's namespace")

// Selector routes gomemcache keys by a samering ring. It has gomemcache's ServerSelector methods,
//
//	PickServer(key string) (net.Addr, error)
//	Each(func(net.Addr) error) error
//
// so memcache.NewFromSelector(sel) sends every key to the server the spec's flavor (its peer
// client) picks. This package does not import gomemcache: Go interfaces are satisfied implicitly.
// Each server has one net.Addr value whose String is the address as written in the spec
// (gomemcache groups GetMulti keys by that value and dials Network(), String()). PickServer
// allocates nothing, takes no lock and makes no system call; a Selector is safe for concurrent
// use by many goroutines.
type Selector struct {
	ring *Ring      // a fixed ring (src is a *Ring), or nil
	shm  *Shm       // src when it is a *Shm (a direct call per pick instead of an interface call)
	src  RingSource // any other follower
	ns   string
}

// A SelectorOption configures NewSelector.
type SelectorOption func(*Selector)

// WithNamespace makes the selector route like Cache::Memcached::Fast (and Cache::Memcached) with
// `namespace => prefix`, for a Go caller that prepends prefix to every key itself (gomemcache has
// no namespace option). Those peers send prefix+key but hash the key alone, or, with CMF's
// hash_namespace, hash prefix+key; the ring image carries that choice (its CRC seed is
// crc32(prefix) with hash_namespace), so the selector strips prefix and picks the rest either way.
// A key without the prefix is refused with ErrNotInNamespace. The ring's spec names its
// namespace: WithNamespace(ring.Namespace()).
func WithNamespace(prefix string) SelectorOption {
	return func(s *Selector) { s.ns = prefix }
}

// NewSelector returns a Selector over src: a *Ring, or a follower (OpenShm, DialBroker) whose
// current ring it reads on every pick.
func NewSelector(src RingSource, opts ...SelectorOption) *Selector {
	s := &Selector{src: src}
	switch x := src.(type) {
	case *Ring:
		s.ring = x // no interface call per pick for a ring that never changes
	case *Shm:
		s.shm = x
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func (s *Selector) current() *Ring {
	if s.ring != nil {
		return s.ring
	}
	return s.followed()
}

// followed is the current ring of the follower (not inlined: PickServer checks s.ring itself).
func (s *Selector) followed() *Ring {
	if sh := s.shm; sh != nil { // Shm.Current, written out here: it is too large to be inlined
		if st := sh.load(); atomic.LoadUint64(st.seqp) == st.want {
			return st.ring
		}
		return sh.follow(false).ring
	}
	return s.src.Current()
}

// PickServer returns the server for key: the net.Addr of the server the ring's flavor picks.
// Errors: ErrKeyRefused (the flavor refuses the key), ErrNotInNamespace; never another server.
func (s *Selector) PickServer(key string) (net.Addr, error) {
	r := s.ring
	if r == nil {
		// A *Shm whose control block did not move: its ring without a call (Shm.Current written
		// out; bench/results/go.md: the shm pick within 1.1x of a fixed ring's).
		if sh := s.shm; sh != nil {
			if st := sh.load(); atomic.LoadUint64(st.seqp) == st.want {
				r = st.ring
			}
		}
		if r == nil {
			r = s.followed()
		}
	}
	if s.ns != "" {
		if !strings.HasPrefix(key, s.ns) {
			return nil, ErrNotInNamespace
		}
		key = key[len(s.ns):]
	}
	i := r.Pick(key)
	if uint(i) >= uint(len(r.addrs)) {
		return nil, ErrKeyRefused
	}
	return r.addrs[i], nil
}

// Each calls f with each server's net.Addr, in index order, until f returns an error, which
// Each returns.
func (s *Selector) Each(f func(net.Addr) error) error {
	for _, a := range s.current().addrs {
		if err := f(a); err != nil {
			return err
		}
	}
	return nil
}

// Ring returns the ring the selector picks from now.
func (s *Selector) Ring() *Ring { return s.current() }
