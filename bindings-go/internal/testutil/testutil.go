// Package testutil is what the samering tests share: the programs of the CMake build they run
// (named by environment variables that bindings-go/CMakeLists.txt sets under ctest), the vector
// files, and real processes (samering-broker, memcached) started by PID with bounded waits.
// A missing program or file fails the test: nothing here skips.
package testutil

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Need returns the value of the environment variable name, which must name an existing file or
// directory; the test fails (never skips) otherwise.
func Need(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run the Go tests through ctest (bindings-go/CMakeLists.txt sets it), "+
			"or set it to the program or directory of a CMake build", name)
	}
	if _, err := os.Stat(v); err != nil {
		t.Fatalf("%s=%s: %v", name, v, err)
	}
	return v
}

// CLI is the `samering` command of the build (SAMERING_CLI).
func CLI(t testing.TB) string { return Need(t, "SAMERING_CLI") }

// Broker is the samering-broker of the build (SAMERING_BROKER): a required peer (the test fails
// without it; bindings-go/CMakeLists.txt refuses a Go build without the broker).
func Broker(t testing.TB) string { return Need(t, "SAMERING_BROKER") }

// A Case is one key of a vector file and the server index the real peer picked for it.
type Case struct {
	Key  string
	Want int
}

// A Vector is one fixtures/vectors/*.json file, made by fixtures/generate from a live peer.
type Vector struct {
	Name, Peer, PeerVersion string
	Spec                    json.RawMessage
	Cases                   []Case
}

// Vectors reads every *.json file of SAMERING_VECTORS_DIR, sorted by name. An empty directory or
// a malformed file fails the test.
func Vectors(t testing.TB) []Vector {
	t.Helper()
	dir := Need(t, "SAMERING_VECTORS_DIR")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("%s has no vector files", dir)
	}
	sort.Strings(files)
	var out []Vector
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Peer        string            `json:"peer"`
			PeerVersion string            `json:"peer_version"`
			Spec        json.RawMessage   `json:"spec"`
			Cases       []json.RawMessage `json:"cases"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if doc.Peer == "" || len(doc.Spec) == 0 || len(doc.Cases) == 0 {
			t.Fatalf("%s: missing peer, spec or cases", f)
		}
		v := Vector{Name: filepath.Base(f), Peer: doc.Peer, PeerVersion: doc.PeerVersion, Spec: doc.Spec}
		for i, raw := range doc.Cases {
			var c []interface{}
			if err := json.Unmarshal(raw, &c); err != nil || len(c) != 2 {
				t.Fatalf("%s: cases[%d] is not [\"hex\", index]", f, i)
			}
			h, ok1 := c[0].(string)
			idx, ok2 := c[1].(float64)
			key, err := hex.DecodeString(h)
			if !ok1 || !ok2 || err != nil || idx < 0 || idx != float64(int(idx)) {
				t.Fatalf("%s: cases[%d] is not [\"hex\", index]", f, i)
			}
			v.Cases = append(v.Cases, Case{Key: string(key), Want: int(idx)})
		}
		out = append(out, v)
	}
	return out
}

// TempDir is a new directory with a short path (a Unix socket path has at most 107 bytes, and
// t.TempDir's include the test's name), removed at the end of the test.
func TempDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "srgo-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// WriteFile writes content to dir/name and returns the path.
func WriteFile(t testing.TB, dir, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// ReplaceFile writes content to path the way a config manager does: a temporary file renamed over
// the old one.
func ReplaceFile(t testing.TB, path string, content []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// ImageBytes is the RingImage of spec as the C++ core writes it: `samering image --spec F -o -`.
func ImageBytes(t testing.TB, spec []byte) []byte {
	t.Helper()
	dir := TempDir(t)
	f := WriteFile(t, dir, "spec.json", spec)
	var out, errb bytes.Buffer
	cmd := exec.Command(CLI(t), "image", "--spec", f, "-o", "-")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := run(cmd, 30*time.Second); err != nil {
		t.Fatalf("samering image --spec %s: %v: %s", spec, err, errb.String())
	}
	return out.Bytes()
}

// ImageFile writes the RingImage of spec with `samering image --spec F -o OUT` and returns OUT.
func ImageFile(t testing.TB, dir string, spec []byte) string {
	t.Helper()
	f := WriteFile(t, dir, "spec.json", spec)
	out := filepath.Join(dir, "ring.img")
	var errb bytes.Buffer
	cmd := exec.Command(CLI(t), "image", "--spec", f, "-o", out)
	cmd.Stderr = &errb
	if err := run(cmd, 30*time.Second); err != nil {
		t.Fatalf("samering image --spec %s: %v: %s", spec, err, errb.String())
	}
	return out
}

// run runs cmd to its end, killing it after timeout.
func run(cmd *exec.Cmd, timeout time.Duration) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("killed after %v", timeout)
	}
}

// WaitFor polls cond every 10 ms until it is true, failing the test after timeout.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// safeBuffer is a bytes.Buffer a process's output can be written to while a test reads it.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A Process is a child started by a test and stopped at its end (SIGTERM, then SIGKILL after
// 5 s), by its PID.
type Process struct {
	Cmd  *exec.Cmd
	Log  *safeBuffer
	done chan struct{}
	err  error
}

func start(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	p := &Process{Cmd: exec.Command(name, args...), Log: &safeBuffer{}, done: make(chan struct{})}
	p.Cmd.Stdout, p.Cmd.Stderr = p.Log, p.Log
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.Stop(t) })
	return p
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to pid %d: %v", sig, p.Cmd.Process.Pid, err)
	}
}

// Stop ends the process (SIGTERM; SIGKILL after 5 s) and waits for it.
func (p *Process) Stop(t testing.TB) {
	if p.Exited() {
		return
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.done
	}
}

// Kill ends the process with SIGKILL and waits for it.
func (p *Process) Kill() {
	if !p.Exited() {
		_ = p.Cmd.Process.Kill()
		<-p.done
	}
}

// A BrokerProcess is a samering-broker serving rings from spec files, on a socket in a temporary
// directory, with --shm-dir.
type BrokerProcess struct {
	*Process
	Socket, ShmDir string
}

// StartBroker starts samering-broker with `--ring NAME=SPEC` for each pair of rings (name, spec
// path, ...), a socket and an shm dir under dir, and waits (at most 10 s) until it accepts.
func StartBroker(t testing.TB, dir string, rings []string, extra ...string) *BrokerProcess {
	t.Helper()
	return startBroker(t, dir, true, rings, extra)
}

// StartBrokerWithoutShm is StartBroker without --shm-dir (ShmDir is "").
func StartBrokerWithoutShm(t testing.TB, dir string, rings []string, extra ...string) *BrokerProcess {
	t.Helper()
	return startBroker(t, dir, false, rings, extra)
}

func startBroker(t testing.TB, dir string, shm bool, rings, extra []string) *BrokerProcess {
	t.Helper()
	b := &BrokerProcess{Socket: filepath.Join(dir, "broker.sock")}
	args := []string{"--socket", b.Socket, "--no-watch"}
	if shm {
		b.ShmDir = filepath.Join(dir, "shm")
		args = append(args, "--shm-dir", b.ShmDir)
	}
	for i := 0; i+1 < len(rings); i += 2 {
		args = append(args, "--ring", rings[i]+"="+rings[i+1])
	}
	args = append(args, extra...)
	b.Process = start(t, Broker(t), args...)
	WaitFor(t, "samering-broker to accept on "+b.Socket, 10*time.Second, func() bool {
		if b.Exited() {
			t.Fatalf("samering-broker exited: %v\n%s", b.err, b.Log.String())
		}
		c, err := net.Dial("unix", b.Socket)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return b
}

// WaitGeneration waits (at most 10 s) until the control file of ring in the broker's shm dir
// names generation gen or a later one.
func (b *BrokerProcess) WaitGeneration(t testing.TB, ring string, gen uint64) {
	t.Helper()
	WaitFor(t, fmt.Sprintf("ring %s generation %d in %s", ring, gen, b.ShmDir), 10*time.Second, func() bool {
		names, _ := filepath.Glob(filepath.Join(b.ShmDir, ring+".*.img"))
		for _, n := range names {
			g, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(n), ring+"."), ".img"), 10, 64)
			if err == nil && g >= gen {
				return true
			}
		}
		return false
	})
}

// Generation is the generation the control file of ring in the broker's shm dir names now, read
// from the file itself (docs/protocol.md "Shared memory": u64 at offset 24; the broker writes it
// between two stores of the sequence number, and a test reads it when the broker is quiet). A
// broker's first generation is the wall clock in µs (generations are unique on a host), so tests
// count from this value, never from 1.
func (b *BrokerProcess) Generation(t testing.TB, ring string) uint64 {
	t.Helper()
	c, err := os.ReadFile(filepath.Join(b.ShmDir, ring+".ctl"))
	if err != nil || len(c) < 56 || string(c[:8]) != "SRNGCTL1" {
		t.Fatalf("control file of ring %s in %s: %v", ring, b.ShmDir, err)
	}
	return binary.LittleEndian.Uint64(c[24:])
}

// A Memcached is a real memcached (Debian's /usr/bin/memcached) on 127.0.0.1.
type Memcached struct {
	*Process
	Port int
	Addr string
}

// FreePort is a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartMemcached starts memcached on a free loopback port and waits (at most 5 s) until it
// accepts; a few ports are tried if one is taken meanwhile. memcached must be installed (Debian
// package memcached): the test fails otherwise.
func StartMemcached(t testing.TB) *Memcached {
	t.Helper()
	bin, err := exec.LookPath("memcached")
	if err != nil {
		t.Fatalf("memcached is not installed (apt-get install memcached): %v", err)
	}
	for attempt := 0; attempt < 5; attempt++ {
		port := FreePort(t)
		args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-t", "2", "-m", "64"}
		if os.Geteuid() == 0 {
			args = append([]string{"-u", "nobody"}, args...)
		}
		m := &Memcached{Process: start(t, bin, args...), Port: port, Addr: "127.0.0.1:" + strconv.Itoa(port)}
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) && !m.Exited() {
			if c, err := net.Dial("tcp", m.Addr); err == nil {
				c.Close()
				return m
			}
			time.Sleep(10 * time.Millisecond)
		}
		m.Kill()
	}
	t.Fatal("memcached did not start on a free port in 5 attempts")
	return nil
}
