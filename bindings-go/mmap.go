package samering

import (
	"fmt"
	"runtime"
	"syscall"
)

// A mapping is a read-only shared mapping of a file (a broker's control file or image). It is
// unmapped by a finalizer once nothing references it: a Ring keeps its mapping, and Ring.Pick
// keeps its Ring alive until the lookup is done (runtime.KeepAlive), so no pick reads unmapped
// memory however goroutines and reloads interleave.
type mapping struct {
	data []byte
}

func (m *mapping) release() {
	if m.data != nil {
		_ = syscall.Munmap(m.data)
		m.data = nil
	}
}

// mapFd maps size bytes of the open file f read-only (MAP_SHARED: every process that maps the
// broker's file shares its pages).
func mapFd(fd int, size int64, name string) (*mapping, error) {
	if size <= 0 {
		return nil, fmt.Errorf("%s: %w: empty file (truncated)", name, ErrInvalidImage)
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("%s: %d bytes do not fit in memory", name, size)
	}
	data, err := syscall.Mmap(fd, 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("%s: mmap: %w", name, err)
	}
	m := &mapping{data: data}
	runtime.SetFinalizer(m, (*mapping).release)
	return m, nil
}
