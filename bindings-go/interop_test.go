package samering_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"samering"
	"samering/internal/testutil"
)

// rawGet asks one memcached node for key over the text protocol (not through the client under
// test): the value, its flags, and whether the node holds it.
func rawGet(t *testing.T, addr, key string) ([]byte, uint32, bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "get %s\r\n", key)
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("get %q from %s: %v", key, addr, err)
	}
	if line == "END\r\n" {
		return nil, 0, false
	}
	f := strings.Fields(line)
	if len(f) != 4 || f[0] != "VALUE" {
		t.Fatalf("get %q from %s: %q", key, addr, line)
	}
	flags, _ := strconv.ParseUint(f[2], 10, 32)
	n, _ := strconv.Atoi(f[3])
	v := make([]byte, n+2) // the value and its \r\n
	if _, err := io.ReadFull(r, v); err != nil {
		t.Fatal(err)
	}
	return v[:n], uint32(flags), true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] > 0x7e {
			return false
		}
	}
	return true
}

// rawSet stores key on one node over the text protocol, flags 0.
func rawSet(t *testing.T, addr, key string, value []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "set %s 0 0 %d\r\n%s\r\n", key, len(value), value)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "STORED\r\n" {
		t.Fatalf("set %q on %s: %q %v", key, addr, line, err)
	}
}

// perlCMF runs the real Cache::Memcached::Fast (testdata/interop/cmf_client.pl) on spec with
// commands (hex keys and values), and returns its output lines.
func perlCMF(t *testing.T, spec string, commands []string) []string {
	t.Helper()
	perl, err := exec.LookPath("perl")
	if err != nil {
		t.Fatalf("perl is not installed: %v", err)
	}
	var out, errb bytes.Buffer
	cmd := exec.Command(perl, filepath.Join("testdata", "interop", "cmf_client.pl"), spec)
	cmd.Stdin = strings.NewReader(strings.Join(commands, "\n") + "\n")
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatal("the Perl Cache::Memcached::Fast client did not finish within 60 s")
	}
	if err != nil {
		t.Fatalf("the Perl Cache::Memcached::Fast client failed (apt-get install libcache-memcached-fast-perl?): %v\n%s",
			err, errb.String())
	}
	return strings.Split(strings.TrimSpace(out.String()), "\n")
}

func hx(s string) string { return hex.EncodeToString([]byte(s)) }

// TestLiveInteropWithPerlCMF is the story samering exists for: a Go service on gomemcache
// (memcache.NewFromSelector over the broker's shared-memory ring, a cmf ketama spec with a hashed
// namespace) and a Perl service on the real Cache::Memcached::Fast share real memcached nodes:
// each reads back what the other wrote, and every key is on the one node the ring names (asked
// of each node directly). Again after the broker reloads a spec with a fourth node, the Go side
// following the shm ring.
func TestLiveInteropWithPerlCMF(t *testing.T) {
	dir := testutil.TempDir(t)
	var nodes []*testutil.Memcached
	for i := 0; i < 4; i++ {
		nodes = append(nodes, testutil.StartMemcached(t))
	}
	spec := func(n int) []byte {
		var s []specServer
		for i, m := range nodes[:n] {
			s = append(s, specServer{Host: "127.0.0.1", Port: m.Port, Weight: []float64{1, 2, 1.5, 1}[i]})
		}
		return specJSON(t, "cmf", map[string]interface{}{"ketama_points": 150, "namespace": "app:", "hash_namespace": true}, s)
	}
	specFile := testutil.WriteFile(t, dir, "main.json", spec(3))
	b := testutil.StartBroker(t, dir, []string{"main", specFile})
	shm, err := samering.OpenBrokerShm(b.Socket, "main") // the shm dir from the broker's version-2 HELLO
	if err != nil {
		t.Fatal(err)
	}
	g0 := b.Generation(t, "main")
	ns := shm.Current().Namespace()
	if ns != "app:" {
		t.Fatalf("the ring's namespace is %q", ns)
	}
	sel := samering.NewSelector(shm, samering.WithNamespace(ns))
	mc := memcache.NewFromSelector(sel)
	mc.Timeout = 2 * time.Second

	// Exactly one node holds ns+key: the one the ring picks.
	onItsNode := func(phase, key string, want []byte) {
		t.Helper()
		a, err := sel.PickServer(ns + key)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range nodes {
			v, flags, ok := rawGet(t, m.Addr, ns+key)
			if m.Addr == a.String() && (!ok || !bytes.Equal(v, want) || flags != 0) {
				t.Errorf("%s: key %q is not on %s, the node the ring picks (found %v, value %q, flags %d)", phase, key,
					a, ok, v, flags)
			}
			if m.Addr != a.String() && ok {
				t.Errorf("%s: key %q is also on %s (the ring picks %s)", phase, key, m.Addr, a)
			}
		}
	}
	utf8Keys := []string{"ключ:%d", "キー:%d", "clé-%d", "emoji-😀-%d"}

	phase := func(name string, gen uint64, specPath string) {
		if shm.Generation() != gen {
			t.Fatalf("%s: the Go side follows generation %d, want %d", name, shm.Generation(), gen)
		}
		// Go writes, Perl reads.
		var cmds []string
		for i := 0; i < 200; i++ {
			k, v := fmt.Sprintf("%s:go:%d", name, i), fmt.Sprintf("from go %d", i)
			if err := mc.Set(&memcache.Item{Key: ns + k, Value: []byte(v)}); err != nil {
				t.Fatalf("gomemcache Set(%q): %v", ns+k, err)
			}
			cmds = append(cmds, "get "+hx(k))
		}
		// UTF-8 keys: Debian's gomemcache (legalKey refuses bytes > 0x7e) does not send them; the
		// bytes go through the raw protocol to the node the Go selector picks, which is what a
		// gomemcache that allows them (upstream since 2016) does.
		goUTF8 := true
		for i, f := range utf8Keys {
			k, v := fmt.Sprintf("%s:go:"+f, name, i), fmt.Sprintf("from go utf8 %d", i)
			err := mc.Set(&memcache.Item{Key: ns + k, Value: []byte(v)})
			if err == memcache.ErrMalformedKey {
				goUTF8 = false
				a, err := sel.PickServer(ns + k)
				if err != nil {
					t.Fatal(err)
				}
				rawSet(t, a.String(), ns+k, []byte(v))
			} else if err != nil {
				t.Fatal(err)
			}
			cmds = append(cmds, "get "+hx(k))
		}
		if !goUTF8 {
			t.Logf("%s: this gomemcache refuses UTF-8 keys (ErrMalformedKey); they were stored on the node the selector picks", name)
		}
		got := perlCMF(t, specPath, cmds)
		if len(got) != len(cmds) {
			t.Fatalf("%s: Perl answered %d of %d gets", name, len(got), len(cmds))
		}
		for i, line := range got {
			f := strings.Fields(line)
			k, _ := hex.DecodeString(strings.TrimPrefix(cmds[i], "get "))
			want := fmt.Sprintf("from go %d", i)
			if i >= 200 {
				want = fmt.Sprintf("from go utf8 %d", i-200)
			}
			if len(f) != 3 || f[0] != "VALUE" || f[2] != hx(want) {
				t.Errorf("%s: Perl CMF get(%q) = %q, want the value Go wrote", name, k, line)
				continue
			}
			onItsNode(name, string(k), []byte(want))
		}

		// Perl writes, Go reads.
		cmds = cmds[:0]
		var keys []string
		for i := 0; i < 200; i++ {
			keys = append(keys, fmt.Sprintf("%s:perl:%d", name, i))
		}
		for i, f := range utf8Keys {
			keys = append(keys, fmt.Sprintf("%s:perl:"+f, name, i))
		}
		for _, k := range keys {
			cmds = append(cmds, "set "+hx(k)+" "+hx("perl wrote "+k))
		}
		perlCMF(t, specPath, cmds)
		for _, k := range keys {
			want := []byte("perl wrote " + k)
			it, err := mc.Get(ns + k)
			switch {
			case err == memcache.ErrMalformedKey && !isASCII(k):
				// This gomemcache cannot ask for it; the node its selector picks holds it.
			case err != nil:
				t.Errorf("%s: gomemcache Get(%q): %v", name, ns+k, err)
				continue
			case !bytes.Equal(it.Value, want) || it.Flags != 0:
				t.Errorf("%s: gomemcache Get(%q) = %q flags %d, want %q flags 0 (a plain string)", name, ns+k,
					it.Value, it.Flags, want)
			}
			onItsNode(name, k, want)
		}
		// And GetMulti groups by the selector's net.Addr values: every key comes back.
		items, err := mc.GetMulti(func() (ks []string) {
			for _, k := range keys[:200] {
				ks = append(ks, ns+k)
			}
			return
		}())
		if err != nil || len(items) != 200 {
			t.Errorf("%s: GetMulti of 200 keys Perl wrote: %d items, %v", name, len(items), err)
		}
	}

	phase("gen1", g0, specFile)

	// The broker reloads a spec with a fourth node; the Go side follows the shm ring, Perl starts
	// with the new spec (as a redeployed worker would).
	testutil.ReplaceFile(t, specFile, spec(4))
	b.Signal(t, syscall.SIGHUP)
	testutil.WaitFor(t, "the Go side to follow the next generation", 10*time.Second, func() bool {
		return shm.Generation() == g0+1
	})
	if shm.Current().ServerCount() != 4 {
		t.Fatalf("the next generation has %d servers", shm.Current().ServerCount())
	}
	phase("gen2", g0+1, specFile)
}
