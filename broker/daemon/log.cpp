#include "log.hpp"

#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <string>

#include <fmt/format.h>

namespace samering::broker {

namespace {
bool quiet_ = false;
}

void set_quiet(bool quiet) { quiet_ = quiet; }

void log(LogLevel level, std::string_view message) {
  if (quiet_ && level == LogLevel::kInfo) return;
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  const char* tag = level == LogLevel::kError ? "error: " : level == LogLevel::kWarning ? "warning: " : "";
  const std::string line = fmt::format("samering-broker[{}]: {} {}{}\n", ::getpid(), stamp, tag, message);
  // One write per line, so lines of concurrent processes do not interleave.
  ssize_t rc = ::write(STDERR_FILENO, line.data(), line.size());
  (void)rc;
}

}  // namespace samering::broker
