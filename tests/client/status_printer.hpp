// GoogleTest prints a samering::Status by name ("server down"), not as four bytes.
#pragma once

#include <ostream>

#include "samering/client.hpp"

namespace samering {

inline void PrintTo(Status s, std::ostream* os) { *os << to_string(s) << " (" << static_cast<int>(s) << ")"; }

}  // namespace samering
