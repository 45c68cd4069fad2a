// Names of the client's statuses (samering/client.hpp): samering::Status's values are the C API's
// status codes (samering/common.h), so they share samering_strerror's one list of names.
#include "samering/client.hpp"
#include "samering/common.h"

namespace samering {

std::string_view to_string(Status s) noexcept { return samering_strerror(static_cast<int>(s)); }

}  // namespace samering
