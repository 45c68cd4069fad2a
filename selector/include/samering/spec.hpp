// samering/spec.hpp — RingSpec: what a ring is made of, and its JSON form.
//
// JSON schema (docs/spec-format.md):
//   {"flavor": "cmf", "options": {"ketama_points": 150},
//    "servers": [{"host": "10.0.0.1", "port": 11211, "weight": 1, "name": "a"}]}
// Unknown fields are errors naming the field; port 1–65535 (a number, or a string of digits
// kept as written because some peers hash the port text); weight > 0; host:port unique;
// at least one server. Flavor options are checked by the flavor at build time.
#pragma once

#include "samering/common.h"  // SAMERING_API

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace samering {

struct ServerSpec {
  std::string host;                 // exactly as written: hashed as is, never resolved
  std::string port;                 // decimal text as written ("11211"); some peers hash it
  std::uint16_t port_number = 11211;
  double weight = 1.0;
  std::optional<std::string> name;  // twemproxy-style node name (flavors that use one)

  std::string address() const { return host + ":" + port; }
};

using OptionValue = std::variant<bool, std::int64_t, double, std::string>;

struct RingSpec {
  std::string flavor;
  std::map<std::string, OptionValue> options;
  std::vector<ServerSpec> servers;
};

// Parses and checks the generic part of a spec. Throws SpecError. Allocates.
SAMERING_API RingSpec parse_spec(std::string_view json);
// The generic checks of parse_spec, for a RingSpec built in code (build_ring runs them too):
// non-empty printable UTF-8 hosts, port text and number 1–65535 that agree, finite weights > 0,
// unique host:port, at least one server. Throws SpecError naming the field.
SAMERING_API void validate_spec(const RingSpec& spec);
// Reads a file and parses it; I/O errors are SpecErrors naming the path.
SAMERING_API RingSpec parse_spec_file(const std::string& path);
// The canonical JSON of a spec (stable field order); parse_spec(to_json(s)) == s.
SAMERING_API std::string to_json(const RingSpec& spec);

}  // namespace samering
