// samering — the command-line tool: pick servers for keys, check a spec, convert a peer's configuration.
//   samering pick --spec FILE [--hex]   keys on stdin, one per line; prints host:port per key
//   samering check --spec FILE          validates; prints each server, its points and its share
//   samering convert --from FORMAT [--pool NAME] [FILE]   a peer's configuration → spec JSON on stdout
//   samering image --spec FILE -o OUT   writes the spec's RingImage (docs/ring-image.md) to OUT
// Exit codes: 0 success, 2 bad input (one line on stderr), 1 anything else.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "samering/convert.hpp"
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

constexpr const char* kConvertHelp = R"(Formats (docs/convert.md has every rule):
  libmemcached  a libmemcached 1.1.4 configuration string, as memcached() takes it:
                  --SERVER=10.0.0.1:11211/?2 --SERVER=cache-b.internal:11212 --DISTRIBUTION=consistent --HASH=md5
                or a server list, as memcached_servers_parse() takes it (modula, default hash):
                  10.0.0.1:11211, 10.0.0.2:11212:3
  twemproxy     a nutcracker 0.5.0 YAML file; --pool NAME when it has several pools:
                  alpha:
                    listen: 127.0.0.1:22121
                    hash: fnv1a_64
                    distribution: ketama
                    servers:
                     - 10.0.0.1:11211:1
                     - 10.0.0.2:11211:2 cache-b
  cmf           Cache::Memcached::Fast's constructor arguments as a JSON object:
                  {"servers": ["10.0.0.1:11211", {"address": "10.0.0.2:11211", "weight": 2.5}],
                   "ketama_points": 150, "namespace": "app:", "hash_namespace": true}
  gomemcache    the addresses given to memcache.New(...), separated by commas or white space;
                an address repeated n times in a row is weight n (repeat_by_weight):
                  10.0.0.1:11211, 10.0.0.2:11211, 10.0.0.2:11211
  php-memcache  pecl memcache's memcache.* php.ini lines, then the addServer calls, one per line:
                  memcache.hash_strategy = consistent
                  memcache.hash_function = crc32
                  $memcache->addServer('10.0.0.1', 11211, false, 2);
  spymemcached  the builder's locator and hash and the AddrUtil.getAddresses list; a hostname under
                CONSISTENT as spymemcached prints the node (hostname/address:port); weights = ... for
                the weighted KetamaNodeLocator:
                  locator = CONSISTENT
                  hash = KETAMA_HASH
                  servers = cache-a.internal/10.0.0.1:11211 10.0.0.2:11211
  dalli         the servers given to Dalli::Client.new: host[:port[:weight]], separated by commas
                or line breaks, optionally quoted; a leading 0 is octal, as Ruby's Integer() reads it:
                  cache-a:11211:2,cache-b:11211,cache-c
Prints the spec as one line of JSON. Exit 2 with "samering: FILE: line L, column C: ..." when the
configuration is malformed or cannot be expressed as a spec.)";

// Reads all of `path` ("-" = stdin) into `out`; false on an I/O error.
bool read_all(const std::string& path, std::string& out) {
  std::ostringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
    if (std::cin.bad()) return false;
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    text << in.rdbuf();
    if (in.bad()) return false;
  }
  out = text.str();
  return true;
}

int run_convert(const std::string& from, const std::string& pool, const std::string& path) {
  const std::string name = path == "-" ? "stdin" : path;
  std::string text;
  if (!read_all(path, text)) return bad_input(name + ": cannot read the file");
  if (!pool.empty() && from != "twemproxy") return bad_input("--pool applies to --from twemproxy only");
  samering::RingSpec spec;
  try {
    if (from == "libmemcached") spec = samering::convert_libmemcached(text);
    else if (from == "twemproxy") spec = samering::convert_twemproxy(text, pool);
    else if (from == "cmf") spec = samering::convert_cmf(text);
    else if (from == "php-memcache") spec = samering::convert_php_memcache(text);
    else if (from == "spymemcached") spec = samering::convert_spymemcached(text);
    else if (from == "dalli") spec = samering::convert_dalli(text);
    else spec = samering::convert_gomemcache(text);
  } catch (const samering::SpecError& e) {
    return bad_input(name + ": " + e.what());
  }
  const std::string json = samering::to_json(spec);
  std::fwrite(json.data(), 1, json.size(), stdout);
  std::fputc('\n', stdout);
  if (std::fflush(stdout) != 0) {
    std::perror("samering: stdout");
    return 1;
  }
  return 0;
}

// Writes the RingImage of the spec to `out` ("-" = stdout). A file is written under a temporary
// name in the same directory and renamed over `out`, so a reader (a Go service's LoadImage, a
// deploy step) sees the old image or the new one, never a partial one. Exit 1 on an I/O error.
int run_image(const std::string& spec_path, const std::string& out) {
  const samering::Ring ring = samering::ring_from_file(spec_path);
  const auto bytes = ring.image();
  if (out == "-") {
    if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size() || std::fflush(stdout) != 0) {
      std::perror("samering: stdout");
      return 1;
    }
    return 0;
  }
  const std::filesystem::path target(out);
  const std::filesystem::path tmp =
      target.parent_path() / fmt::format(".{}.{}.tmp", target.filename().string(), ::getpid());
  const auto fail = [&](const std::string& what) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    std::fprintf(stderr, "samering: %s\n", what.c_str());
    return 1;
  };
  {
    std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
    if (!file) return fail(fmt::format("{}: cannot create: {}", tmp.string(), std::strerror(errno)));
    file.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    file.close();
    if (!file) return fail(fmt::format("{}: write failed", tmp.string()));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, target, ec);
  if (ec) return fail(fmt::format("{}: cannot rename to {}: {}", tmp.string(), out, ec.message()));
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

  std::string from, pool, input = "-";
  auto* convert = app.add_subcommand(
      "convert",
      "Turn a peer's own configuration into a spec that picks exactly as the peer does, and print it as JSON.");
  convert->add_option("--from", from, "The peer's format")
      ->required()
      ->check(CLI::IsMember({"libmemcached", "twemproxy", "cmf", "gomemcache", "php-memcache", "spymemcached", "dalli"}));
  convert->add_option("--pool", pool, "twemproxy: the pool to convert (needed when the file has several)");
  convert->add_option("FILE", input, "The configuration file; stdin when absent or -");
  convert->footer(kConvertHelp);

  std::string image_out;
  auto* image = app.add_subcommand(
      "image",
      "Build the spec's ring and write its RingImage (docs/ring-image.md: the flat, checksummed bytes that the "
      "Go package's LoadImage, selector_new_from_image and the broker read) to a file, replaced atomically.");
  image->add_option("--spec", spec_path, "Spec JSON file")->required();
  image->add_option("-o,--output", image_out, "The image file to write; - for stdout")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : kBadInput;
  }
  try {
    if (*pick) return run_pick(spec_path, hex);
    if (*convert) return run_convert(from, pool, input);
    if (*image) return run_image(spec_path, image_out);
    return run_check(spec_path);
  } catch (const samering::SpecError& e) {
    return bad_input(e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "samering: %s\n", e.what());
    return 1;
  }
}
