// RingSpec JSON parsing and the generic checks (DESIGN.md "Data flow"; docs/spec-format.md).
#include "samering/spec.hpp"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "samering/error.hpp"

namespace samering {
namespace {

using nlohmann::json;

std::string type_name(const json& v) { return v.type_name(); }

bool printable_text(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x21 || c == 0x7f) return false;
  return true;
}

std::string parse_port(const json& v, const std::string& field, std::uint16_t& number) {
  std::string text;
  if (v.is_number_unsigned()) {
    const auto n = v.get<std::uint64_t>();
    if (n < 1 || n > 65535) throw SpecError(field, "must be 1-65535 (got " + std::to_string(n) + ")");
    text = std::to_string(n);
  } else if (v.is_number_integer()) {
    const auto n = v.get<std::int64_t>();
    if (n < 1 || n > 65535) throw SpecError(field, "must be 1-65535 (got " + std::to_string(n) + ")");
    text = std::to_string(n);
  } else if (v.is_string()) {
    text = v.get<std::string>();
    if (text.empty() || text.size() > 10 || text.find_first_not_of("0123456789") != std::string::npos)
      throw SpecError(field, "must be a number 1-65535 or a string of decimal digits (got \"" + text + "\")");
  } else {
    throw SpecError(field, "must be a number 1-65535 (got " + type_name(v) + ")");
  }
  const unsigned long n = std::stoul(text);
  if (n < 1 || n > 65535) throw SpecError(field, "must be 1-65535 (got " + text + ")");
  number = static_cast<std::uint16_t>(n);
  return text;
}

ServerSpec parse_server(const json& v, std::size_t i) {
  const std::string at = "servers[" + std::to_string(i) + "]";
  if (!v.is_object()) throw SpecError(at, "must be an object {\"host\": ..., \"port\": ...}");
  ServerSpec s;
  bool have_host = false;
  for (const auto& [key, value] : v.items()) {
    const std::string field = at + "." + key;
    if (key == "host") {
      if (!value.is_string()) throw SpecError(field, "must be a string (got " + type_name(value) + ")");
      s.host = value.get<std::string>();
      if (s.host.empty()) throw SpecError(field, "must not be empty");
      if (!printable_text(s.host)) throw SpecError(field, "must not contain spaces or control characters");
      have_host = true;
    } else if (key == "port") {
      s.port = parse_port(value, field, s.port_number);
    } else if (key == "weight") {
      if (!value.is_number()) throw SpecError(field, "must be a number > 0 (got " + type_name(value) + ")");
      s.weight = value.get<double>();
      if (!std::isfinite(s.weight) || s.weight <= 0)
        throw SpecError(field, "must be a number > 0 (got " + value.dump() + ")");
    } else if (key == "name") {
      if (!value.is_string()) throw SpecError(field, "must be a string (got " + type_name(value) + ")");
      s.name = value.get<std::string>();
      if (s.name->empty()) throw SpecError(field, "must not be empty");
    } else {
      throw SpecError(field, "unknown field (expected host, port, weight, name)");
    }
  }
  if (!have_host) throw SpecError(at + ".host", "is required");
  if (s.port.empty()) s.port = "11211";
  return s;
}

OptionValue parse_option(const json& v, const std::string& field) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer() || v.is_number_unsigned()) return v.get<std::int64_t>();
  if (v.is_number_float()) return v.get<double>();
  if (v.is_string()) return v.get<std::string>();
  throw SpecError(field, "must be a boolean, number or string (got " + type_name(v) + ")");
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : (c >> 3) == 0x1e ? 3 : 99;
    if (n == 99 || i + n >= s.size()) return false;  // a lead byte and its continuation bytes
    for (std::size_t k = 1; k <= n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    i += n + 1;
  }
  return true;
}

}  // namespace

void validate_spec(const RingSpec& spec) {
  if (spec.servers.empty()) throw SpecError("servers", "at least one server is required");
  std::set<std::pair<std::string, std::uint16_t>> seen;
  for (std::size_t i = 0; i < spec.servers.size(); ++i) {
    const auto& s = spec.servers[i];
    const std::string at = "servers[" + std::to_string(i) + "]";
    if (s.host.empty()) throw SpecError(at + ".host", "must not be empty");
    if (!printable_text(s.host)) throw SpecError(at + ".host", "must not contain spaces or control characters");
    if (!valid_utf8(s.host)) throw SpecError(at + ".host", "must be valid UTF-8 (a spec is JSON text)");
    std::uint16_t number = 0;
    parse_port(nlohmann::json(s.port), at + ".port", number);
    if (number != s.port_number)
      throw SpecError(at + ".port", "port text \"" + s.port + "\" and port number " + std::to_string(s.port_number) +
                                        " disagree");
    if (!std::isfinite(s.weight) || s.weight <= 0)
      throw SpecError(at + ".weight", "must be a number > 0 (got " + std::to_string(s.weight) + ")");
    if (s.name && (s.name->empty() || !valid_utf8(*s.name)))
      throw SpecError(at + ".name", "must be a non-empty UTF-8 string");
    if (!seen.emplace(s.host, s.port_number).second)
      throw SpecError(at, "duplicate server " + s.host + ":" + std::to_string(s.port_number));
  }
  for (const auto& [name, value] : spec.options) {
    const auto* text = std::get_if<std::string>(&value);
    if (!valid_utf8(name) || (text && !valid_utf8(*text)))
      throw SpecError("options." + name, "must be valid UTF-8 (a spec is JSON text)");
  }
}

RingSpec parse_spec(std::string_view text) {
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    throw SpecError("", std::string("invalid JSON at byte ") + std::to_string(e.byte) + ": " +
                            std::string(e.what()).substr(std::string(e.what()).find(':') + 2));
  } catch (const json::exception& e) {  // e.g. out_of_range 406: a number too large for a double
    const std::string what = e.what();
    throw SpecError("", "invalid JSON: " + what.substr(what.find(']') + 2));
  }
  if (!doc.is_object()) throw SpecError("", "a spec must be a JSON object with flavor, options, servers");
  RingSpec spec;
  bool have_flavor = false, have_servers = false;
  for (const auto& [key, value] : doc.items()) {
    if (key == "flavor") {
      if (!value.is_string()) throw SpecError("flavor", "must be a string (got " + type_name(value) + ")");
      spec.flavor = value.get<std::string>();
      have_flavor = true;
    } else if (key == "options") {
      if (!value.is_object()) throw SpecError("options", "must be an object (got " + type_name(value) + ")");
      for (const auto& [name, option] : value.items())
        spec.options.emplace(name, parse_option(option, "options." + name));
    } else if (key == "servers") {
      if (!value.is_array()) throw SpecError("servers", "must be an array (got " + type_name(value) + ")");
      for (std::size_t i = 0; i < value.size(); ++i) spec.servers.push_back(parse_server(value[i], i));
      have_servers = true;
    } else {
      throw SpecError(key, "unknown field (expected flavor, options, servers)");
    }
  }
  if (!have_flavor) throw SpecError("flavor", "is required");
  if (!have_servers || spec.servers.empty()) throw SpecError("servers", "at least one server is required");
  validate_spec(spec);
  return spec;
}

RingSpec parse_spec_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SpecError(path, "cannot open spec file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw SpecError(path, "cannot read spec file");
  try {
    return parse_spec(text.str());
  } catch (const SpecError& e) {
    throw SpecError(path, e.what());
  }
}

std::string to_json(const RingSpec& spec) {
  json options = json::object();
  for (const auto& option : spec.options)
    std::visit([&](const auto& v) { options[option.first] = v; }, option.second);
  json servers = json::array();
  for (const auto& s : spec.servers) {
    json o = json::object();
    o["host"] = s.host;
    if (s.port == std::to_string(s.port_number))
      o["port"] = s.port_number;
    else
      o["port"] = s.port;
    if (s.weight == std::floor(s.weight) && s.weight < 1e15)
      o["weight"] = static_cast<std::int64_t>(s.weight);
    else
      o["weight"] = s.weight;
    if (s.name) o["name"] = *s.name;
    servers.push_back(std::move(o));
  }
  json doc = json::object();
  doc["flavor"] = spec.flavor;
  doc["options"] = std::move(options);
  doc["servers"] = std::move(servers);
  return doc.dump();
}

}  // namespace samering
