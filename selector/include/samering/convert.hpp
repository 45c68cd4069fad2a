// samering/convert.hpp — a peer's own configuration → the RingSpec that picks exactly as it does.
//
//   RingSpec s = samering::convert_twemproxy(yaml_text, "beta");   // then build_ring(s), to_json(s)
//
// Each function parses the text as the peer does (docs/convert.md has the rules, the peer sources
// they come from, and what is refused and why), maps it to the peer's flavor, and checks that the
// result is a valid spec that builds. Errors are SpecErrors whose message starts with the position
// in the input, 1-based: "line 3, column 7: servers[1]: ..." (columns count bytes; in YAML they
// count characters, as libyaml does). A configuration that the peer accepts but a spec cannot express
// exactly (a unix socket, a duplicate server, a non-deterministic distribution, ...) is refused the
// same way, naming why.
//
// Pure functions: no I/O, no global state; they allocate; safe from any thread and after fork. The
// input may be any bytes (the fuzzer drives them directly).
#pragma once

#include "samering/common.h"  // SAMERING_API

#include <string_view>

#include "samering/spec.hpp"

namespace samering {

// libmemcached 1.1.4, flavor "libmemcached". Either a configuration string as memcached(const char*,
// size_t) takes it ("--SERVER=10.0.0.1:11211/?2 --DISTRIBUTION=consistent --HASH=md5"), recognised by
// its first non-blank characters "--" or "#" or one of its keywords, or a server list as
// memcached_servers_parse takes it ("10.0.0.1:11211, 10.0.0.2:11212:3"), which is what
// memcached_server_push gives on a new handle: modula distribution, default hash.
SAMERING_API RingSpec convert_libmemcached(std::string_view text);

// twemproxy (nutcracker) 0.5.0, flavor "twemproxy": a nutcracker YAML configuration. `pool` picks the
// pool; it may be empty when the file has exactly one. Keys that do not change which server a key
// goes to (listen, timeout, redis, auto_eject_hosts, ...) are checked for form and ignored.
SAMERING_API RingSpec convert_twemproxy(std::string_view yaml, std::string_view pool = {});

// Cache::Memcached::Fast 0.28, flavor "cmf": the constructor's hash as a JSON object
// ({"servers": ["10.0.0.1:11211", {"address": "...", "weight": 2.5}, ["...", 2]], "ketama_points": 150,
// "namespace": "app:", "hash_namespace": true, ...}).
SAMERING_API RingSpec convert_cmf(std::string_view json);

// bradfitz/gomemcache, flavor "gomemcache": the addresses given to memcache.New / SetServers,
// separated by commas and/or white space ("10.0.0.1:11211, 10.0.0.2:11211"), each optionally in Go
// string quotes. An address given n times in a row becomes weight n with repeat_by_weight.
SAMERING_API RingSpec convert_gomemcache(std::string_view list);

// pecl memcache 4.0.5.2 (PHP's Memcache class), flavor "php-memcache": the memcache.* lines of a
// php.ini (memcache.hash_strategy, memcache.hash_function, memcache.default_port, ...) and the
// program's addServer calls, one per line ("$m->addServer('10.0.0.1', 11211, false, 2);").
SAMERING_API RingSpec convert_php_memcache(std::string_view text);

// spymemcached 2.12.3, flavor "spymemcached": "locator = CONSISTENT", "hash = KETAMA_HASH",
// "servers = <an AddrUtil.getAddresses list>" and optionally "weights = 1 2 ..." lines; a hostname
// under CONSISTENT is written as spymemcached prints the node, "hostname/address:port".
SAMERING_API RingSpec convert_spymemcached(std::string_view text);

// Ruby Dalli 3.0.6, flavor "dalli": the servers given to Dalli::Client.new, "host[:port[:weight]]"
// entries separated by commas or line breaks, each optionally quoted ("..." or '...'). Port and
// weight are read as Ruby Integer() reads them: a leading 0 means octal ("021000" is port 8704).
SAMERING_API RingSpec convert_dalli(std::string_view list);

}  // namespace samering
