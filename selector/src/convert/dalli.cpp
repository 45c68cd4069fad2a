// convert_dalli: the servers argument of Dalli::Client.new (Dalli 3.0.6) → flavor "dalli".
//
// servers_arg_normalizer.rb normalize_servers: an array of strings (or one string), each split at
// commas, empty entries dropped — nothing is trimmed, so "a:1, b:2" names a host " b" (refused here:
// a spec host has no spaces). protocol/server_config_parser.rb parse_non_uri: each entry matches
// \A(\[([\h:]+)\]|[^:]+)(?::(\d+))?(?::(\d+))?\z — host (brackets dropped: "[::1]" is host "::1"),
// optional port, optional weight — and the port and weight go through Ruby Integer(), which reads
// a leading 0 as octal ("021000" → 8704, "08" raises). Defaults: port 11211, weight 1. An entry
// starting with "/" is a unix socket and one starting with "memcached://" a URI: both refused.
// Dalli names a server "host:port" with the decimal port (protocol/binary.rb #name), so the spec's
// port is written in decimal.
#include <cctype>

#include "convert_common.hpp"
#include "samering/convert.hpp"

namespace samering {
namespace {

using convert::fail;
using convert::quote;

struct Entry {
  std::string_view text;
  std::size_t offset;
};

// The list: entries separated by commas (Dalli's split) or line breaks (one string per line, as an
// array of strings would be), each optionally in Ruby quotes ("..." or '...', no escapes).
std::vector<Entry> split(std::string_view list) {
  std::vector<Entry> out;
  std::size_t i = 0;
  while (i < list.size()) {
    const char c = list[i];
    if (c == ',' || c == '\n' || c == '\r') {
      ++i;
      continue;
    }
    if (c == '"' || c == '\'') {
      const std::size_t close = list.find(c, i + 1);
      if (close == std::string_view::npos) fail(list, i, "this quote is not closed");
      const std::string_view inside = list.substr(i + 1, close - i - 1);
      if (inside.find_first_of("\\\n#") != std::string_view::npos)
        fail(list, i + 1 + inside.find_first_of("\\\n#"), "escapes, interpolation and line breaks in a quoted server are not supported");
      // one quoted string may hold several servers: Dalli splits it at commas too
      std::size_t start = 0;
      while (start <= inside.size()) {
        const std::size_t comma = std::min(inside.find(',', start), inside.size());
        if (comma > start) out.push_back({inside.substr(start, comma - start), i + 1 + start});
        start = comma + 1;
      }
      i = close + 1;
      while (i < list.size() && (list[i] == ' ' || list[i] == '\t')) ++i;
      if (i < list.size() && list[i] != ',' && list[i] != '\n' && list[i] != '\r')
        fail(list, i, "expected a comma or a line break after the quoted server");
      continue;
    }
    const std::size_t start = i;
    while (i < list.size() && list[i] != ',' && list[i] != '\n' && list[i] != '\r') ++i;
    std::size_t end = i;
    if (end > start && list[end - 1] == '\r') --end;
    out.push_back({list.substr(start, end - start), start});
  }
  return out;
}

// Ruby Integer() of a string of digits: octal with a leading 0 (Dalli's normalize_port /
// normalize_weight). False when Ruby raises (8 or 9 in an octal number) or the value is huge.
bool ruby_integer(std::string_view digits, std::uint64_t& value) {
  const unsigned base = digits.size() > 1 && digits[0] == '0' ? 8 : 10;
  value = 0;
  for (char c : digits) {
    const unsigned d = static_cast<unsigned>(c - '0');
    if (d >= base) return false;
    value = value * base + d;
    if (value > 0xffffffffu) return false;
  }
  return true;
}

ServerSpec parse_entry(std::string_view list, const Entry& e) {
  const std::string_view s = e.text;
  if (s.rfind("memcached://", 0) == 0)
    fail(list, e.offset, quote(s) + " is a memcached:// URI; write it as host:port (Dalli gives URIs weight 1)");
  if (!s.empty() && s[0] == '/') fail(list, e.offset, quote(s) + " is a unix socket (Dalli: a path starting with '/'); "
                                                                 "a spec has host:port servers only");
  std::string_view host, rest;
  if (!s.empty() && s[0] == '[') {
    const std::size_t rb = s.find(']');
    if (rb == std::string_view::npos || rb == 1) fail(list, e.offset, quote(s) + ": Dalli cannot parse this host");
    host = s.substr(1, rb - 1);
    for (char c : host)
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':')
        fail(list, e.offset, quote(s) + ": Dalli takes only hex digits and ':' between brackets");
    rest = s.substr(rb + 1);
  } else {
    const std::size_t colon = s.find(':');
    host = s.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view{} : s.substr(colon);
  }
  if (host.empty()) fail(list, e.offset, quote(s) + ": Dalli cannot parse an empty host");
  if (host.find_first_of(" \t") != std::string_view::npos)
    fail(list, e.offset, quote(s) + ": Dalli keeps spaces (it does not trim), so the host would be " + quote(host) +
                             "; remove them");
  std::string_view fields[2];
  int n = 0;
  while (!rest.empty()) {
    if (rest[0] != ':' || n == 2) fail(list, e.offset, quote(s) + ": Dalli cannot parse this (host[:port[:weight]])");
    const std::size_t next = rest.find(':', 1);
    fields[n++] = rest.substr(1, next == std::string_view::npos ? std::string_view::npos : next - 1);
    rest = next == std::string_view::npos ? std::string_view{} : rest.substr(next);
  }
  for (int i = 0; i < n; ++i)
    if (!convert::all_digits(fields[i]))
      fail(list, e.offset, quote(s) + ": " + (i ? "the weight " : "the port ") + quote(fields[i]) +
                               " is not a number (Dalli's pattern takes digits only)");
  ServerSpec out;
  std::uint64_t port = 11211, weight = 1;
  if (n >= 1 && !ruby_integer(fields[0], port))
    fail(list, e.offset, quote(s) + ": Ruby Integer() refuses the port " + quote(fields[0]) +
                             " (a leading 0 makes it octal), so Dalli raises");
  if (n == 2 && !ruby_integer(fields[1], weight))
    fail(list, e.offset, quote(s) + ": Ruby Integer() refuses the weight " + quote(fields[1]) +
                             " (a leading 0 makes it octal), so Dalli raises");
  if (port < 1 || port > 65535)
    fail(list, e.offset, quote(s) + ": the port is " + std::to_string(port) + " (Ruby reads a leading 0 as octal); must be 1-65535");
  if (weight < 1 || weight > 1'000'000)
    fail(list, e.offset, quote(s) + ": the weight is " + std::to_string(weight) +
                             (weight ? "; at most 1000000" : ": Dalli gives such a server no point, a spec needs weight >= 1"));
  if (const auto problem = convert::host_problem(host); !problem.empty()) fail(list, e.offset, quote(s) + ": " + problem);
  out.host = std::string(host);
  out.port_number = static_cast<std::uint16_t>(port);
  out.port = std::to_string(port);  // Dalli's point names use the decimal value
  out.weight = static_cast<double>(weight);
  return out;
}

}  // namespace

RingSpec convert_dalli(std::string_view list) {
  const auto entries = split(list);
  if (entries.empty()) fail(list, 0, "no server in the list (Dalli would use MEMCACHE_SERVERS or 127.0.0.1:11211)");
  RingSpec spec;
  spec.flavor = "dalli";
  std::vector<convert::ServerOrigin> origins;
  for (const auto& e : entries) {
    spec.servers.push_back(parse_entry(list, e));
    origins.push_back({convert::where(list, e.offset), std::string(e.text)});
  }
  convert::refuse_duplicates(spec, origins, "Dalli gives each copy its own ring points, which a spec cannot express");
  convert::check_converted(spec, origins, origins.front().where);
  return spec;
}

}  // namespace samering
