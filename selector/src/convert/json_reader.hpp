// A strict JSON reader (RFC 8259) that remembers where each value and key starts, so that a
// converter can say "line 4, column 9: servers[1].weight: ..." about a valid document too.
// Internal to the selector library.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace samering::convert {

struct JsonMember;

struct JsonValue {
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  std::size_t offset = 0;  // byte offset of the value's first character
  bool boolean = false;
  std::string text;        // String: the decoded UTF-8; Number: the number as written
  std::vector<JsonValue> items;                          // Array
  std::vector<JsonMember> members;                       // Object, in document order
  std::vector<std::size_t> key_offsets;                  // Object: where each key starts

  const char* kind_name() const;
};

// A named member of an object. A struct, not std::pair: a pair of an incomplete JsonValue cannot be
// instantiated inside JsonValue with libc++-style eager checks (clang).
struct JsonMember {
  std::string key;
  JsonValue value;
};

// Parses one JSON value (surrounded by optional white space). Throws SpecError "line L, column C: ..."
// on a syntax error, invalid UTF-8, a lone surrogate escape, a duplicate object key, or nesting deeper
// than 64.
JsonValue parse_json(std::string_view text);

}  // namespace samering::convert
