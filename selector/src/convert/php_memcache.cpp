// convert_php_memcache: the memcache.* lines of a php.ini and the addServer calls of a PHP program →
// flavor "php-memcache" (pecl memcache 4.0.5.2, websupport-sk/pecl-memcache tag 8.0, src/memcache.c).
//
// The input is line based (docs/convert.md):
//   ; php.ini settings, read when the pool is created (the first addServer)
//   memcache.hash_strategy = standard
//   memcache.hash_function = "fnv"
//   $memcache->addServer('10.0.0.1', 11211, false, 2);
//   addServer("cache-b.internal");
// The ini values are what OnUpdateHashStrategy / OnUpdateHashFunction accept (case-insensitive);
// memcache.default_port is the port of an addServer without one. The addServer arguments are PHP
// literals in its order: host, tcp_port, persistent, weight, timeout, retry_interval, status,
// failure_callback. What would change where a key goes and a spec cannot express (a key prefix,
// redundancy, a server added as failed, a unix socket) is refused, and so is what pecl memcache
// takes silently in another sense than written (a weight < 1 drops the server with a warning; a port
// up to 65635, its range check's typo, is truncated to 16 bits).
#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "convert_common.hpp"
#include "samering/convert.hpp"

namespace samering {
namespace {

using convert::fail;
using convert::quote;

struct Line {
  std::string_view text;  // without the line break
  std::size_t offset;     // in the input
};

std::vector<Line> lines_of(std::string_view in) {
  std::vector<Line> out;
  std::size_t start = 0;
  while (start <= in.size()) {
    std::size_t end = in.find('\n', start);
    if (end == std::string_view::npos) end = in.size();
    std::string_view t = in.substr(start, end - start);
    if (!t.empty() && t.back() == '\r') t.remove_suffix(1);
    out.push_back({t, start});
    if (end == in.size()) break;
    start = end + 1;
  }
  return out;
}

bool blank(char c) { return c == ' ' || c == '\t'; }

std::size_t skip_blanks(std::string_view t, std::size_t i) {
  while (i < t.size() && blank(t[i])) ++i;
  return i;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// One PHP literal argument of addServer.
struct Arg {
  enum Kind { kString, kInt, kFloat, kBool, kNull } kind;
  std::string text;  // the string's value, or the literal as written
  bool truth = false;
  std::size_t offset;  // in the input
};

// Parses the arguments of "addServer(" ... ")" starting at t[i] (just after the parenthesis).
std::vector<Arg> parse_args(std::string_view in, const Line& line, std::size_t& i) {
  const std::string_view t = line.text;
  std::vector<Arg> args;
  i = skip_blanks(t, i);
  if (i < t.size() && t[i] == ')') {
    ++i;
    return args;
  }
  while (true) {
    i = skip_blanks(t, i);
    if (i >= t.size()) fail(in, line.offset + i, "the addServer call is not closed with ')' on its line");
    Arg a{Arg::kNull, "", false, line.offset + i};
    const char c = t[i];
    if (c == '\'' || c == '"') {
      // '...': \' and \\ are the only escapes; "...": refused if it has $ or a backslash (PHP would
      // interpolate or unescape; write the host in single quotes)
      a.kind = Arg::kString;
      std::size_t k = i + 1;
      for (; k < t.size() && t[k] != c; ++k) {
        if (c == '\'' && t[k] == '\\' && k + 1 < t.size() && (t[k + 1] == '\'' || t[k + 1] == '\\')) {
          a.text += t[++k];
          continue;
        }
        if (c == '"' && (t[k] == '$' || t[k] == '\\'))
          fail(in, line.offset + k, "a double-quoted PHP string with $ or \\ is interpolated or unescaped by PHP; "
                                    "write it in single quotes");
        a.text += t[k];
      }
      if (k >= t.size()) fail(in, line.offset + i, "this string is not closed on its line");
      i = k + 1;
    } else {
      std::size_t k = i;
      while (k < t.size() && (std::isalnum(static_cast<unsigned char>(t[k])) || t[k] == '.' || t[k] == '-' ||
                              t[k] == '+' || t[k] == '_'))
        ++k;
      const std::string_view word = t.substr(i, k - i);
      const std::string w = lower(word);
      a.text = std::string(word);
      if (word.empty()) fail(in, line.offset + i, "expected a PHP literal (a string, a number, true, false or null)");
      if (w == "true" || w == "false") {
        a.kind = Arg::kBool;
        a.truth = w == "true";
      } else if (w == "null") {
        a.kind = Arg::kNull;
      } else if (convert::all_digits(word) || (word.size() > 1 && word[0] == '-' && convert::all_digits(word.substr(1)))) {
        a.kind = Arg::kInt;
      } else if (word.find_first_not_of("0123456789.eE+-") == std::string_view::npos) {
        a.kind = Arg::kFloat;
      } else {
        fail(in, line.offset + i, quote(word) + " is not a PHP literal this converter reads (strings, integers, "
                                                "floats, true, false, null)");
      }
      i = k;
    }
    args.push_back(a);
    i = skip_blanks(t, i);
    if (i < t.size() && t[i] == ',') {
      ++i;
      continue;
    }
    if (i < t.size() && t[i] == ')') {
      ++i;
      return args;
    }
    if (i >= t.size()) fail(in, line.offset + i, "the addServer call is not closed with ')' on its line");
    fail(in, line.offset + i, "expected ',' or ')' in the addServer call");
  }
}

// An integer argument's value, or a failure naming `what`.
std::int64_t int_arg(std::string_view in, const Arg& a, const char* what) {
  if (a.kind != Arg::kInt) fail(in, a.offset, fmt::format("the {} must be an integer (got {})", what, quote(a.text)));
  const bool negative = a.text[0] == '-';
  const std::uint64_t v = convert::decimal_value(std::string_view(a.text).substr(negative ? 1 : 0));
  if (v > 1'000'000'000) fail(in, a.offset, fmt::format("the {} {} is out of range", what, a.text));
  return negative ? -static_cast<std::int64_t>(v) : static_cast<std::int64_t>(v);
}

// The value of an ini line: trimmed, unquoted; an unquoted value ends at ';' (a comment).
std::string ini_value(std::string_view in, const Line& line, std::size_t i) {
  const std::string_view t = line.text;
  i = skip_blanks(t, i);
  if (i < t.size() && (t[i] == '"' || t[i] == '\'')) {
    const std::size_t close = t.find(t[i], i + 1);
    if (close == std::string_view::npos) fail(in, line.offset + i, "this quoted value is not closed");
    const std::size_t after = skip_blanks(t, close + 1);
    if (after < t.size() && t[after] != ';') fail(in, line.offset + after, "unexpected text after the quoted value");
    return std::string(t.substr(i + 1, close - i - 1));
  }
  std::string_view v = t.substr(i);
  if (const auto semi = v.find(';'); semi != std::string_view::npos) v = v.substr(0, semi);
  while (!v.empty() && blank(v.back())) v.remove_suffix(1);
  return std::string(v);
}

bool ini_bool(const std::string& v) {
  const std::string l = lower(v);
  return l == "1" || l == "on" || l == "yes" || l == "true";
}

}  // namespace

RingSpec convert_php_memcache(std::string_view text) {
  RingSpec spec;
  spec.flavor = "php-memcache";
  std::vector<convert::ServerOrigin> origins;
  std::int64_t default_port = 11211;
  for (const Line& line : lines_of(text)) {
    const std::string_view t = line.text;
    std::size_t i = skip_blanks(t, 0);
    if (i == t.size() || t[i] == ';' || t[i] == '#' || t.substr(i, 2) == "//") continue;  // blank or comment
    if (t[i] == '[') continue;                                                               // an ini [section]
    {
      std::string_view rest = t.substr(i);
      while (!rest.empty() && blank(rest.back())) rest.remove_suffix(1);
      if (rest == "<?php" || rest == "?>") continue;  // PHP's open and close tags
    }    // a method call: [$name->]addServer(...)[;]
    std::size_t k = i;
    if (t[k] == '$') {
      ++k;
      while (k < t.size() && (std::isalnum(static_cast<unsigned char>(t[k])) || t[k] == '_')) ++k;
      // "$m = new Memcache;" (or "new Memcache()") makes the object the calls go to
      const std::size_t e = skip_blanks(t, k);
      if (e < t.size() && t[e] == '=') {
        std::string_view rest = t.substr(skip_blanks(t, e + 1));
        while (!rest.empty() && (blank(rest.back()) || rest.back() == ';')) rest.remove_suffix(1);
        if (rest == "new Memcache" || rest == "new Memcache()") continue;
        fail(text, line.offset + e, "expected \"= new Memcache;\" (the only statement besides addServer calls)");
      }
      if (t.substr(k, 2) != "->") fail(text, line.offset + k, "expected ->addServer( after the variable");
      k += 2;
    }
    if (t.substr(k, 10) == "addServer(") {
      std::size_t p = k + 10;
      const auto args = parse_args(text, line, p);
      p = skip_blanks(t, p);
      if (p < t.size() && t[p] == ';') p = skip_blanks(t, p + 1);
      if (p < t.size() && t.substr(p, 2) != "//" && t[p] != '#')
        fail(text, line.offset + p, "unexpected text after the addServer call");
      const std::size_t at = line.offset + i;
      if (args.empty() || args[0].kind != Arg::kString) fail(text, at, "addServer needs the host as its first argument, a string");
      if (args.size() > 8) fail(text, args[8].offset, "addServer takes at most 8 arguments");
      ServerSpec s;
      const std::string& host = args[0].text;
      if (host.find("://") != std::string::npos || host.rfind("unix:", 0) == 0)
        fail(text, args[0].offset, quote(host) + " is a URL or a unix socket; a spec has host:port servers only");
      if (const auto problem = convert::host_problem(host); !problem.empty()) fail(text, args[0].offset, quote(host) + ": " + problem);
      s.host = host;
      std::int64_t port = default_port;
      if (args.size() > 1 && args[1].kind != Arg::kNull) port = int_arg(text, args[1], "port");
      if (port < 1 || port > 65535)
        fail(text, args.size() > 1 ? args[1].offset : at,
             fmt::format("the port {} is not 1-65535 (pecl memcache checks 0-65635 and keeps 16 bits of it)", port));
      s.port_number = static_cast<std::uint16_t>(port);
      s.port = fmt::format("{}", port);
      if (args.size() > 3 && args[3].kind != Arg::kNull) {
        const auto w = int_arg(text, args[3], "weight");
        if (w < 1) fail(text, args[3].offset, "the weight must be >= 1 (pecl memcache does not add a server of weight < 1)");
        s.weight = static_cast<double>(w);
      }
      if (args.size() > 6 && args[6].kind == Arg::kBool && !args[6].truth)
        fail(text, args[6].offset, "status false adds the server as failed: a spec describes servers that are up");
      origins.push_back({convert::where(text, at), std::string(t.substr(i))});
      spec.servers.push_back(std::move(s));
      continue;
    }
    // an ini line: name = value
    std::size_t eq = t.find('=', i);
    if (eq == std::string_view::npos)
      fail(text, line.offset + i, "expected an ini setting (name = value) or an addServer(...) call");
    std::string_view name = t.substr(i, eq - i);
    while (!name.empty() && blank(name.back())) name.remove_suffix(1);
    const std::string value = ini_value(text, line, eq + 1);
    const std::size_t at = line.offset + i;
    const std::string n = lower(name);
    if (n.rfind("memcache.", 0) != 0) continue;  // another extension's setting (extension=..., session.*)
    if (n == "memcache.hash_strategy" || n == "memcache.hash_function") {
      if (!spec.servers.empty())
        fail(text, at, fmt::format("{} is read when the pool is created, at the first addServer: set it before the servers", name));
      const std::string v = lower(value);
      const bool strategy = n == "memcache.hash_strategy";
      if (strategy ? (v != "consistent" && v != "standard") : (v != "crc32" && v != "fnv"))
        fail(text, at, fmt::format("{} must be in set {{{}}} ('{}' given)", name, strategy ? "standard, consistent" : "crc32, fnv", value));
      spec.options[strategy ? "hash_strategy" : "hash_function"] = v;
    } else if (n == "memcache.default_port") {
      if (!convert::all_digits(value) || convert::decimal_value(value) < 1 || convert::decimal_value(value) > 65535)
        fail(text, at, fmt::format("memcache.default_port must be a port 1-65535 (got {})", quote(value)));
      default_port = static_cast<std::int64_t>(convert::decimal_value(value));
    } else if (n == "memcache.redundancy") {
      if (value != "1") fail(text, at, "memcache.redundancy other than 1 stores each key on several servers; a spec names one");
    } else if (n == "memcache.prefix_static_key") {
      if (!value.empty()) fail(text, at, "memcache.prefix_static_key puts a prefix into every hashed key, which the flavor does not model");
    } else if (n == "memcache.prefix_host_key") {
      if (ini_bool(value)) fail(text, at, "memcache.prefix_host_key puts the HTTP host into every hashed key, which the flavor does not model");
    } else if (n == "memcache.allow_failover" || n == "memcache.max_failover_attempts" || n == "memcache.chunk_size" ||
               n == "memcache.protocol" || n == "memcache.compress_threshold" || n == "memcache.lock_timeout" ||
               n == "memcache.prefix_host_key_remove_www" || n == "memcache.prefix_host_key_remove_subdomain" ||
               n.rfind("memcache.session_", 0) == 0) {
      // no effect on which server a healthy pool picks (failover only once a server fails; sessions
      // use their own pool)
    } else {
      fail(text, at, fmt::format("unknown setting {} (pecl memcache 4.0.5.2 has no such ini entry)", quote(name)));
    }
  }
  if (spec.servers.empty()) fail(text, text.size(), "no addServer call");
  convert::refuse_duplicates(spec, origins,
                             "pecl memcache would add it twice (two places on the ring for one server); a spec "
                             "lists a server once");
  convert::check_converted(spec, origins, origins.front().where);
  return spec;
}

}  // namespace samering
