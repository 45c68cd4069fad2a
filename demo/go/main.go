// The demo's Go service (scripts/demo.sh): package samering routes gomemcache's keys.
//
// Build (GOPATH mode, offline; bindings-go linked as $GOPATH/src/samering, Debian's gomemcache):
//
//	GO111MODULE=off GOPATH=$GOPATH:/usr/share/gocode CGO_ENABLED=0 go build -o samering-go-demo .
//
// Keys one per line (stdin, or the KEYS file); per key, on stdout:
//
//	samering-go-demo pick IMAGE          the server gomemcache would use (Selector.PickServer over
//	                                     the image `samering image` wrote)
//	samering-go-demo read IMAGE          the server and the value a gomemcache client reads
//	                                     there (memcache.NewFromSelector); a key that this
//	                                     gomemcache refuses (Debian's 2014 version: no bytes > 0x7e)
//	                                     is shown as such
//	samering-go-demo shm DIR RING KEYS   a long-running service on the ring samering-broker
//	                                     publishes in its --shm-dir: prints "started N" (the
//	                                     generation it mapped), waits for SIGUSR1 (at most 60 s),
//	                                     then the server per key of KEYS from the ring it follows
//	                                     now, then "generation G" (the one that answered)
//
// Exit 1 with a message on stderr on any error.
package main

import (
	"bufio"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"samering"
)

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "samering-go-demo: "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 3 {
		die("usage: samering-go-demo pick|read IMAGE, or shm DIR RING (keys on stdin)")
	}
	var src samering.RingSource
	var shm *samering.Shm
	switch os.Args[1] {
	case "pick", "read":
		r, err := samering.LoadImage(os.Args[2])
		if err != nil {
			die("%v", err)
		}
		src = r
	case "shm":
		if len(os.Args) < 5 {
			die("usage: samering-go-demo shm DIR RING KEYS")
		}
		var err error
		if shm, err = samering.OpenShm(os.Args[2], os.Args[3]); err != nil {
			die("%v", err)
		}
		src = shm
	default:
		die("unknown command %q", os.Args[1])
	}
	sel := samering.NewSelector(src)
	mc := memcache.NewFromSelector(sel)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	keys := os.Stdin
	if shm != nil {
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		fmt.Printf("started %d\n", shm.Generation()) // unbuffered: the demo waits for this line
		select {
		case <-usr1:
		case <-time.After(60 * time.Second):
			die("no SIGUSR1 within 60 s")
		}
		f, err := os.Open(os.Args[4])
		if err != nil {
			die("%v", err)
		}
		keys = f
	}
	in := bufio.NewScanner(keys)
	for in.Scan() {
		key := in.Text()
		addr, err := sel.PickServer(key)
		if err != nil {
			die("PickServer(%q): %v", key, err)
		}
		if os.Args[1] != "read" {
			fmt.Fprintln(out, addr)
			continue
		}
		it, err := mc.Get(key)
		switch {
		case err == memcache.ErrMalformedKey:
			fmt.Fprintf(out, "%s\t(this gomemcache refuses non-ASCII keys)\n", addr)
		case err != nil:
			fmt.Fprintf(out, "%s\t(%v)\n", addr, err)
		default:
			fmt.Fprintf(out, "%s\t%s\n", addr, it.Value)
		}
	}
	if err := in.Err(); err != nil {
		die("stdin: %v", err)
	}
	if shm != nil {
		fmt.Fprintf(out, "generation %d\n", sel.Ring().Generation())
	}
}
