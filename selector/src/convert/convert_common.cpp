// Positions, messages and the final check shared by the converters (convert_common.hpp).
#include "convert_common.hpp"

#include <cstdint>
#include <map>
#include <new>
#include <utility>

#include "samering/ring.hpp"

namespace samering::convert {

std::string where_line_column(std::size_t line0, std::size_t column0) {
  return "line " + std::to_string(line0 + 1) + ", column " + std::to_string(column0 + 1);
}

std::string where(std::string_view text, std::size_t offset) {
  if (offset > text.size()) offset = text.size();
  std::size_t line = 0, line_start = 0;
  for (std::size_t i = 0; i < offset; ++i)
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  return where_line_column(line, offset - line_start);
}

void fail(std::string_view text, std::size_t offset, const std::string& reason) {
  throw SpecError(where(text, offset), reason);
}

std::string quote(std::string_view s) {
  constexpr std::size_t kMax = 80;
  static constexpr char digits[] = "0123456789abcdef";
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  if (s.size() > kMax) out += "...";
  return out + "\"";
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

std::uint64_t decimal_value(std::string_view digits) {
  std::uint64_t v = 0;
  for (char c : digits) {
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return UINT64_MAX;
    v = v * 10 + d;
  }
  return v;
}

std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (b(i + k) < 0x80 || b(i + k) > 0xbf) return 0;
  return n;
}

std::string host_problem(std::string_view host) {
  if (host.empty()) return "the host is empty";
  if (host.size() > 1024) return "the host is longer than 1024 bytes";
  for (std::size_t i = 0; i < host.size();) {
    const auto c = static_cast<unsigned char>(host[i]);
    if (c <= 0x20 || c == 0x7f) return "the host " + quote(host) + " contains a space or a control character";
    const std::size_t n = utf8_sequence(host, i);
    if (n == 0) return "the host " + quote(host) + " is not valid UTF-8";
    i += n;
  }
  return "";
}

std::string port_problem(std::string_view digits, std::uint16_t& number) {
  if (digits.empty()) return "the port is missing";
  if (!all_digits(digits)) return "the port " + quote(digits) + " is not a decimal number";
  if (digits.size() > 10) return "the port " + quote(digits) + " is longer than 10 digits";
  const std::uint64_t value = decimal_value(digits);
  if (value < 1 || value > 65535) return "the port " + quote(digits) + " is not 1-65535";
  number = static_cast<std::uint16_t>(value);
  return "";
}

void refuse_duplicates(const RingSpec& spec, const std::vector<ServerOrigin>& origins, const std::string& why) {
  std::map<std::pair<std::string, std::uint16_t>, std::size_t> seen;
  for (std::size_t i = 0; i < spec.servers.size(); ++i) {
    const auto& s = spec.servers[i];
    const auto [it, fresh] = seen.emplace(std::make_pair(s.host, s.port_number), i);
    if (fresh) continue;
    const auto& first = origins.at(it->second);
    throw SpecError(origins.at(i).where, quote(origins.at(i).written) + " is the same server as " + quote(first.written) +
                                             " (" + first.where + "); " + why);
  }
}

void check_converted(const RingSpec& spec, const std::vector<ServerOrigin>& origins, const std::string& fallback_where) {
  const auto at = [&](const std::string& field) -> std::string {
    // "servers[12]..." → the origin of server 12.
    constexpr std::string_view prefix = "servers[";
    if (field.compare(0, prefix.size(), prefix) != 0) return fallback_where;
    std::size_t i = 0, k = prefix.size();
    if (k >= field.size() || field[k] < '0' || field[k] > '9') return fallback_where;
    for (; k < field.size() && field[k] >= '0' && field[k] <= '9'; ++k) i = i * 10 + static_cast<std::size_t>(field[k] - '0');
    return i < origins.size() ? origins[i].where : fallback_where;
  };
  try {
    parse_spec(to_json(spec));
    build_ring(spec);
  } catch (const SpecError& e) {
    throw SpecError(at(e.field()), std::string("the converted spec is refused: ") + e.what());
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {  // e.g. a JSON encoding error: a bug here, reported as input error
    throw SpecError(fallback_where, std::string("the converted spec is refused: ") + e.what());
  }
}

}  // namespace samering::convert
