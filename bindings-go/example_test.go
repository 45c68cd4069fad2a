package samering_test

import (
	"fmt"
	"log"

	"github.com/bradfitz/gomemcache/memcache"

	"samering"
)

// A Go service that shares its memcached cluster with Perl workers on Cache::Memcached::Fast
// (namespace "app:"): it follows the ring samering-broker publishes in shared memory and prepends
// the namespace to its keys, as CMF does.
func ExampleNewSelector() {
	shm, err := samering.OpenShm("/dev/shm/samering", "main")
	if err != nil {
		log.Fatal(err)
	}
	sel := samering.NewSelector(shm, samering.WithNamespace(shm.Current().Namespace()))
	mc := memcache.NewFromSelector(sel)
	if err := mc.Set(&memcache.Item{Key: "app:user:42", Value: []byte("hello from Go")}); err != nil {
		log.Print(err)
	}
	addr, _ := sel.PickServer("app:user:42")
	fmt.Println("stored on", addr)
}
