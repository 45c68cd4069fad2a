// The C boundary, shared by every C entry point (selector.cpp, client.cpp, convert.cpp): exceptions
// stop here and become status codes (samering/common.h), messages are copied into caller buffers,
// files are read. Internal to libsamering_c.
#pragma once

#include <cstddef>
#include <exception>
#include <string>
#include <string_view>

#include "samering/common.h"

namespace samering::c_api {

// Copies `message` into errbuf (always NUL-terminated when errlen > 0; cut to fit). NULL is fine.
void write_error(char* errbuf, std::size_t errlen, std::string_view message) noexcept;

// The code and message of the exception being handled (call inside a catch block only):
// SpecError → SAMERING_ESPEC, ImageError → SAMERING_EIMAGE, BrokerError → its kind's code,
// bad_alloc → SAMERING_ENOMEM, anything else → SAMERING_EINTERNAL.
int current_exception_code(std::string& message) noexcept;

// Runs f() and returns its code; an escaped exception becomes its code, with its message stored
// through `message` (a handle's last error). f must return int.
template <typename F>
int guard(std::string& message, F&& f) noexcept {
  try {
    return f();
  } catch (...) {
    return current_exception_code(message);
  }
}

// The constructor pattern: checks `out`, clears errbuf, runs make() (which returns the new handle)
// and stores it in *out; on failure *out is NULL and errbuf holds the reason.
template <typename T, typename Make>
int construct(T** out, char* errbuf, std::size_t errlen, Make&& make) noexcept {
  if (!out) {
    write_error(errbuf, errlen, "out must not be NULL");
    return SAMERING_EINVAL;
  }
  *out = nullptr;
  write_error(errbuf, errlen, "");
  std::string message;
  const int rc = guard(message, [&] {
    *out = make();
    return SAMERING_OK;
  });
  if (rc < 0) write_error(errbuf, errlen, message);
  return rc;
}

// Reads the whole file at `path` into `text`; false with "PATH: cannot read WHAT: REASON" in error.
bool read_file(const char* path, std::string_view what, std::string& text, std::string& error);

}  // namespace samering::c_api
