// convert_spymemcached: a spymemcached 2.12.3 client's settings and its AddrUtil address list →
// flavor "spymemcached" (couchbase/spymemcached tag 2.12.3: AddrUtil.getAddresses,
// ConnectionFactoryBuilder, KetamaNodeLocator).
//
// The input is a properties-style text (docs/convert.md):
//   # ConnectionFactoryBuilder.setLocatorType / setHashAlg, AddrUtil.getAddresses(servers)
//   locator = CONSISTENT
//   hash = KETAMA_HASH
//   servers = mc1.internal/10.0.0.1:11211 10.0.0.2:11211, 10.0.0.3:11212
//   weights = 1 2 1        # optional: the weighted KetamaNodeLocator constructor
// The servers are split as AddrUtil splits them (white space and commas; host before the LAST ':',
// Integer.parseInt of the rest). A hostname is resolved by spymemcached when the client is built
// and its ketama ring hashes "hostname/address:port"; the selector never resolves, so under
// CONSISTENT a hostname must be written as spymemcached prints (and logs) the node,
// "hostname/address:port". ARRAY_MOD hashes no node name: a plain hostname is fine there.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "convert_common.hpp"
#include "samering/convert.hpp"

namespace samering {
namespace {

using convert::fail;
using convert::quote;

bool list_separator(char c) { return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

// A dotted-quad IPv4 literal in the form Java prints it (as the flavor requires for a host without
// a name; docs/spec-format.md).
bool ipv4_literal(std::string_view h) {
  int parts = 0;
  std::size_t i = 0;
  while (true) {
    std::size_t j = i;
    while (j < h.size() && h[j] >= '0' && h[j] <= '9') ++j;
    if (j == i || j - i > 3 || (j - i > 1 && h[i] == '0') || convert::decimal_value(h.substr(i, j - i)) > 255) return false;
    ++parts;
    if (j == h.size()) return parts == 4;
    if (h[j] != '.' || parts == 4) return false;
    i = j + 1;
  }
}

struct Setting {
  std::string value;
  std::size_t offset = std::string_view::npos;  // of the value; npos = not given
};

}  // namespace

RingSpec convert_spymemcached(std::string_view text) {
  Setting locator, hash, weights;
  std::vector<std::pair<std::string_view, std::size_t>> lists;  // servers values, in order
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::size_t i = 0;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i < line.size() && line[i] != '#' && line[i] != '!') {
      const std::size_t eq = line.find('=', i);
      if (eq == std::string_view::npos) fail(text, start + i, "expected name = value (locator, hash, servers, weights)");
      std::string_view name = line.substr(i, eq - i);
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
      std::size_t v = eq + 1;
      while (v < line.size() && (line[v] == ' ' || line[v] == '\t')) ++v;
      std::string_view value = line.substr(v);
      if (const auto hash_mark = value.find(" #"); hash_mark != std::string_view::npos) value = value.substr(0, hash_mark);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
      const std::size_t at = start + v;
      const auto once = [&](Setting& s) {
        if (s.offset != std::string_view::npos) fail(text, start + i, fmt::format("{} is given twice", name));
        s = {std::string(value), at};
      };
      if (name == "locator") {
        once(locator);
        if (locator.value.rfind("Locator.", 0) == 0) locator.value.erase(0, 8);
      } else if (name == "hash") {
        once(hash);
        if (hash.value.rfind("DefaultHashAlgorithm.", 0) == 0) hash.value.erase(0, 21);
      } else if (name == "weights") {
        once(weights);
      } else if (name == "servers") {
        lists.emplace_back(value, at);
      } else {
        fail(text, start + i, fmt::format("unknown setting {} (locator, hash, servers, weights)", quote(name)));
      }
    }
    if (end == text.size()) break;
    start = end + 1;
  }
  if (lists.empty()) fail(text, text.size(), "no servers = ... line (the AddrUtil.getAddresses list)");

  RingSpec spec;
  spec.flavor = "spymemcached";
  const bool consistent = locator.value == "CONSISTENT";
  if (locator.offset != std::string_view::npos) {
    if (locator.value != "CONSISTENT" && locator.value != "ARRAY_MOD")
      fail(text, locator.offset,
           fmt::format("locator must be ARRAY_MOD or CONSISTENT (got {}; VBUCKET takes a Couchbase vbucket map)", quote(locator.value)));
    spec.options["locator"] = locator.value;
  }
  if (hash.offset != std::string_view::npos) {
    static constexpr std::string_view kHashes[] = {"NATIVE_HASH", "CRC_HASH", "FNV1_64_HASH", "FNV1A_64_HASH",
                                                   "FNV1_32_HASH", "FNV1A_32_HASH", "KETAMA_HASH"};
    if (std::find(std::begin(kHashes), std::end(kHashes), hash.value) == std::end(kHashes))
      fail(text, hash.offset,
           fmt::format("hash must be a DefaultHashAlgorithm: NATIVE_HASH, CRC_HASH, FNV1_64_HASH, FNV1A_64_HASH, "
                       "FNV1_32_HASH, FNV1A_32_HASH or KETAMA_HASH (got {})", quote(hash.value)));
    spec.options["hash"] = hash.value;
  }
  if (weights.offset != std::string_view::npos && !consistent)
    fail(text, weights.offset, "weights need locator = CONSISTENT (only the KetamaNodeLocator constructor takes them)");

  std::vector<convert::ServerOrigin> origins;
  std::vector<std::size_t> offsets;
  for (const auto& [list, base] : lists) {
    std::size_t i = 0;
    while (i < list.size()) {
      if (list_separator(list[i])) {
        ++i;
        continue;
      }
      std::size_t j = i;
      while (j < list.size() && !list_separator(list[j])) ++j;
      const std::string_view a = list.substr(i, j - i);
      const std::size_t at = base + i;
      // AddrUtil: "Invalid server" unless a ':' follows at least one character; host before the last ':'
      const std::size_t colon = a.rfind(':');
      if (colon == std::string_view::npos || colon < 1) fail(text, at, fmt::format("Invalid server {}: host:port expected", quote(a)));
      std::string_view host = a.substr(0, colon);
      const std::string_view port = a.substr(colon + 1);
      if (!convert::all_digits(port)) fail(text, at + colon + 1, fmt::format("{}: the port {} is not a number", quote(a), quote(port)));
      ServerSpec s;
      if (const auto problem = convert::port_problem(port, s.port_number); !problem.empty())
        fail(text, at + colon + 1, fmt::format("{}: {}", quote(a), problem));
      s.port = fmt::format("{}", s.port_number);  // Integer.parseInt: the node string prints the number
      if (const auto slash = host.find('/'); slash != std::string_view::npos) {
        // "hostname/address" (as spymemcached prints a node), or "/address" (an address literal)
        const std::string_view name = host.substr(0, slash), address = host.substr(slash + 1);
        if (address.empty() || address.find('/') != std::string_view::npos)
          fail(text, at, fmt::format("{}: expected hostname/address:port", quote(a)));
        if (name.empty()) {
          host = address;
        } else {
          if (ipv4_literal(name))
            fail(text, at, fmt::format("{}: an address literal has no hostname part in spymemcached's node string; write {}:{}",
                                       quote(a), name, s.port_number));
          host = name;
          s.name = fmt::format("{}/{}:{}", name, address, s.port_number);
        }
      } else if (consistent && !ipv4_literal(host)) {
        fail(text, at, fmt::format("{}: the CONSISTENT locator hashes \"hostname/address:port\" with the address {} resolved to "
                                   "when the client was built; write it so (as spymemcached logs the node)",
                                   quote(a), quote(host)));
      }
      if (const auto problem = convert::host_problem(host); !problem.empty()) fail(text, at, fmt::format("{}: {}", quote(a), problem));
      s.host = std::string(host);
      spec.servers.push_back(std::move(s));
      origins.push_back({convert::where(text, at), std::string(a)});
      offsets.push_back(at);
      i = j;
    }
  }
  if (spec.servers.empty()) fail(text, lists.front().second, "No hosts in list (AddrUtil.getAddresses)");

  if (weights.offset != std::string_view::npos) {
    std::vector<std::pair<std::string_view, std::size_t>> w;
    const std::string_view v = weights.value;
    for (std::size_t i = 0; i < v.size();) {
      if (list_separator(v[i])) {
        ++i;
        continue;
      }
      std::size_t j = i;
      while (j < v.size() && !list_separator(v[j])) ++j;
      w.emplace_back(v.substr(i, j - i), weights.offset + i);
      i = j;
    }
    if (w.size() != spec.servers.size())
      fail(text, weights.offset, fmt::format("{} weights for {} servers (one per server, in order)", w.size(), spec.servers.size()));
    for (std::size_t k = 0; k < w.size(); ++k) {
      const auto [word, at] = w[k];
      if (!convert::all_digits(word) || convert::decimal_value(word) < 1 || convert::decimal_value(word) > 1'000'000)
        fail(text, at, fmt::format("the weight {} must be an integer 1-1000000 (a java.lang.Integer)", quote(word)));
      spec.servers[k].weight = static_cast<double>(convert::decimal_value(word));
    }
    spec.options["weighted"] = true;
  }
  convert::refuse_duplicates(spec, origins, "spymemcached would make two nodes of one address; a spec lists a server once");
  convert::check_converted(spec, origins, convert::where(text, lists.front().second));
  return spec;
}

}  // namespace samering
