// samering/error.hpp — the exceptions thrown at parse, build and image-load time.
// pick() never throws; everything that can go wrong is found before the first pick.
#pragma once

#include "samering/common.h"  // SAMERING_API

#include <stdexcept>
#include <string>

namespace samering {

// A RingSpec that cannot become a ring: the message starts with the offending field
// ("servers[2].port: ...", "options.ketama_points: ...") or, for JSON syntax, the position.
class SAMERING_API SpecError : public std::runtime_error {
 public:
  SpecError(std::string field, const std::string& reason)
      : std::runtime_error(field.empty() ? reason : field + ": " + reason), field_(std::move(field)) {}
  const std::string& field() const noexcept { return field_; }

 private:
  std::string field_;
};

// RingImage bytes that fail validation (corrupt, truncated, wrong version).
class SAMERING_API ImageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace samering
