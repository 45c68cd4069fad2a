// Names of the client's statuses (samering/client.hpp), shared by the C API's client_strerror.
#include "samering/client.hpp"

namespace samering {

std::string_view to_string(Status s) noexcept {
  switch (s) {
    case Status::ok:
      return "success";
    case Status::not_found:
      return "not found";
    case Status::not_stored:
      return "not stored";
    case Status::exists:
      return "exists (cas mismatch)";
    case Status::invalid_argument:
      return "invalid argument";
    case Status::bad_key:
      return "bad key";
    case Status::server_down:
      return "server down";
    case Status::timeout:
      return "timeout";
    case Status::too_large:
      return "value too large";
    case Status::server_error:
      return "server error";
    case Status::connection_lost:
      return "connection lost";
    case Status::protocol_error:
      return "protocol error";
    case Status::no_memory:
      return "out of memory";
    case Status::internal:
      return "internal error";
  }
  return "unknown status";
}

}  // namespace samering
