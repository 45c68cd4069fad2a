// One line per event on stderr: "samering-broker[pid]: 2024-01-01T00:00:00Z message".
#pragma once

#include <string_view>

namespace samering::broker {

enum class LogLevel { kInfo, kWarning, kError };
void set_quiet(bool quiet);  // drops kInfo lines
void log(LogLevel level, std::string_view message);
inline void log_info(std::string_view m) { log(LogLevel::kInfo, m); }
inline void log_warning(std::string_view m) { log(LogLevel::kWarning, m); }
inline void log_error(std::string_view m) { log(LogLevel::kError, m); }

}  // namespace samering::broker
