// build_ring: the flavor table, option checking and the checks several flavors share.
#include <cmath>
#include <string>

#include "layout.hpp"

namespace samering {
namespace {

struct Flavor {
  std::string_view name;
  RingLayout (*build)(const RingSpec&);
};

constexpr Flavor kFlavors[] = {
    {"cmf", build_cmf},
    {"cache-memcached", build_cache_memcached},
    {"gomemcache", build_gomemcache},
    {"libmemcached", build_libmemcached},
    {"twemproxy", build_twemproxy},
    {"nginx", build_nginx},
    // the PHP and Java peers
    {"php-memcache", build_php_memcache},
    {"spymemcached", build_spymemcached},
    // wave 2, Ruby and Python peers (issue 18)
    {"dalli", build_dalli},
    {"python-memcached", build_python_memcached},
    {"rendezvous", build_rendezvous},
};

const char* kind_of(const OptionValue& v) {
  switch (v.index()) {
    case 0: return "a boolean";
    case 1: return "an integer";
    case 2: return "a number";
    default: return "a string";
  }
}

}  // namespace

std::vector<std::string_view> flavor_names() {
  std::vector<std::string_view> names;
  for (const auto& f : kFlavors) names.push_back(f.name);
  return names;
}

RingImage build_ring(const RingSpec& spec) {
  validate_spec(spec);  // a RingSpec made in code has not been through parse_spec
  for (const auto& f : kFlavors)
    if (f.name == spec.flavor) return write_image(spec, f.build(spec));
  std::string known;
  for (const auto& f : kFlavors) known += (known.empty() ? "" : ", ") + std::string(f.name);
  throw SpecError("flavor", "unknown flavor \"" + spec.flavor + "\" (this build knows: " + known + ")");
}

bool OptionReader::get_bool(const std::string& name, bool fallback) {
  auto it = left_.find(name);
  if (it == left_.end()) return fallback;
  const auto* v = std::get_if<bool>(&it->second);
  if (!v) throw SpecError("options." + name, std::string("must be a boolean (got ") + kind_of(it->second) + ")");
  const bool out = *v;
  left_.erase(it);
  return out;
}

std::int64_t OptionReader::get_int(const std::string& name, std::int64_t fallback, std::int64_t min,
                                   std::int64_t max) {
  auto it = left_.find(name);
  if (it == left_.end()) return fallback;
  const auto* v = std::get_if<std::int64_t>(&it->second);
  if (!v) throw SpecError("options." + name, std::string("must be an integer (got ") + kind_of(it->second) + ")");
  if (*v < min || *v > max)
    throw SpecError("options." + name,
                    "must be " + std::to_string(min) + "-" + std::to_string(max) + " (got " + std::to_string(*v) + ")");
  const auto out = *v;
  left_.erase(it);
  return out;
}

std::string OptionReader::get_string(const std::string& name, const std::string& fallback) {
  auto it = left_.find(name);
  if (it == left_.end()) return fallback;
  const auto* v = std::get_if<std::string>(&it->second);
  if (!v) throw SpecError("options." + name, std::string("must be a string (got ") + kind_of(it->second) + ")");
  std::string out = *v;
  left_.erase(it);
  return out;
}

void OptionReader::finish() const {
  if (left_.empty()) return;
  throw SpecError("options." + left_.begin()->first, "unknown option for flavor " + spec_.flavor);
}

void require_integer_weights(const RingSpec& spec, const char* why) {
  for (std::size_t i = 0; i < spec.servers.size(); ++i) {
    const double w = spec.servers[i].weight;
    if (w != std::floor(w) || w > 1e6)
      throw SpecError("servers[" + std::to_string(i) + "].weight", std::string("must be an integer 1-1000000 (") + why + ")");
  }
}

void check_ring_size(std::uint64_t entries, const char* what) {
  if (entries > kMaxRingEntries)
    throw SpecError("servers", std::string("the weights ask for ") + std::to_string(entries) + " " + what +
                                   "; at most " + std::to_string(kMaxRingEntries) + " are allowed");
}

void forbid_names(const RingSpec& spec) {
  for (std::size_t i = 0; i < spec.servers.size(); ++i)
    if (spec.servers[i].name)
      throw SpecError("servers[" + std::to_string(i) + "].name",
                      "flavor " + spec.flavor + " does not use server names (only twemproxy and spymemcached do)");
}

}  // namespace samering
