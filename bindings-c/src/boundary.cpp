// The C boundary (boundary.hpp).
#include "boundary.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>

#include "samering/broker.hpp"
#include "samering/error.hpp"

namespace samering::c_api {

void write_error(char* errbuf, std::size_t errlen, std::string_view message) noexcept {
  if (!errbuf || errlen == 0) return;
  const std::size_t n = std::min(message.size(), errlen - 1);
  std::memcpy(errbuf, message.data(), n);
  errbuf[n] = '\0';
}

namespace {
int note(std::string& message, const char* what, int code) noexcept {
  try {
    message = what;
  } catch (...) {  // no memory for the message: the code still says what happened
  }
  return code;
}
}  // namespace

int current_exception_code(std::string& message) noexcept {
  try {
    throw;
  } catch (const SpecError& e) {
    return note(message, e.what(), SAMERING_ESPEC);
  } catch (const ImageError& e) {
    return note(message, e.what(), SAMERING_EIMAGE);
  } catch (const BrokerError& e) {
    switch (e.kind()) {
      case BrokerError::Kind::kConnect: return note(message, e.what(), SAMERING_EDOWN);
      case BrokerError::Kind::kIo: return note(message, e.what(), SAMERING_ECONNLOST);
      case BrokerError::Kind::kTimeout: return note(message, e.what(), SAMERING_ETIMEDOUT);
      case BrokerError::Kind::kProtocol: return note(message, e.what(), SAMERING_EPROTO);
      case BrokerError::Kind::kBroker: return note(message, e.what(), SAMERING_EBROKER);
    }
    return note(message, e.what(), SAMERING_EINTERNAL);
  } catch (const std::bad_alloc&) {
    return note(message, "out of memory", SAMERING_ENOMEM);
  } catch (const std::exception& e) {
    return note(message, e.what(), SAMERING_EINTERNAL);
  } catch (...) {
    return note(message, "unknown error", SAMERING_EINTERNAL);
  }
}

bool read_file(const char* path, std::string_view what, std::string& text, std::string& error) {
  std::FILE* f = std::fopen(path, "rb");
  if (!f) {
    error = fmt::format("{}: cannot read {}: {}", path, what, std::strerror(errno));
    return false;
  }
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  const bool ok = !std::ferror(f);
  const int saved = errno;
  std::fclose(f);
  if (!ok) error = fmt::format("{}: cannot read {}: {}", path, what, std::strerror(saved));
  return ok;
}

}  // namespace samering::c_api
