// convert_twemproxy: a nutcracker 0.5.0 YAML configuration → flavor "twemproxy".
//
// The YAML is read with libyaml, the parser nutcracker itself links, so every scalar is the byte
// string nutcracker sees. src/nc_conf.c decides the rest, and is followed for the whole file (nutcracker
// refuses a file with one bad pool): conf_validate_tokens (no flow collections, anchors, aliases,
// tags, directives or document markers), conf_validate_structure (pool name → mapping of key →
// value, one list per pool), conf_handler (unknown or empty keys), each key's setter (conf_set_hash,
// conf_set_distribution, conf_set_hashtag, conf_set_num, conf_set_bool, conf_set_listen: form and
// duplicates), conf_add_server ("host:port:weight [name]" parsed from the end), conf_validate_pool
// (listen required, servers required) and conf_validate_server (two servers with one ring name).
#include <yaml.h>

#include <algorithm>
#include <map>
#include <optional>

#include "convert_common.hpp"
#include "samering/convert.hpp"

namespace samering {
namespace {

using convert::quote;

struct Scalar {
  std::string value;
  yaml_mark_t mark{};
};

std::string at(const yaml_mark_t& m) { return convert::where_line_column(m.line, m.column); }
[[noreturn]] void fail(const yaml_mark_t& m, const std::string& reason) { throw SpecError(at(m), reason); }

// libyaml's event parser, one event at a time.
class Events {
 public:
  explicit Events(std::string_view text) {
    if (!yaml_parser_initialize(&parser_)) throw std::bad_alloc();
    yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  }
  ~Events() {
    drop();
    yaml_parser_delete(&parser_);
  }
  Events(const Events&) = delete;
  Events& operator=(const Events&) = delete;

  const yaml_event_t& next() {
    drop();
    if (!yaml_parser_parse(&parser_, &event_)) {
      std::string reason = "invalid YAML: ";
      reason += parser_.problem ? parser_.problem : "parse error";
      if (parser_.context) reason += std::string(" ") + parser_.context;
      throw SpecError(at(parser_.problem_mark), reason);
    }
    have_ = true;
    check_node();
    return event_;
  }

 private:
  void drop() {
    if (have_) yaml_event_delete(&event_);
    have_ = false;
  }
  // conf_validate_tokens: nutcracker refuses these tokens anywhere in the file.
  void check_node() const {
    const yaml_mark_t& m = event_.start_mark;
    const char* why = nullptr;
    switch (event_.type) {
      case YAML_DOCUMENT_START_EVENT:
        if (event_.data.document_start.version_directive ||
            event_.data.document_start.tag_directives.start != event_.data.document_start.tag_directives.end)
          why = "a %YAML or %TAG directive";
        else if (!event_.data.document_start.implicit)
          why = "a document start marker (---)";
        break;
      case YAML_DOCUMENT_END_EVENT:
        if (!event_.data.document_end.implicit) why = "a document end marker (...)";
        break;
      case YAML_ALIAS_EVENT: why = "an alias (*name)"; break;
      case YAML_SCALAR_EVENT:
        if (event_.data.scalar.anchor) why = "an anchor (&name)";
        else if (event_.data.scalar.tag) why = "a tag (!name)";
        break;
      case YAML_SEQUENCE_START_EVENT:
        if (event_.data.sequence_start.anchor) why = "an anchor (&name)";
        else if (event_.data.sequence_start.tag) why = "a tag (!name)";
        else if (event_.data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE) why = "a flow list ([...])";
        break;
      case YAML_MAPPING_START_EVENT:
        if (event_.data.mapping_start.anchor) why = "an anchor (&name)";
        else if (event_.data.mapping_start.tag) why = "a tag (!name)";
        else if (event_.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE) why = "a flow mapping ({...})";
        break;
      default: break;
    }
    if (why) fail(m, std::string(why) + " is not allowed in a nutcracker configuration");
  }

  yaml_parser_t parser_{};
  yaml_event_t event_{};
  bool have_ = false;
};

Scalar scalar_of(const yaml_event_t& e) {
  return {std::string(reinterpret_cast<const char*>(e.data.scalar.value), e.data.scalar.length), e.start_mark};
}

// One `key: value` of a pool; a list gives several values (nutcracker calls the key's setter for each).
struct Entry {
  Scalar key;
  std::vector<Scalar> values;
};

struct Pool {
  Scalar name;
  std::vector<Entry> entries;
};

std::vector<Pool> read_pools(std::string_view yaml) {
  Events events(yaml);
  events.next();  // STREAM-START
  const yaml_event_t* e = &events.next();
  if (e->type == YAML_STREAM_END_EVENT) fail(e->start_mark, "the file has no pools (nutcracker: has no pools)");
  // DOCUMENT-START
  e = &events.next();
  if (e->type != YAML_MAPPING_START_EVENT)
    fail(e->start_mark, "the top level must be pool names, each followed by its keys (\"alpha:\\n  listen: ...\")");
  std::vector<Pool> pools;
  for (;;) {
    e = &events.next();
    if (e->type == YAML_MAPPING_END_EVENT) break;
    if (e->type != YAML_SCALAR_EVENT) fail(e->start_mark, "expected a pool name");
    Pool pool;
    pool.name = scalar_of(*e);
    if (pool.name.value.empty()) fail(pool.name.mark, "a pool name is empty");
    for (const auto& other : pools)
      if (other.name.value == pool.name.value)
        fail(pool.name.mark, "pool " + quote(pool.name.value) + " is defined twice (first at " + at(other.name.mark) + ")");
    e = &events.next();
    if (e->type != YAML_MAPPING_START_EVENT)
      fail(e->start_mark, "pool " + quote(pool.name.value) + ": expected its keys (listen:, servers:, ...) on the "
                                                             "lines below it, indented");
    bool had_list = false;
    for (;;) {
      e = &events.next();
      if (e->type == YAML_MAPPING_END_EVENT) break;
      if (e->type != YAML_SCALAR_EVENT) fail(e->start_mark, "pool " + quote(pool.name.value) + ": expected a key");
      Entry entry;
      entry.key = scalar_of(*e);
      e = &events.next();
      if (e->type == YAML_SCALAR_EVENT) {
        entry.values.push_back(scalar_of(*e));
      } else if (e->type == YAML_SEQUENCE_START_EVENT) {
        // conf_validate_structure: "has more than one sequence directive"
        if (had_list) fail(e->start_mark, "nutcracker allows one list per pool (the servers)");
        had_list = true;
        for (;;) {
          e = &events.next();
          if (e->type == YAML_SEQUENCE_END_EVENT) break;
          if (e->type != YAML_SCALAR_EVENT) fail(e->start_mark, "a list item must be a single value");
          entry.values.push_back(scalar_of(*e));
        }
      } else {
        fail(e->start_mark, "key " + quote(entry.key.value) + ": nested mappings are not allowed (depth > 2)");
      }
      pool.entries.push_back(std::move(entry));
    }
    pools.push_back(std::move(pool));
  }
  events.next();  // DOCUMENT-END
  e = &events.next();
  if (e->type != YAML_STREAM_END_EVENT) fail(e->start_mark, "nutcracker wants exactly one YAML document");
  return pools;
}

// ---- nc_conf.c: the keys, their setters and the server string ----------------------------------

enum class Setter { Listen, Hash, HashTag, Distribution, Num, Bool, String, Servers };
struct Directive {
  std::string_view name;
  Setter setter;
};
// conf_commands[]
constexpr Directive kDirectives[] = {
    {"listen", Setter::Listen},
    {"hash", Setter::Hash},
    {"hash_tag", Setter::HashTag},
    {"distribution", Setter::Distribution},
    {"timeout", Setter::Num},
    {"backlog", Setter::Num},
    {"client_connections", Setter::Num},
    {"redis", Setter::Bool},
    {"tcpkeepalive", Setter::Bool},
    {"redis_auth", Setter::String},
    {"redis_db", Setter::Num},
    {"preconnect", Setter::Bool},
    {"auto_eject_hosts", Setter::Bool},
    {"server_connections", Setter::Num},
    {"server_retry_timeout", Setter::Num},
    {"server_failure_limit", Setter::Num},
    {"servers", Setter::Servers},
};

// HASH_CODEC and DIST_CODEC (src/hashkit/nc_hashkit.h); the flavor uses the same names.
constexpr std::string_view kHashes[] = {"one_at_a_time", "md5",      "crc16",    "crc32",  "crc32a", "fnv1_64",
                                        "fnv1a_64",      "fnv1_32",  "fnv1a_32", "hsieh",  "murmur", "jenkins"};
constexpr std::string_view kDistributions[] = {"ketama", "modula", "random"};

template <std::size_t N>
std::string list_of(const std::string_view (&names)[N]) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

// nc_atoi: decimal digits only, else -1. Values beyond an int overflow in nutcracker; beyond 10^9
// they are reported as invalid here.
long nc_atoi(std::string_view s) {
  if (!convert::all_digits(s) || convert::decimal_value(s) > 1000000000) return -1;
  return static_cast<long>(convert::decimal_value(s));
}

struct Server {
  std::string addr, port, name;  // as written; port empty for a unix socket
  bool has_name = false;
  std::uint16_t port_number = 0;
  long weight = 0;
  Scalar line;
  std::string ring_name() const {  // conf_add_server: name, else host (port 11211) or host:port
    if (has_name) return name;
    if (port_number == 11211) return addr;
    return addr + ":" + port;
  }
};

// conf_add_server: "hostname:port:weight [name]" or "/path/unix_socket:weight [name]", from the end.
Server parse_server(const Scalar& line) {
  const std::string& v = line.value;
  const auto bad = [&](const std::string& why) { fail(line.mark, "server " + quote(v) + " " + why); };
  for (char c : v)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) bad("contains a control character");
  const bool unix_socket = v[0] == '/';
  Server s;
  s.line = line;
  std::size_t end = v.size();  // [0, end) is what is left to split
  const std::size_t space = v.rfind(' ');
  if (space != std::string::npos) {
    s.has_name = true;
    s.name = v.substr(space + 1);
    end = space;
    if (s.name.empty()) bad("ends with a space but no name after it");
  }
  const auto cut = [&](std::string& out) {
    const std::size_t colon = end == 0 ? std::string::npos : v.rfind(':', end - 1);
    if (colon == std::string::npos) return false;
    out = v.substr(colon + 1, end - colon - 1);
    end = colon;
    return true;
  };
  // The weight after the last ':'; a port after the one before, which a unix socket must not have.
  std::string weight, port;
  if (!cut(weight) || cut(port) == unix_socket)
    bad("is not \"host:port:weight [name]\" (nutcracker: has an invalid format string)");
  if (!unix_socket) s.port = port;
  s.addr = v.substr(0, end);
  s.weight = nc_atoi(weight);
  if (s.weight < 0) bad("has an invalid weight");
  if (s.weight == 0) bad("has a zero weight (nutcracker refuses it)");
  if (!unix_socket) {
    const long port = nc_atoi(s.port);
    if (port < 1 || port > 65535) bad("has an invalid port");
    s.port_number = static_cast<std::uint16_t>(port);
  }
  return s;
}

struct PoolConfig {
  Scalar name;
  std::optional<Scalar> listen, hash, hash_tag, distribution, redis, redis_auth, server_connections;
  std::vector<Server> servers;
};

void check_listen(const Scalar& s) {
  // conf_set_listen: "/path [permissions]" or "host:port" parsed from the end.
  const std::string& v = s.value;
  if (v[0] == '/') {
    const std::size_t space = v.rfind(' ');
    if (space != std::string::npos) {
      // strtol(perm, NULL, 8) must be 0-0777 (leading zeros are fine).
      const std::string perm = v.substr(space + 1);
      const std::size_t digits = perm.find_first_not_of('0');
      if (perm.empty() || perm.find_first_not_of("01234567") != std::string::npos ||
          (digits != std::string::npos && (perm.size() - digits > 3 || std::stoul(perm.substr(digits), nullptr, 8) > 0777)))
        fail(s.mark, "listen: " + quote(v) + " has an invalid file permission");
    }
    return;
  }
  const std::size_t colon = v.rfind(':');
  if (colon == std::string::npos) fail(s.mark, "listen: " + quote(v) + " is not \"hostname:port\"");
  const long port = nc_atoi(std::string_view(v).substr(colon + 1));
  if (port < 1 || port > 65535) fail(s.mark, "listen: " + quote(v) + " has an invalid port");
}

PoolConfig check_pool(const Pool& pool) {
  PoolConfig pc;
  pc.name = pool.name;
  std::map<std::string, Scalar> seen;
  for (const auto& entry : pool.entries) {
    const std::string& key = entry.key.value;
    if (key.empty()) fail(entry.key.mark, "an empty key (nutcracker refuses it)");
    const Directive* d = nullptr;
    for (const auto& x : kDirectives)
      if (x.name == key) d = &x;
    if (!d)
      fail(entry.key.mark, "pool " + quote(pool.name.value) + ": unknown key " + quote(key) +
                               " (nutcracker 0.5.0: directive is unknown)");
    for (const auto& value : entry.values) {
      const std::string& v = value.value;
      if (v.empty()) fail(value.mark, key + ": has no value");
      if (d->setter == Setter::Servers) {
        pc.servers.push_back(parse_server(value));
        continue;
      }
      // Every other setter refuses a second value: "is a duplicate".
      if (const auto it = seen.find(key); it != seen.end())
        fail(value.mark, key + ": is a duplicate (first at " + at(it->second.mark) + ")");
      seen.emplace(key, value);
      switch (d->setter) {
        case Setter::Listen: check_listen(value); pc.listen = value; break;
        case Setter::Hash:
          if (std::find(std::begin(kHashes), std::end(kHashes), v) == std::end(kHashes))
            fail(value.mark, "hash: " + quote(v) + " is not a valid hash (twemproxy: " + list_of(kHashes) + ")");
          pc.hash = value;
          break;
        case Setter::HashTag:
          if (v.size() != 2) fail(value.mark, "hash_tag: " + quote(v) + " is not a valid hash tag string with two characters");
          pc.hash_tag = value;
          break;
        case Setter::Distribution:
          if (std::find(std::begin(kDistributions), std::end(kDistributions), v) == std::end(kDistributions))
            fail(value.mark, "distribution: " + quote(v) + " is not a valid distribution (" + list_of(kDistributions) + ")");
          pc.distribution = value;
          break;
        case Setter::Num:
          if (nc_atoi(v) < 0) fail(value.mark, key + ": " + quote(v) + " is not a number");
          if (key == "server_connections") pc.server_connections = value;
          break;
        case Setter::Bool:
          if (v != "true" && v != "false") fail(value.mark, key + ": " + quote(v) + " is not \"true\" or \"false\"");
          if (key == "redis") pc.redis = value;
          break;
        case Setter::String: pc.redis_auth = value; break;
        case Setter::Servers: break;
      }
    }
  }
  // conf_validate_pool
  const auto pool_name = quote(pool.name.value);
  if (!pc.listen) fail(pool.name.mark, "pool " + pool_name + ": listen: is missing (nutcracker requires it)");
  if (pc.server_connections && nc_atoi(pc.server_connections->value) == 0)
    fail(pc.server_connections->mark, "server_connections: cannot be 0");
  if (pc.redis_auth && !(pc.redis && pc.redis->value == "true"))
    fail(pc.redis_auth->mark, "redis_auth: is only valid for a redis pool");
  if (pc.servers.empty()) fail(pool.name.mark, "pool " + pool_name + " has no servers");
  // conf_validate_server: sorted by ring name, two equal names are refused.
  std::map<std::string, const Server*> names;
  for (const auto& s : pc.servers) {
    const auto [it, fresh] = names.emplace(s.ring_name(), &s);
    if (!fresh)
      fail(s.line.mark, "pool " + pool_name + " has servers with same name " + quote(s.ring_name()) + " (the other at " +
                            at(it->second->line.mark) + "; nutcracker refuses the file)");
  }
  return pc;
}

RingSpec to_spec(const PoolConfig& pc) {
  RingSpec spec;
  spec.flavor = "twemproxy";
  spec.options["distribution"] = pc.distribution ? pc.distribution->value : std::string("ketama");  // CONF_DEFAULT_DIST
  spec.options["hash"] = pc.hash ? pc.hash->value : std::string("fnv1a_64");                        // CONF_DEFAULT_HASH
  if (pc.hash_tag) spec.options["hash_tag"] = pc.hash_tag->value;
  if (pc.distribution && pc.distribution->value == "random")
    fail(pc.distribution->mark, "distribution: random picks a random server for each key: no spec can match it");
  std::vector<convert::ServerOrigin> origins;
  for (const auto& s : pc.servers) {
    if (s.port.empty())
      fail(s.line.mark, "server " + quote(s.line.value) + " is a unix socket; a spec has host:port servers only");
    if (const auto problem = convert::host_problem(s.addr); !problem.empty())
      fail(s.line.mark, "server " + quote(s.line.value) + ": " + problem);
    ServerSpec out;
    out.host = s.addr;
    out.port = s.port;  // as written: it is part of the ring name when it is not 11211
    out.port_number = s.port_number;
    out.weight = static_cast<double>(s.weight);
    if (s.has_name) out.name = s.name;
    spec.servers.push_back(std::move(out));
    origins.push_back({at(s.line.mark), s.line.value});
  }
  convert::refuse_duplicates(spec, origins,
                             "nutcracker accepts two servers at one address when their names differ, but a spec cannot "
                             "list a server twice");
  convert::check_converted(spec, origins, at(pc.name.mark));
  return spec;
}

}  // namespace

RingSpec convert_twemproxy(std::string_view yaml, std::string_view pool) {
  const std::vector<Pool> pools = read_pools(yaml);
  std::vector<PoolConfig> configs;
  for (const auto& p : pools) configs.push_back(check_pool(p));
  // conf_post_validate: two pools cannot listen on the same address.
  for (std::size_t i = 0; i < configs.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (configs[i].listen->value == configs[j].listen->value)
        fail(configs[i].listen->mark, "pools " + quote(configs[j].name.value) + " and " + quote(configs[i].name.value) +
                                          " have the same listen address");
  std::string names;
  for (const auto& c : configs) names += (names.empty() ? "" : ", ") + c.name.value;
  if (pool.empty()) {
    if (configs.size() == 1) return to_spec(configs.front());
    throw SpecError("line 1, column 1", "the file has " + std::to_string(configs.size()) + " pools (" + names +
                                            "): choose one (--pool NAME)");
  }
  for (const auto& c : configs)
    if (c.name.value == pool) return to_spec(c);
  throw SpecError("line 1, column 1", "no pool " + quote(pool) + " in the file (its pools: " + names + ")");
}

}  // namespace samering
