// samering — the command-line tool: pick servers for keys, check a spec.
//   samering pick --spec FILE [--hex]   keys on stdin, one per line; prints host:port per key
//   samering check --spec FILE          validates; prints each server, its points and its share
// Exit codes: 0 success, 2 bad input (one line on stderr), 1 anything else.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <string>

#include "samering/error.hpp"
#include "samering/ring.hpp"

namespace {

constexpr int kBadInput = 2;

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool decode_hex(const std::string& in, std::string& out) {
  if (in.size() % 2) return false;
  out.clear();
  for (std::size_t i = 0; i < in.size(); i += 2) {
    const int hi = hex_digit(in[i]), lo = hex_digit(in[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
  return true;
}

int bad_input(const std::string& message) {
  std::fprintf(stderr, "samering: %s\n", message.c_str());
  return kBadInput;
}

int run_pick(const std::string& spec_path, bool hex) {
  samering::Ring ring = samering::ring_from_file(spec_path);
  std::string line, key;
  std::size_t lineno = 0;
  // Read raw lines: a key is every byte up to '\n' (a '\r' is part of the key).
  while (std::getline(std::cin, line)) {
    ++lineno;
    const std::string* k = &line;
    if (hex) {
      if (!decode_hex(line, key)) return bad_input("stdin line " + std::to_string(lineno) + ": not a hex string");
      k = &key;
    }
    const std::int32_t i = ring.pick(*k);
    if (i < 0)
      return bad_input("stdin line " + std::to_string(lineno) + ": flavor " + std::string(ring.flavor()) +
                       " refuses a key of " + std::to_string(k->size()) + " bytes");
    const auto address = ring.server(static_cast<std::size_t>(i)).address;
    std::fwrite(address.data(), 1, address.size(), stdout);
    std::fputc('\n', stdout);
  }
  if (std::fflush(stdout) != 0) {
    std::perror("samering: stdout");
    return 1;
  }
  return 0;
}

int run_check(const std::string& spec_path) {
  samering::Ring ring = samering::ring_from_file(spec_path);
  const auto shares = ring.shares();
  std::printf("%s: ok, flavor %.*s, %zu server%s\n", spec_path.c_str(), static_cast<int>(ring.flavor().size()),
              ring.flavor().data(), ring.size(), ring.size() == 1 ? "" : "s");
  std::printf("%-5s %-40s %10s %8s %9s\n", "index", "server", "weight", "points", "share");
  for (std::size_t i = 0; i < ring.size(); ++i) {
    const auto s = ring.server(i);
    std::printf("%-5zu %-40.*s %10g %8u %8.4f%%\n", i, static_cast<int>(s.address.size()), s.address.data(), s.weight,
                s.points, shares[i] * 100.0);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"samering: pick the same memcached server for a key as the peer client does"};
  app.require_subcommand(1);
  std::string spec_path;
  bool hex = false;

  auto* pick = app.add_subcommand(
      "pick",
      "Read keys from stdin, one per line, and print for each the chosen server as host:port exactly as written "
      "in the spec. Exit 2 with a one-line message on bad input.");
  pick->add_option("--spec", spec_path, "Spec JSON file (flavor, options, servers)")->required();
  pick->add_flag("--hex", hex, "Keys are hex-encoded (for keys with arbitrary bytes)");

  auto* check = app.add_subcommand(
      "check", "Validate a spec and print each server with its ring points and its exact share of the hash space.");
  check->add_option("--spec", spec_path, "Spec JSON file")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : kBadInput;
  }
  try {
    if (*pick) return run_pick(spec_path, hex);
    return run_check(spec_path);
  } catch (const samering::SpecError& e) {
    return bad_input(e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "samering: %s\n", e.what());
    return 1;
  }
}
