// Helpers shared by the test suites: hex, temporary directories, the algorithms.md §10 configs
// and keys. Nothing here computes an expected server: expectations live in the tests, cited.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace samering_test {

inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Hex → bytes; throws std::invalid_argument on odd length or a non-hex digit.
inline std::string unhex(std::string_view hex) {
  if (hex.size() % 2) throw std::invalid_argument("odd-length hex string");
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0) throw std::invalid_argument("not a hex digit at " + std::to_string(i));
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
  return out;
}

inline std::string hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/samering-test-XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::system_error(errno, std::generic_category(), "mkdtemp");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path write(const std::string& name, std::string_view content) const {
    const auto p = path_ / name;
    std::ofstream out(p, std::ios::binary);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!out) throw std::runtime_error("cannot write " + p.string());
    return p;
  }

 private:
  std::filesystem::path path_;
};

// ---- algorithms.md §10 ----------------------------------------------------------------------

// Servers of the §10 configs, verbatim (algorithms.md §10 "Configs").
inline constexpr std::string_view kServersU =
    R"([{"host": "127.0.1.1", "port": 21001}, {"host": "127.0.1.2", "port": 21002}, {"host": "127.0.1.3", "port": 21003}])";
inline constexpr std::string_view kServersW =
    R"([{"host": "127.0.1.1", "port": 21001, "weight": 1}, {"host": "127.0.1.2", "port": 21002, "weight": 2}, {"host": "127.0.1.3", "port": 21003, "weight": 1}])";
inline constexpr std::string_view kServersP =
    R"([{"host": "127.0.1.1", "port": 11211}, {"host": "127.0.1.2", "port": 21002}, {"host": "127.0.1.3", "port": 21003}])";

inline std::string spec_json(std::string_view flavor, std::string_view options_json, std::string_view servers_json) {
  return std::string(R"({"flavor": ")") + std::string(flavor) + R"(", "options": )" + std::string(options_json) +
         R"(, "servers": )" + std::string(servers_json) + "}";
}

// The §10 keys, in the column order of its tables.
inline std::string key_l300() {
  std::string s;
  for (int i = 0; i < 30; ++i) s += "0123456789";
  return s;
}
inline std::string key_l300b() { return key_l300().substr(0, 256) + std::string(44, 'Z'); }

inline const std::vector<std::string>& named_keys() {
  static const std::vector<std::string> keys = {
      "foo", "bar", "user:1234", "a", "session:9f8e7d", "item/42/profile",
      "\xe6\x97\xa5\xe6\x9c\xac",  // 日本, UTF-8
      std::string(250, 'k'),       // k×250
  };
  return keys;
}
inline const std::vector<std::string>& named_key_labels() {
  static const std::vector<std::string> labels = {"foo", "bar", "user:1234", "a", "session:9f8e7d",
                                                  "item/42/profile", "日本", "k×250", "L300", "L300b"};
  return labels;
}

// A table row "A B C ..." → indices (A = 0, B = 1, C = 2); '-' = cell not checked (-1).
inline std::vector<int> row(std::string_view letters) {
  std::vector<int> out;
  for (char c : letters) {
    if (c == ' ') continue;
    out.push_back(c == '-' ? -1 : c - 'A');
  }
  return out;
}

}  // namespace samering_test
