package samering

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Broker follows a ring that a samering-broker serves over its Unix socket: it fetches the image
// with RING_IMAGE (its bytes, or a sealed memfd passed as a descriptor and mapped read-only) and
// asks for the generation every poll interval (RING_INFO), fetching the image again when the
// broker reloaded (or restarted). Picks never touch the socket: Current is one atomic load, and
// the Ring picks in process. Safe for concurrent use by many goroutines.
//
// A failed poll keeps the current ring; Err reports the failure until a poll succeeds.
type Broker struct {
	socket, name string
	timeout      time.Duration
	descriptor   bool

	cur atomic.Pointer[Ring]

	mu   sync.Mutex // the connection and the fetch
	conn *brokerConn
	// The broker pid of cur: a restarted broker's ring is fetched again even if its generation
	// were equal (brokers since issue 20 never repeat a generation on a host; older ones counted
	// from 1 in every process).
	pid    uint32
	nextID uint32

	errMu   sync.Mutex
	lastErr error

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// A BrokerOption configures DialBroker.
type BrokerOption func(*brokerOptions)

type brokerOptions struct {
	timeout    time.Duration
	poll       time.Duration
	descriptor bool
}

// WithTimeout bounds connect and each request to the broker (default 2 s; <= 0: no bound).
func WithTimeout(d time.Duration) BrokerOption { return func(o *brokerOptions) { o.timeout = d } }

// WithPollInterval sets how often the broker is asked for its generation (default 1 s). 0 turns
// polling off: the ring then changes only when Refresh is called.
func WithPollInterval(d time.Duration) BrokerOption { return func(o *brokerOptions) { o.poll = d } }

// WithImageBytes makes the broker send the image's bytes in its reply instead of a descriptor of
// its sealed memfd (the default, which the Ring then maps read-only and shares with the broker).
func WithImageBytes() BrokerOption { return func(o *brokerOptions) { o.descriptor = false } }

// DialBroker connects to the broker at socket, fetches ring's current image and returns a
// follower of its generations (a goroutine polls until Close: a Broker that is never closed polls
// for the life of the process). Errors: the broker cannot be
// reached, it has no such ring (a *BrokerError with Name "no_such_ring", found by errors.As),
// its reply is malformed (wraps ErrProtocol), or its image is invalid (wraps ErrInvalidImage).
func DialBroker(socket, ring string, opts ...BrokerOption) (*Broker, error) {
	o := brokerOptions{timeout: 2 * time.Second, poll: time.Second, descriptor: true}
	for _, f := range opts {
		f(&o)
	}
	if !validRingName(ring) {
		return nil, fmt.Errorf("samering broker %s: invalid ring name %q", socket, ring)
	}
	b := &Broker{socket: socket, name: ring, timeout: o.timeout, descriptor: o.descriptor}
	if err := b.Refresh(); err != nil {
		return nil, err
	}
	b.stop, b.done = make(chan struct{}), make(chan struct{})
	if o.poll > 0 {
		go b.poll(o.poll)
	} else {
		close(b.done)
	}
	return b, nil
}

// OpenBrokerShm follows ring through the shared memory of the broker at socket, as
// selector_new_from_broker_shm does in C: one connection asks the broker (protocol version 2)
// for its --shm-dir and checks that it serves ring, the kernel names the broker's uid
// (SO_PEERCRED), and the connection is closed; the result is OpenShm(dir, ring,
// WithTrustedUID(broker's uid)), so the broker's files are trusted also when it runs as another
// user. Only WithTimeout of the options applies. Errors: those of DialBroker for the connection
// and the ring; a broker that speaks only version 1 or publishes no shared memory; those of
// OpenShm.
func OpenBrokerShm(socket, ring string, opts ...BrokerOption) (*Shm, error) {
	o := brokerOptions{timeout: 2 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	if !validRingName(ring) {
		return nil, fmt.Errorf("samering broker %s: invalid ring name %q", socket, ring)
	}
	dir, uid, err := brokerShmDir(socket, ring, o.timeout)
	if err != nil {
		return nil, fmt.Errorf("samering broker %s: %w", socket, err)
	}
	return OpenShm(dir, ring, WithTrustedUID(uid))
}

// brokerShmDir: HELLO and RING_INFO in one write, then the shm dir of the version-2 reply and
// the broker's uid.
func brokerShmDir(socket, ring string, timeout time.Duration) (string, int, error) {
	c, err := dialBroker(socket, timeout)
	if err != nil {
		return "", 0, err
	}
	defer c.close()
	out := appendHello(nil, 1)
	out = appendRingRequest(out, opRingInfo, 0, 2, ring)
	if err := c.send(out, timeout); err != nil {
		return "", 0, err
	}
	if err := c.readHello(1); err != nil {
		return "", 0, err
	}
	p, err := c.reply(2, opRingInfo)
	if err != nil {
		return "", 0, err
	}
	if _, err := parseRingInfoReply(p); err != nil {
		return "", 0, err
	}
	if c.hello.version < 2 {
		return "", 0, fmt.Errorf("the broker speaks protocol version %d: it does not name its shm dir", c.hello.version)
	}
	if c.hello.shmDir == "" {
		return "", 0, errors.New("the broker publishes no shared memory (start it with --shm-dir)")
	}
	uid, err := peerUID(c.c)
	if err != nil {
		return "", 0, err
	}
	return c.hello.shmDir, uid, nil
}

// peerUID is the effective uid of the process at the other end of c, as the kernel recorded it
// at connect (SO_PEERCRED).
func peerUID(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, fmt.Errorf("SO_PEERCRED: %w", cerr)
	}
	return int(cred.Uid), nil
}

// Current returns the newest ring fetched from the broker.
func (b *Broker) Current() *Ring { return b.cur.Load() }

// Generation is the broker's generation of Current().
func (b *Broker) Generation() uint64 { return b.cur.Load().generation }

// Err returns why the last poll failed (the current ring stays), or nil after a successful one.
func (b *Broker) Err() error {
	b.errMu.Lock()
	defer b.errMu.Unlock()
	return b.lastErr
}

// Close stops polling and closes the connection. The current ring stays usable.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		close(b.stop)
		<-b.done
		b.mu.Lock()
		b.drop()
		b.mu.Unlock()
	})
	return nil
}

func (b *Broker) poll(every time.Duration) {
	defer close(b.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			_ = b.Refresh()
		}
	}
}

// Refresh asks the broker for the ring's generation now and fetches its image if it changed.
// On error the current ring stays and the error is also what Err returns.
func (b *Broker) Refresh() error {
	b.mu.Lock()
	err := b.refresh()
	b.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("samering broker %s: %w", b.socket, err)
	}
	b.errMu.Lock()
	b.lastErr = err
	b.errMu.Unlock()
	return err
}

// errBroken is a connection that broke before any reply of the request arrived: the broker
// restarted or closed an idle connection. Every request here is idempotent: it is sent again once
// on a new connection.
type errBroken struct{ err error }

func (e errBroken) Error() string { return e.err.Error() }
func (e errBroken) Unwrap() error { return e.err }

func (b *Broker) refresh() error {
	for attempt := 0; ; attempt++ {
		reused := b.conn != nil
		err := b.refreshOnce()
		var broken errBroken
		if err == nil || !errors.As(err, &broken) || !reused || attempt > 0 {
			if err != nil {
				b.drop()
			}
			return err
		}
		b.drop()
	}
}

func (b *Broker) refreshOnce() error {
	var out []byte
	if b.conn == nil {
		c, err := dialBroker(b.socket, b.timeout)
		if err != nil {
			return err
		}
		b.conn = c
		b.nextID++
		out = appendHello(out, b.nextID)
	}
	c := b.conn
	helloID := b.nextID
	fresh := len(out) > 0
	if cur := b.cur.Load(); cur != nil {
		// Poll: the generation first; the image only when it changed.
		b.nextID++
		id := b.nextID
		out = appendRingRequest(out, opRingInfo, 0, id, b.name)
		if err := c.send(out, b.timeout); err != nil {
			return err
		}
		if fresh {
			if err := c.readHello(helloID); err != nil {
				return err
			}
		}
		p, err := c.reply(id, opRingInfo)
		if err != nil {
			return err
		}
		info, err := parseRingInfoReply(p)
		if err != nil {
			return err
		}
		if info.generation == cur.generation && c.hello.brokerPid == b.pid {
			return nil
		}
		out, fresh = nil, false
	}
	b.nextID++
	id := b.nextID
	var flags byte
	if b.descriptor {
		flags = flagImageFd
	}
	out = appendRingRequest(out, opRingImage, flags, id, b.name)
	c.closeFds() // none is expected before this reply; keep only the one that comes with it
	if err := c.send(out, b.timeout); err != nil {
		return err
	}
	if fresh {
		if err := c.readHello(helloID); err != nil {
			return err
		}
	}
	p, err := c.reply(id, opRingImage)
	if err != nil {
		return err
	}
	generation, size, rest, err := parseRingImageHead(p)
	if err != nil {
		return err
	}
	var r *Ring
	if b.descriptor {
		r, err = c.mapImage(size, b.cur.Load())
	} else {
		r, err = bytesImage(rest, size, b.cur.Load())
	}
	if err != nil {
		return err
	}
	r.generation = generation
	b.pid = c.hello.brokerPid
	b.cur.Store(r)
	return nil
}

// bytesImage validates image bytes sent in a RING_IMAGE reply (copied into aligned memory).
func bytesImage(p []byte, size uint64, prev *Ring) (*Ring, error) {
	if uint64(len(p)) != size {
		return nil, protocolError("RING_IMAGE reply carries %d image bytes, its header says %d", len(p), size)
	}
	mem, buf := alignedBytes(len(p))
	copy(buf, p)
	r, err := parseImage(buf, prev)
	if err != nil {
		return nil, fmt.Errorf("RING_IMAGE reply: %w", err)
	}
	r.mem = mem
	return r, nil
}

func (b *Broker) drop() {
	if b.conn != nil {
		b.conn.close()
		b.conn = nil
	}
}

// brokerConn is one connection: blocking reads bounded by deadlines, descriptors collected from
// every read (the broker sends the memfd with the first byte of the RING_IMAGE reply).
type brokerConn struct {
	c     *net.UnixConn
	fds   []int
	hello helloReply
	path  string
}

func dialBroker(path string, timeout time.Duration) (*brokerConn, error) {
	d := net.Dialer{Timeout: timeout}
	if timeout <= 0 {
		d.Timeout = 0
	}
	nc, err := d.DialContext(context.Background(), "unix", path)
	if err != nil {
		return nil, err
	}
	return &brokerConn{c: nc.(*net.UnixConn), path: path}, nil
}

func (c *brokerConn) close() {
	c.closeFds()
	_ = c.c.Close()
}

func (c *brokerConn) closeFds() {
	for _, fd := range c.fds {
		_ = syscall.Close(fd)
	}
	c.fds = c.fds[:0]
}

func (c *brokerConn) send(out []byte, timeout time.Duration) error {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	if err := c.c.SetDeadline(deadline); err != nil {
		return err
	}
	if _, err := c.c.Write(out); err != nil {
		return errBroken{err}
	}
	return nil
}

// readFull fills p, keeping every descriptor that arrives. EOF before the first byte of a reply
// is a broken connection (errBroken).
func (c *brokerConn) readFull(p []byte, first bool) error {
	oob := make([]byte, syscall.CmsgSpace(4*4))
	for n := 0; n < len(p); {
		m, oobn, _, _, err := c.c.ReadMsgUnix(p[n:], oob)
		if oobn > 0 {
			c.takeFds(oob[:oobn])
		}
		n += m
		if err != nil {
			if n == 0 && first && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
				return errBroken{fmt.Errorf("connection closed by the broker: %w", err)}
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("connection closed by the broker in the middle of a reply: %w", io.ErrUnexpectedEOF)
			}
			return err
		}
	}
	return nil
}

func (c *brokerConn) takeFds(oob []byte) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	for i := range msgs {
		if fds, err := syscall.ParseUnixRights(&msgs[i]); err == nil {
			c.fds = append(c.fds, fds...)
		}
	}
}

// frame reads one frame; its payload is a fresh 8-byte aligned buffer (an image in it starts at
// offset 16, aligned too).
func (c *brokerConn) frame(first bool) (frameHeader, []byte, error) {
	var hb [frameHeaderSize]byte
	if err := c.readFull(hb[:], first); err != nil {
		return frameHeader{}, nil, err
	}
	h, err := parseHeader(hb[:])
	if err != nil {
		return h, nil, err
	}
	_, p := alignedBytes(int(h.length))
	if err := c.readFull(p, false); err != nil {
		return h, nil, err
	}
	return h, p, nil
}

// reply reads the reply to request id of opcode op: its payload, or the broker's error.
func (c *brokerConn) reply(id uint32, op byte) ([]byte, error) {
	h, p, err := c.frame(true)
	if err != nil {
		return nil, err
	}
	if h.opcode == opError {
		e, err := parseErrorReply(p)
		if err != nil {
			return nil, err
		}
		if e.Fatal && h.id == 0 && e.Code == 12 { // idle_timeout on a connection the broker closed
			return nil, errBroken{e}
		}
		if h.id != id {
			return nil, protocolError("error reply id %d, expected %d", h.id, id)
		}
		return nil, e
	}
	if h.id != id || h.opcode != op|replyBit {
		return nil, protocolError("reply opcode 0x%02x id %d, expected 0x%02x id %d", h.opcode, h.id, op|replyBit, id)
	}
	return p, nil
}

func (c *brokerConn) readHello(id uint32) error {
	p, err := c.reply(id, opHello)
	if err != nil {
		return err
	}
	c.hello, err = parseHelloReply(p)
	return err
}

// mapImage maps the descriptor that came with a RING_IMAGE reply (a sealed memfd of exactly
// size bytes: docs/protocol.md "RING_IMAGE by descriptor").
func (c *brokerConn) mapImage(size uint64, prev *Ring) (*Ring, error) {
	if len(c.fds) == 0 {
		return nil, protocolError("RING_IMAGE reply without a descriptor")
	}
	fd := c.fds[0]
	defer c.closeFds()
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("fstat of the image descriptor: %w", err)
	}
	if uint64(st.Size) != size {
		return nil, fmt.Errorf("%w: the image descriptor holds %d bytes, the reply says %d", ErrInvalidImage, st.Size, size)
	}
	m, err := mapFd(fd, st.Size, "the image descriptor")
	if err != nil {
		return nil, err
	}
	r, err := parseImage(m.data, prev)
	if err != nil {
		return nil, fmt.Errorf("the image descriptor: %w", err)
	}
	r.owner = m
	return r, nil
}
