// convert_gomemcache: the addresses a Go program gives to memcache.New / ServerList.SetServers →
// flavor "gomemcache".
//
// gomemcache (memcache/selector.go SetServers) keeps the list as given, duplicates included, and
// picks by position: addrs[crc32(key) % len(addrs)]. An address containing '/' is a unix socket; any
// other goes through net.ResolveTCPAddr, whose net.SplitHostPort wants "host:port" or "[v6]:port".
// A repeated address is gomemcache's only weighting: n copies in a row are weight n with
// repeat_by_weight; copies apart from each other cannot be written as a spec.
#include "convert_common.hpp"
#include "samering/convert.hpp"

namespace samering {
namespace {

using convert::fail;
using convert::quote;

bool separator(char c) { return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

struct Address {
  std::string_view text;
  std::size_t offset;
};

// Splits the list into addresses: separated by commas and/or white space, each optionally in Go
// string quotes ("..." without escapes, or `...`).
std::vector<Address> split(std::string_view list) {
  std::vector<Address> out;
  std::size_t i = 0;
  while (i < list.size()) {
    if (separator(list[i])) {
      ++i;
      continue;
    }
    const char q = list[i];
    if (q == '"' || q == '`') {
      const std::size_t close = list.find(q, i + 1);
      if (close == std::string_view::npos) fail(list, i, "this quote is not closed");
      const std::string_view inside = list.substr(i + 1, close - i - 1);
      if (q == '"' && inside.find('\\') != std::string_view::npos)
        fail(list, i + 1 + inside.find('\\'), "escapes in quoted addresses are not supported");
      if (inside.find('\n') != std::string_view::npos) fail(list, i, "a quoted address must be on one line");
      if (close + 1 < list.size() && !separator(list[close + 1]))
        fail(list, close + 1, "expected a comma or white space after the quoted address");
      out.push_back({inside, i + 1});
      i = close + 1;
      continue;
    }
    const std::size_t start = i;
    while (i < list.size() && !separator(list[i])) {
      if (list[i] == '"' || list[i] == '`') fail(list, i, "a quote inside an address");
      ++i;
    }
    out.push_back({list.substr(start, i - start), start});
  }
  return out;
}

ServerSpec parse_address(std::string_view list, const Address& a) {
  const std::string_view s = a.text;
  if (s.find('/') != std::string_view::npos)
    fail(list, a.offset, quote(s) + " is a unix socket (gomemcache: an address with '/'); a spec has host:port "
                                    "servers only");
  // net.SplitHostPort
  std::string_view host, port;
  if (!s.empty() && s[0] == '[') {
    const std::size_t rb = s.find(']');
    if (rb == std::string_view::npos) fail(list, a.offset, quote(s) + ": missing ']' in address");
    if (rb + 1 == s.size()) fail(list, a.offset, quote(s) + ": missing port in address (Go wants [host]:port)");
    if (s[rb + 1] != ':') fail(list, a.offset + rb + 1, quote(s) + ": expected ':' and a port after ']'");
    const std::string_view inner = s.substr(1, rb - 1);
    if (inner.empty() || inner.find_first_of("[]") != std::string_view::npos)
      fail(list, a.offset, quote(s) + ": not a valid [host]:port address");
    host = s.substr(0, rb + 1);  // the brackets are kept: the host is as written
    port = s.substr(rb + 2);
  } else {
    const std::size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) fail(list, a.offset, quote(s) + ": missing port in address (host:port)");
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (host.find(':') != std::string_view::npos)
      fail(list, a.offset, quote(s) + ": too many colons in address (write an IPv6 address as [addr]:port)");
    if (host.find_first_of("[]") != std::string_view::npos)
      fail(list, a.offset, quote(s) + ": unexpected '[' or ']' in address");
  }
  const std::size_t port_at = a.offset + (port.data() - s.data());
  if (port.empty()) fail(list, port_at, quote(s) + ": the port is missing");
  if (!convert::all_digits(port))
    fail(list, port_at, quote(s) + ": the port " + quote(port) + " is not a number (Go would look up a service "
                                                                "name; write the number)");
  ServerSpec out;
  if (const auto problem = convert::port_problem(port, out.port_number); !problem.empty())
    fail(list, port_at, quote(s) + ": " + problem);
  if (const auto problem = convert::host_problem(host); !problem.empty())
    fail(list, a.offset, quote(s) + ": " + problem);
  out.host = std::string(host);
  out.port = std::string(port);
  return out;
}

}  // namespace

RingSpec convert_gomemcache(std::string_view list) {
  const auto addresses = split(list);
  if (addresses.empty()) fail(list, 0, "no address in the list");
  RingSpec spec;
  spec.flavor = "gomemcache";
  std::vector<convert::ServerOrigin> origins;
  for (const auto& a : addresses) {
    ServerSpec s = parse_address(list, a);
    // The same host and port again right after itself: one more copy in a row (weight + 1). The
    // port text may differ ("11211" / "011211"): gomemcache picks by position, not by name.
    if (!spec.servers.empty() && spec.servers.back().host == s.host &&
        spec.servers.back().port_number == s.port_number) {
      spec.servers.back().weight += 1;
      continue;
    }
    spec.servers.push_back(std::move(s));
    origins.push_back({convert::where(list, a.offset), std::string(a.text)});
  }
  convert::refuse_duplicates(spec, origins,
                             "gomemcache picks by position, so this list gives the server two separate places; a spec "
                             "can repeat a server only in consecutive places (repeat_by_weight). Moving the copies "
                             "together would move keys, so convert refuses");
  bool repeated = false;
  for (const auto& s : spec.servers) repeated |= s.weight > 1;
  if (repeated) spec.options["repeat_by_weight"] = true;
  convert::check_converted(spec, origins, origins.front().where);
  return spec;
}

}  // namespace samering
