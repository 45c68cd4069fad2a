// Pieces shared by the converters (selector/src/convert/*.cpp): positions in the input, the error
// they throw, host/port checks, and the final "is this a spec that builds" check.
// Internal to the selector library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "samering/error.hpp"
#include "samering/spec.hpp"

namespace samering::convert {

// "line L, column C" (1-based; the column counts bytes) of byte `offset` in `text`.
std::string where(std::string_view text, std::size_t offset);
// The same from a 0-based line and column (libyaml's marks).
std::string where_line_column(std::size_t line0, std::size_t column0);

// Throws SpecError("line L, column C", reason).
[[noreturn]] void fail(std::string_view text, std::size_t offset, const std::string& reason);

// `s` quoted for a message: printable ASCII as is, other bytes as \xNN; long text shortened.
std::string quote(std::string_view s);

// True when `s` is one or more decimal digits.
bool all_digits(std::string_view s);
// The value of a string of decimal digits, saturating at 2^64-1.
std::uint64_t decimal_value(std::string_view digits);

// Length of the valid UTF-8 sequence starting at s[i] (1 for ASCII), or 0 when the bytes there
// are not valid UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
std::size_t utf8_sequence(std::string_view s, std::size_t i);

// The problem with `host` as a spec host (empty, a space or control character, invalid UTF-8, more
// than 1024 bytes), or "" when it is fine.
std::string host_problem(std::string_view host);

// Port text as written: must be 1-10 decimal digits with a value 1-65535 (the spec's rule). On
// success sets `number` and returns ""; otherwise the problem.
std::string port_problem(std::string_view digits, std::uint16_t& number);

// Where each server of the spec was written, for messages about it.
struct ServerOrigin {
  std::string where;    // "line L, column C"
  std::string written;  // the server as written, for messages
};

// Refuses two servers with the same host and numeric port (a spec cannot list a server twice);
// `why` says what the peer does with such a list.
void refuse_duplicates(const RingSpec& spec, const std::vector<ServerOrigin>& origins, const std::string& why);

// The converted spec must survive to_json → parse_spec and build_ring. A SpecError naming
// servers[i] is reported at that server's origin, any other at `fallback_where`.
void check_converted(const RingSpec& spec, const std::vector<ServerOrigin>& origins, const std::string& fallback_where);

}  // namespace samering::convert
