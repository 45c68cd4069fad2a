// Package samering picks the memcached server for a key exactly as a peer client does
// (Cache::Memcached::Fast, Cache::Memcached, gomemcache, libmemcached and its wrappers,
// twemproxy, nginx, php-memcache, spymemcached, Dalli, python-memcached, pymemcache), so that a Go service and, say, a Perl service sharing a memcached cluster
// find each other's keys. It is the Go binding of samering: the ring is built only by samering's
// C++ core, and this package reads the result, a RingImage (docs/ring-image.md), validates it
// completely and picks in pure Go with no allocation, lock or system call per key. The package
// uses the standard library only and no cgo.
//
// Where a Ring comes from:
//
//	LoadImage(path), FromImage(b)   an image written by `samering image --spec FILE -o OUT`
//	OpenShm(dir, ring)              the image a samering-broker publishes in its --shm-dir,
//	                                followed across reloads (one atomic load per pick) and
//	                                broker restarts, by the reader rules of docs/protocol.md
//	OpenBrokerShm(socket, ring)     the same, the dir and the broker's uid from its socket
//	DialBroker(socket, ring)        the image fetched from a samering-broker over its Unix
//	                                socket (RING_IMAGE), polled for new generations
//	samering/cgo.FromSpec(json)     built in process through the C API (cgo at build time only)
//
// gomemcache: NewSelector returns a Selector with gomemcache's ServerSelector methods, so
//
//	mc := memcache.NewFromSelector(samering.NewSelector(ring))
//
// routes every key like the spec's flavor. This package does not import gomemcache.
package samering
