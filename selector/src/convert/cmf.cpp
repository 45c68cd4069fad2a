// convert_cmf: Cache::Memcached::Fast 0.28's constructor hash, written as JSON → flavor "cmf".
//
// Fast.xs parse_config reads ketama_points, hash_namespace, servers, namespace (in that order,
// whatever the order of the hash) and options that only change I/O; parse_server takes "host:port",
// {address => ..., weight => ..., noreply => ...} or [address, weight]; add_server splits the address
// at its LAST ':' (no ':' = a unix socket) and croaks on a weight <= 0. The host and port text are
// hashed as written, so they are kept as written.
#include <charconv>
#include <cmath>
#include <system_error>

#include "convert_common.hpp"
#include "json_reader.hpp"
#include "samering/convert.hpp"

namespace samering {
namespace {

using convert::fail;
using convert::JsonValue;
using convert::quote;
using Kind = JsonValue::Kind;

// lib/Cache/Memcached/Fast.pm %known_args, minus the four that decide the ring: accepted, ignored.
constexpr std::string_view kIgnored[] = {
    "check_args",    "close_on_error", "compress_algo",   "compress_methods", "compress_ratio",
    "compress_threshold", "connect_timeout", "failure_timeout", "io_timeout",  "max_failures",
    "max_size",      "nowait",         "select_timeout",  "serialize_methods", "utf8",
};

// The JSON number as a double; NaN when it does not fit one (1e999), which every check refuses.
double number_value(const JsonValue& v) {
  double d = 0;
  const auto r = std::from_chars(v.text.data(), v.text.data() + v.text.size(), d);  // grammar already checked
  return r.ec == std::errc() ? d : std::nan("");
}

// Perl's SvTRUE of the JSON value.
bool perl_true(std::string_view text, const JsonValue& v, const std::string& field) {
  switch (v.kind) {
    case Kind::Null: return false;
    case Kind::Bool: return v.boolean;
    case Kind::Number: return number_value(v) != 0;
    case Kind::String: return !(v.text.empty() || v.text == "0");
    default: fail(text, v.offset, field + ": must be a boolean, a number or a string (got " + v.kind_name() + ")");
  }
}

struct Reader {
  std::string_view text;
  RingSpec spec;
  std::vector<convert::ServerOrigin> origins;

  void server(const JsonValue& entry, std::size_t index) {
    const std::string field = "servers[" + std::to_string(index) + "]";
    const JsonValue* address = nullptr;
    double weight = 1.0;
    const JsonValue* weight_value = nullptr;
    if (entry.kind == Kind::String) {
      address = &entry;
    } else if (entry.kind == Kind::Object) {
      for (std::size_t k = 0; k < entry.members.size(); ++k) {
        const auto& [key, value] = entry.members[k];
        if (key == "address") address = &value;
        else if (key == "weight") weight_value = value.kind == Kind::Null ? nullptr : &value;  // SvOK
        else if (key == "noreply") continue;  // a wire option
        else fail(text, entry.key_offsets[k], field + ": unknown key " + quote(key) + " (expected address, weight, noreply)");
      }
      if (!address) fail(text, entry.offset, field + ": the server has no \"address\" (CMF: server should have { address => $addr })");
    } else if (entry.kind == Kind::Array) {
      if (entry.items.empty() || entry.items.size() > 2)
        fail(text, entry.offset, field + ": must be [address] or [address, weight]");
      address = &entry.items[0];
      if (entry.items.size() == 2) {
        weight_value = &entry.items[1];
        // av_fetch then SvNV: an undefined weight is 0, and CMF croaks on it.
        if (weight_value->kind == Kind::Null) fail(text, weight_value->offset, field + "[1]: the weight must be a number > 0");
      }
    } else {
      fail(text, entry.offset, field + ": must be \"host:port\", {\"address\": ..., \"weight\": ...} or [address, weight] (got " +
                                   entry.kind_name() + ")");
    }
    if (weight_value) {
      if (weight_value->kind != Kind::Number)
        fail(text, weight_value->offset, field + ": the weight must be a number (got " + weight_value->kind_name() + ")");
      weight = number_value(*weight_value);
      if (!std::isfinite(weight)) fail(text, weight_value->offset, field + ": the weight does not fit a double");
      if (!(weight > 0))
        fail(text, weight_value->offset, field + ": the weight must be > 0 (CMF: Server weight should be positive)");
    }
    if (address->kind != Kind::String)
      fail(text, address->offset, field + ": the address must be a string \"host:port\" (got " + address->kind_name() + ")");
    const std::string& a = address->text;
    const std::size_t colon = a.rfind(':');  // add_server: strrchr(host, ':')
    if (colon == std::string::npos)
      fail(text, address->offset, field + ": " + quote(a) + " has no ':' so CMF takes it as a unix socket; a spec has "
                                                                "host:port servers only");
    ServerSpec s;
    s.host = a.substr(0, colon);
    s.port = a.substr(colon + 1);
    if (const auto problem = convert::host_problem(s.host); !problem.empty())
      fail(text, address->offset, field + ": " + problem);
    if (!s.port.empty() && !convert::all_digits(s.port))
      fail(text, address->offset, field + ": the port " + quote(s.port) + " is not a number (CMF would look up a "
                                                                          "service name and hash that text); write the number");
    if (const auto problem = convert::port_problem(s.port, s.port_number); !problem.empty())
      fail(text, address->offset, field + ": " + problem);
    s.weight = weight;
    spec.servers.push_back(std::move(s));
    origins.push_back({convert::where(text, entry.offset), a});
  }

  RingSpec convert(const JsonValue& doc) {
    if (doc.kind != Kind::Object)
      fail(text, doc.offset, "the constructor arguments must be a JSON object {\"servers\": [...], ...} (got " +
                                 std::string(doc.kind_name()) + ")");
    spec.flavor = "cmf";
    std::int64_t ketama_points = 0;
    const JsonValue* servers = nullptr;
    std::size_t servers_key = doc.offset;
    for (std::size_t k = 0; k < doc.members.size(); ++k) {
      const auto& [key, value] = doc.members[k];
      if (key == "servers") {
        if (value.kind == Kind::Null) continue;  // SvOK
        if (value.kind != Kind::Array)
          fail(text, value.offset, "servers: must be an array (CMF: Not an array reference)");
        servers = &value;
        servers_key = doc.key_offsets[k];
      } else if (key == "ketama_points") {
        if (value.kind == Kind::Null) continue;
        const double p = value.kind == Kind::Number ? number_value(value) : -1;
        if (value.kind != Kind::Number || p != std::floor(p) || p < 0 || p > 1e7)
          fail(text, value.offset, "ketama_points: must be an integer 0-10000000 (CMF croaks on a negative one)");
        ketama_points = static_cast<std::int64_t>(p);
      } else if (key == "namespace") {
        if (value.kind == Kind::Null) continue;
        if (value.kind != Kind::String)
          fail(text, value.offset, "namespace: must be a string (got " + std::string(value.kind_name()) + ")");
        spec.options["namespace"] = value.text;
      } else if (key == "hash_namespace") {
        spec.options["hash_namespace"] = perl_true(text, value, "hash_namespace");
      } else {
        bool ignored = false;
        for (const auto& name : kIgnored) ignored |= key == name;
        if (!ignored)
          fail(text, doc.key_offsets[k], "unknown constructor argument " + quote(key) +
                                             " (Cache::Memcached::Fast 0.28 knows servers, ketama_points, namespace, "
                                             "hash_namespace and I/O options)");
      }
    }
    spec.options["ketama_points"] = ketama_points;
    if (!servers || servers->items.empty())
      fail(text, servers ? servers->offset : servers_key, "no servers: CMF would have nothing to pick");
    for (std::size_t i = 0; i < servers->items.size(); ++i) server(servers->items[i], i);
    convert::refuse_duplicates(spec, origins,
                               "CMF gives each copy its own ring points, which a spec cannot express");
    convert::check_converted(spec, origins, convert::where(text, servers->offset));
    return spec;
  }
};

}  // namespace

RingSpec convert_cmf(std::string_view json) {
  const JsonValue doc = convert::parse_json(json);
  Reader reader{json, {}, {}};
  return reader.convert(doc);
}

}  // namespace samering
