package samering

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The samering-broker wire protocol, versions 1 and 2 (docs/protocol.md; broker/src/protocol.hpp):
// little-endian frames of a 12-byte header (u32 length, u8 opcode, u8 flags, u16 reserved = 0,
// u32 id) and a payload. Socket-free: encoders append to a []byte, parsers read a payload.

const (
	protocolMinVersion = 1 // the versions this client asks for; the broker picks the highest both speak
	protocolMaxVersion = 2 // version 2: the HELLO reply names the broker's --shm-dir
	frameHeaderSize    = 12
	maxReplyFrame      = 256 << 20 // what a client accepts (docs/protocol.md "Limits")

	opHello     = 0x01
	opRingInfo  = 0x20
	opRingImage = 0x21
	opError     = 0xff
	replyBit    = 0x80

	flagImageFd = 0x01 // RING_IMAGE: send a descriptor (SCM_RIGHTS), not the bytes
)

// ErrProtocol is wrapped by the errors about a broker reply that is malformed or out of order
// (the connection is dropped).
var ErrProtocol = errors.New("malformed broker reply")

func protocolError(format string, a ...interface{}) error {
	return fmt.Errorf("%w: "+format, append([]interface{}{ErrProtocol}, a...)...)
}

// BrokerError is an error frame from the broker (docs/protocol.md "Errors"): Code is the
// protocol's code (5 = no_such_ring, ...), Name its name, Message the broker's one-line reason.
// After a Fatal error the broker closes the connection.
type BrokerError struct {
	Code    int
	Name    string
	Fatal   bool
	Message string
}

func (e *BrokerError) Error() string { return e.Name + ": " + e.Message }

// errorNames: docs/protocol.md "Errors", by code.
var errorNames = []string{"ok", "bad_frame", "unknown_opcode", "frame_too_large", "too_many_keys", "no_such_ring",
	"permission_denied", "reload_failed", "bad_header", "handshake_required", "version_unsupported",
	"too_many_connections", "idle_timeout", "shutting_down", "internal", "unavailable"}

func errorName(code int) string {
	if code >= 0 && code < len(errorNames) {
		return errorNames[code]
	}
	return fmt.Sprintf("error %d", code)
}

type frameHeader struct {
	length uint32
	opcode byte
	flags  byte
	id     uint32
}

func appendFrame(out []byte, opcode, flags byte, id uint32, payload []byte) []byte {
	var h [frameHeaderSize]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(len(payload)))
	h[4], h[5] = opcode, flags
	binary.LittleEndian.PutUint32(h[8:], id)
	return append(append(out, h[:]...), payload...)
}

// appendHello: "SRNG", u16 min_version, u16 max_version (this client speaks versions 1 and 2).
func appendHello(out []byte, id uint32) []byte {
	return appendFrame(out, opHello, 0, id, []byte{'S', 'R', 'N', 'G', protocolMinVersion, 0, protocolMaxVersion, 0})
}

// appendRingRequest: RING_INFO / RING_IMAGE with `u8 length, name`.
func appendRingRequest(out []byte, opcode, flags byte, id uint32, ring string) []byte {
	return appendFrame(out, opcode, flags, id, append([]byte{byte(len(ring))}, ring...))
}

func parseHeader(b []byte) (frameHeader, error) {
	h := frameHeader{length: binary.LittleEndian.Uint32(b), opcode: b[4], flags: b[5], id: binary.LittleEndian.Uint32(b[8:])}
	if binary.LittleEndian.Uint16(b[6:]) != 0 {
		return h, protocolError("reserved header bytes are not zero")
	}
	if h.length > maxReplyFrame {
		return h, protocolError("reply frame of %d bytes (at most %d accepted)", h.length, maxReplyFrame)
	}
	return h, nil
}

type helloReply struct {
	version           uint16
	maxFrame, maxKeys uint32
	brokerPid         uint32
	shmDir            string // version 2 only ("" = the broker publishes no shared memory)
}

// parseHelloReply: u16 version, u16 0, u32 max_frame, u32 max_keys, u32 broker_pid (exactly these
// fields in version 1); version 2 adds u16 n and the broker's --shm-dir (n bytes, absolute).
func parseHelloReply(p []byte) (helloReply, error) {
	if len(p) < 16 {
		return helloReply{}, protocolError("HELLO reply of %d bytes", len(p))
	}
	r := helloReply{version: binary.LittleEndian.Uint16(p), maxFrame: binary.LittleEndian.Uint32(p[4:]),
		maxKeys: binary.LittleEndian.Uint32(p[8:]), brokerPid: binary.LittleEndian.Uint32(p[12:])}
	switch r.version {
	case 1:
		if len(p) != 16 {
			return r, protocolError("version 1 HELLO reply of %d bytes", len(p))
		}
	case 2:
		if len(p) < 18 || len(p) != 18+int(binary.LittleEndian.Uint16(p[16:])) {
			return r, protocolError("version 2 HELLO reply of %d bytes", len(p))
		}
		r.shmDir = string(p[18:])
		if r.shmDir != "" && r.shmDir[0] != '/' {
			return r, protocolError("version 2 HELLO reply names a relative shm dir %q", r.shmDir)
		}
	default:
		return r, protocolError("the broker chose protocol version %d (asked for %d-%d)", r.version,
			protocolMinVersion, protocolMaxVersion)
	}
	return r, nil
}

type ringInfoReply struct {
	generation, imageSize uint64
	flavor                string
	servers               []string
}

// parseRingInfoReply: u64 generation, u64 image_size, u8 n + flavor, u32 count, count × (u16 n +
// address).
func parseRingInfoReply(p []byte) (ringInfoReply, error) {
	var r ringInfoReply
	bad := protocolError("truncated or malformed RING_INFO reply")
	if len(p) < 17 {
		return r, bad
	}
	r.generation, r.imageSize = binary.LittleEndian.Uint64(p), binary.LittleEndian.Uint64(p[8:])
	n := int(p[16])
	p = p[17:]
	if len(p) < n+4 {
		return r, bad
	}
	r.flavor = string(p[:n])
	count := binary.LittleEndian.Uint32(p[n:])
	p = p[n+4:]
	if uint64(count) > uint64(len(p))/2 {
		return r, bad
	}
	r.servers = make([]string, 0, count)
	for i := uint32(0); i < count; i++ {
		if len(p) < 2 {
			return r, bad
		}
		l := int(binary.LittleEndian.Uint16(p))
		if len(p) < 2+l {
			return r, bad
		}
		r.servers = append(r.servers, string(p[2:2+l]))
		p = p[2+l:]
	}
	if len(p) != 0 {
		return r, bad
	}
	return r, nil
}

// parseRingImageHead: u64 generation, u64 image_size; the image bytes follow (none when the
// image came as a descriptor).
func parseRingImageHead(p []byte) (generation, size uint64, rest []byte, err error) {
	if len(p) < 16 {
		return 0, 0, nil, protocolError("truncated RING_IMAGE reply")
	}
	return binary.LittleEndian.Uint64(p), binary.LittleEndian.Uint64(p[8:]), p[16:], nil
}

// parseErrorReply: u16 code, u8 fatal, u8 0, then the message.
func parseErrorReply(p []byte) (*BrokerError, error) {
	if len(p) < 4 || p[2] > 1 || p[3] != 0 {
		return nil, protocolError("malformed error reply")
	}
	code := int(binary.LittleEndian.Uint16(p))
	return &BrokerError{Code: code, Name: errorName(code), Fatal: p[2] == 1, Message: string(p[4:])}, nil
}
