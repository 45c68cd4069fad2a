// convert_libmemcached: a libmemcached 1.1.4 configuration string or server list → flavor "libmemcached".
//
// Configuration strings (memcached(const char*, size_t)): the tokens of src/libmemcached/csl/scanner.l
// (flex: longest match, the earlier rule on a tie, case-insensitive) and the grammar of
// csl/parser.yy: statements separated by exactly one ' ' (tabs, CR and LF are skipped anywhere),
// `--SERVER=` HOSTNAME|IPADDRESS [:port] [/?weight]. The options that decide the mapping are replayed in
// order, as libmemcached applies them (hosts.cc server_add, behavior.cc): --DISTRIBUTION=consistent
// clears the weighted-ring flag, a server of weight > 1 added while the distribution is consistent
// sets it. Server lists (memcached_servers_parse, src/libmemcached/parse.cc): comma-separated
// "host[:port[:weight| weight]]", "[v6]:port", one white-space character after a comma skipped.
// docs/convert.md explains every mapping and refusal.
#include <algorithm>
#include <cstring>
#include <optional>

#include "convert_common.hpp"
#include "samering/convert.hpp"

namespace samering {
namespace {

using convert::fail;
using convert::quote;
using convert::ServerOrigin;

constexpr std::size_t kMaxHost = 1024;        // MEMCACHED_NI_MAXHOST - 1
constexpr std::uint32_t kMaxWeight = 1000000;  // the flavor's integer-weight limit
constexpr std::size_t kMaxNamespace = 127;    // MEMCACHED_MAX_NAMESPACE - 1

// ---- configuration strings: the scanner ---------------------------------------------------------

enum class Kind {
  End, Space, Equals, Comma, Number, Port, Weight, Comment, Option, Keyword, UnknownOption,
  Distribution, Hash, IpAddress, Word /* HOSTNAME or STRING: the parser knows which */, QuotedString, Unknown,
};

enum class Opt {
  Server, Socket, BinaryProtocol, BufferRequests, ConfigureFile, ConnectTimeout, Distribution,
  HashWithNamespace, Hash, IoBytesWatermark, IoKeyPrefetch, IoMsgWatermark, Noreply, NumberOfReplicas,
  PollTimeout, RandomizeReplicaRead, RcvTimeout, RemoveFailedServers, RetryTimeout, SndTimeout,
  SocketRecvSize, SocketSendSize, SortHosts, SupportCas, TcpKeepalive, TcpKeepidle, TcpNodelay, UseUdp,
  UserData, VerifyKey, PoolMin, PoolMax, Namespace, FetchVersion,
};

struct Word {
  std::string_view text;
  int id;
};

// scanner.l, in rule order (the order decides ties of equal length).
constexpr Word kOptions[] = {
    {"--SERVER=", int(Opt::Server)},
    {"--SOCKET=", int(Opt::Socket)},
    {"--BINARY-PROTOCOL", int(Opt::BinaryProtocol)},
    {"--BUFFER-REQUESTS", int(Opt::BufferRequests)},
    {"--CONFIGURE-FILE=", int(Opt::ConfigureFile)},
    {"--CONNECT-TIMEOUT=", int(Opt::ConnectTimeout)},
    {"--DISTRIBUTION=", int(Opt::Distribution)},
    {"--HASH-WITH-NAMESPACE", int(Opt::HashWithNamespace)},
    {"--HASH=", int(Opt::Hash)},
    {"--IO-BYTES-WATERMARK=", int(Opt::IoBytesWatermark)},
    {"--IO-KEY-PREFETCH=", int(Opt::IoKeyPrefetch)},
    {"--IO-MSG-WATERMARK=", int(Opt::IoMsgWatermark)},
    {"--NOREPLY", int(Opt::Noreply)},
    {"--NUMBER-OF-REPLICAS=", int(Opt::NumberOfReplicas)},
    {"--POLL-TIMEOUT=", int(Opt::PollTimeout)},
    {"--RANDOMIZE-REPLICA-READ", int(Opt::RandomizeReplicaRead)},
    {"--RCV-TIMEOUT=", int(Opt::RcvTimeout)},
    {"--REMOVE-FAILED-SERVERS=", int(Opt::RemoveFailedServers)},
    {"--RETRY-TIMEOUT=", int(Opt::RetryTimeout)},
    {"--SND-TIMEOUT=", int(Opt::SndTimeout)},
    {"--SOCKET-RECV-SIZE=", int(Opt::SocketRecvSize)},
    {"--SOCKET-SEND-SIZE=", int(Opt::SocketSendSize)},
    {"--SORT-HOSTS", int(Opt::SortHosts)},
    {"--SUPPORT-CAS", int(Opt::SupportCas)},
    {"--TCP-KEEPALIVE", int(Opt::TcpKeepalive)},
    {"--TCP-KEEPIDLE", int(Opt::TcpKeepidle)},
    {"--TCP-NODELAY", int(Opt::TcpNodelay)},
    {"--USE-UDP", int(Opt::UseUdp)},
    {"--USER-DATA", int(Opt::UserData)},
    {"--VERIFY-KEY", int(Opt::VerifyKey)},
    {"--POOL-MIN=", int(Opt::PoolMin)},
    {"--POOL-MAX=", int(Opt::PoolMax)},
    {"--NAMESPACE=", int(Opt::Namespace)},
    {"--FETCH-VERSION", int(Opt::FetchVersion)},
};

enum class Key { Include, Reset, Debug, Servers, End, CslError, True, False };
constexpr Word kKeywords[] = {
    {"INCLUDE", int(Key::Include)}, {"RESET", int(Key::Reset)},        {"DEBUG", int(Key::Debug)},
    {"SERVERS", int(Key::Servers)}, {"END", int(Key::End)},            {"CSL_ERROR", int(Key::CslError)},
    {"TRUE", int(Key::True)},       {"FALSE", int(Key::False)},
};

enum class Dist { Consistent, Modula, Random };
constexpr Word kDistributions[] = {
    {"CONSISTENT", int(Dist::Consistent)}, {"MODULA", int(Dist::Modula)}, {"RANDOM", int(Dist::Random)}};

// The csl hash words and the libmemcached flavor's name for each ("" = not built into Debian's
// libmemcached: setting it fails).
struct HashWord {
  std::string_view text;
  std::string_view flavor_name;
};
constexpr HashWord kHashes[] = {
    {"MD5", "md5"},           {"CRC", "crc"},           {"FNV1_64", "fnv1_64"}, {"FNV1A_64", "fnv1a_64"},
    {"FNV1_32", "fnv1_32"},   {"FNV1A_32", "fnv1a_32"}, {"HSIEH", ""},          {"MURMUR", "murmur"},
    {"JENKINS", "jenkins"},
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

struct Token {
  Kind kind = Kind::End;
  std::size_t offset = 0;
  std::string_view text;
  int id = -1;  // index into the table of its kind
};

class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  Token next() {
    while (pos_ < text_.size() && (text_[pos_] == '\t' || text_[pos_] == '\r' || text_[pos_] == '\n')) ++pos_;
    Token t;
    t.offset = pos_;
    if (pos_ == text_.size()) return t;
    std::size_t best = 0, consumed = 0;
    // `length` competes (flex counts trailing context), `take` is what the token consumes.
    const auto consider = [&](std::size_t length, Kind kind, int id = -1, std::size_t take = 0) {
      if (length > best) {
        best = length;
        consumed = take ? take : length;
        t.kind = kind;
        t.id = id;
      }
    };
    const char c = text_[pos_];
    if (c == '=') consider(1, Kind::Equals);
    if (c == ',') consider(1, Kind::Comma);
    if (c == ' ') consider(1, Kind::Space);
    consider(digits_at(pos_), Kind::Number);
    if (c == ':')
      if (const auto d = std::min<std::size_t>(digits_at(pos_ + 1), 5)) consider(1 + d, Kind::Port);
    if (c == '/' && at(pos_ + 1) == '?')
      if (const auto d = std::min<std::size_t>(digits_at(pos_ + 2), 5)) consider(2 + d, Kind::Weight);
    if (c == '#' && (pos_ == 0 || text_[pos_ - 1] == '\n')) {  // ^#.*$ : only before a line feed
      const auto nl = text_.find('\n', pos_);
      if (nl != std::string_view::npos) consider(nl - pos_ + 1, Kind::Comment, -1, nl - pos_);
    }
    for (std::size_t i = 0; i < std::size(kOptions); ++i)
      if (word_at(kOptions[i].text)) consider(kOptions[i].text.size(), Kind::Option, kOptions[i].id);
    for (std::size_t i = 0; i < std::size(kKeywords); ++i)
      if (word_at(kKeywords[i].text)) consider(kKeywords[i].text.size(), Kind::Keyword, kKeywords[i].id);
    if (c == '-' && at(pos_ + 1) == '-') {
      std::size_t n = 2;
      while (is_alnum(at(pos_ + n))) ++n;
      consider(n, Kind::UnknownOption);
    }
    for (std::size_t i = 0; i < std::size(kDistributions); ++i)
      if (word_at(kDistributions[i].text)) consider(kDistributions[i].text.size(), Kind::Distribution, kDistributions[i].id);
    for (std::size_t i = 0; i < std::size(kHashes); ++i)
      if (word_at(kHashes[i].text)) consider(kHashes[i].text.size(), Kind::Hash, static_cast<int>(i));
    consider(ipv4_at(), Kind::IpAddress);
    consider(word_length(), Kind::Word);
    consider(quoted_length(), Kind::QuotedString);
    consider(1, Kind::Unknown);  // `.`: any byte but '\n', which was skipped above
    t.text = text_.substr(pos_, consumed);
    pos_ += consumed;
    return t;
  }

  Token peek() {
    const std::size_t saved = pos_;
    Token t = next();
    pos_ = saved;
    return t;
  }

 private:
  char at(std::size_t i) const { return i < text_.size() ? text_[i] : '\0'; }
  std::size_t digits_at(std::size_t i) const {
    std::size_t n = 0;
    while (i + n < text_.size() && is_digit(text_[i + n])) ++n;
    return n;
  }
  bool word_at(std::string_view w) const {  // case-insensitive (%option case-insensitive)
    if (text_.size() - pos_ < w.size()) return false;
    for (std::size_t i = 0; i < w.size(); ++i)
      if (upper(text_[pos_ + i]) != w[i]) return false;
    return true;
  }
  // (([[:digit:]]{1,3}"."){3}([[:digit:]]{1,3}))
  std::size_t ipv4_at() const {
    std::size_t i = pos_;
    for (int group = 0; group < 4; ++group) {
      const std::size_t d = digits_at(i);
      if (d == 0) return 0;
      if (group < 3) {
        if (d > 3 || at(i + d) != '.') return 0;
        i += d + 1;
      } else {
        i += std::min<std::size_t>(d, 3);
      }
    }
    return i - pos_;
  }
  // [[:alnum:]]["."[:alnum:]_-]+[[:alnum:]] — in a flex class '"' is a literal character too.
  std::size_t word_length() const {
    if (!is_alnum(at(pos_))) return 0;
    std::size_t i = pos_ + 1, last_alnum = 0;
    for (; i < text_.size(); ++i) {
      const char c = text_[i];
      if (!(is_alnum(c) || c == '.' || c == '"' || c == '_' || c == '-')) break;
      if (is_alnum(c)) last_alnum = i;
    }
    return last_alnum >= pos_ + 2 ? last_alnum - pos_ + 1 : 0;
  }
  // L?\"(\\.|[^\\"])*\"
  std::size_t quoted_length() const {
    std::size_t i = pos_;
    if (upper(at(i)) == 'L') ++i;
    if (at(i) != '"' || i >= text_.size()) return 0;
    for (++i; i < text_.size(); ++i) {
      if (text_[i] == '"') return i + 1 - pos_;
      if (text_[i] == '\\') {
        if (i + 1 >= text_.size() || text_[i + 1] == '\n') return 0;
        ++i;
      }
    }
    return 0;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

std::string describe(const Token& t) {
  switch (t.kind) {
    case Kind::End: return "the end of the text";
    case Kind::Space: return "a space";
    default: return quote(t.text);
  }
}

// ---- configuration strings: the grammar and what each statement does --------------------------

struct Server {
  std::string host;
  std::uint16_t port;
  std::uint32_t weight;
  ServerOrigin origin;
};

class ConfigString {
 public:
  explicit ConfigString(std::string_view text) : text_(text), scan_(text) {}

  RingSpec convert() {
    Token t = scan_.next();
    if (t.kind == Kind::End) fail(text_, 0, "the configuration is empty");
    for (;;) {
      if (statement(t)) break;  // END: libmemcached stops reading here
      t = scan_.next();
      if (t.kind == Kind::End) break;
      if (t.kind != Kind::Space)
        fail(text_, t.offset, "expected a space before the next option, found " + describe(t) +
                                  " (libmemcached separates options with exactly one space)");
      const std::size_t space = t.offset;
      t = scan_.next();
      if (t.kind == Kind::Space)
        fail(text_, t.offset, "two spaces in a row: libmemcached allows exactly one space between options");
      if (t.kind == Kind::End)
        fail(text_, space, "a space at the end: libmemcached allows no space after the last option");
    }
    return finish();
  }

 private:
  [[noreturn]] void syntax(const Token& t, const std::string& expected) {
    fail(text_, t.offset, "expected " + expected + ", found " + describe(t) + " (libmemcached's configuration grammar)");
  }

  // One statement starting at `t`; true for END.
  bool statement(const Token& t) {
    switch (t.kind) {
      case Kind::Comment: return false;
      case Kind::Keyword: return keyword(t);
      case Kind::Option: option(t); return false;
      case Kind::UnknownOption:
        fail(text_, t.offset, "unknown option " + quote(t.text) + " (libmemcached 1.1.4 does not have it)");
      default:
        syntax(t, "an option such as --SERVER=host:11211");
    }
  }

  bool keyword(const Token& t) {
    switch (static_cast<Key>(t.id)) {
      case Key::End: return true;
      case Key::Debug: return false;
      case Key::Reset:
        fail(text_, t.offset, "RESET clears the handle while parsing; samering convert does not replay it: convert "
                              "the options that follow it");
      case Key::Include:
        fail(text_, t.offset, "INCLUDE reads another file at run time; convert that file's options instead");
      case Key::CslError:
        fail(text_, t.offset, "CSL_ERROR: libmemcached stops with an error here");
      default:
        syntax(t, "an option such as --SERVER=host:11211");
    }
  }

  Token expect_string(const Token& option) {
    const Token s = scan_.next();
    if (s.kind != Kind::Word && s.kind != Kind::QuotedString)
      syntax(s, "a value after " + std::string(option.text) + " (a word of 3 or more characters or a \"quoted string\")");
    return s;
  }

  void option(const Token& t) {
    const auto opt = static_cast<Opt>(t.id);
    switch (opt) {
      case Opt::Server: server(); return;
      case Opt::Socket:
        fail(text_, t.offset, "--SOCKET= is a unix socket; a spec has host:port servers only");
      case Opt::ConfigureFile:
        fail(text_, t.offset, "--CONFIGURE-FILE= makes libmemcached read another file; convert that file instead");
      case Opt::Namespace: {
        const Token s = expect_string(t);
        if (namespace_offset_) fail(text_, t.offset, "--NAMESPACE can only be called once (libmemcached)");
        std::string_view ns = s.text;
        if (s.kind == Kind::QuotedString) ns = s.text.substr(1, s.text.size() - 2);  // yytext+1, yyleng-2
        if (ns.empty()) fail(text_, s.offset, "the namespace is empty (libmemcached refuses it)");
        for (char c : ns)
          if (!(static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f))
            fail(text_, s.offset, "the namespace " + quote(ns) + " has a character libmemcached refuses in keys");
        if (ns.size() > kMaxNamespace) fail(text_, s.offset, "the namespace is longer than 127 bytes (libmemcached)");
        namespace_offset_ = t.offset;
        return;
      }
      case Opt::Distribution: {
        const Token d = scan_.next();
        if (d.kind != Kind::Distribution) syntax(d, "consistent, modula or random after --DISTRIBUTION=");
        if (scan_.peek().kind == Kind::Comma) {
          scan_.next();
          const Token h = scan_.next();
          if (h.kind != Kind::Hash) syntax(h, "a hash name after the ','");
          if (kHashes[h.id].flavor_name.empty())
            fail(text_, h.offset, "hsieh is not built into Debian's libmemcached 1.1.4: it refuses this configuration");
          // The distribution hash (KETAMA_HASH) is set but never read by update_continuum in 1.1.4.
        }
        distribution_ = static_cast<Dist>(d.id);
        distribution_offset_ = t.offset;
        // behavior.cc memcached_behavior_set_distribution: CONSISTENT clears the weighted flag;
        // MODULA and RANDOM leave it. Then run_distribution rebuilds the ring.
        if (distribution_ == Dist::Consistent) weighted_ = false;
        rebuilt();
        return;
      }
      case Opt::Hash: {
        const Token h = scan_.next();
        if (h.kind != Kind::Hash) syntax(h, "a hash name after --HASH= (md5, crc, fnv1_64, fnv1a_64, fnv1_32, fnv1a_32, murmur, jenkins)");
        if (hash_) fail(text_, t.offset, "--HASH can only be set once (libmemcached)");
        if (kHashes[h.id].flavor_name.empty())
          fail(text_, h.offset, "hsieh is not built into Debian's libmemcached 1.1.4: it refuses this configuration");
        // behavior.cc memcached_behavior_set_key_hash changes the key hash only: the ring is not
        // rebuilt, so an unweighted ring built before keeps points hashed with the previous hash.
        hash_ = std::string(kHashes[h.id].flavor_name);
        return;
      }
      case Opt::PoolMin:
      case Opt::PoolMax:
      case Opt::ConnectTimeout:
      case Opt::IoBytesWatermark:
      case Opt::IoKeyPrefetch:
      case Opt::IoMsgWatermark:
      case Opt::NumberOfReplicas:
      case Opt::PollTimeout:
      case Opt::RcvTimeout:
      case Opt::RemoveFailedServers:
      case Opt::RetryTimeout:
      case Opt::SndTimeout:
      case Opt::SocketRecvSize:
      case Opt::SocketSendSize: {
        const Token n = scan_.next();
        if (n.kind != Kind::Number) syntax(n, "a number after " + std::string(t.text));
        if (opt == Opt::NumberOfReplicas) {
          replicas_ = n.text.find_first_not_of('0') != std::string_view::npos;
          replicas_offset_ = t.offset;
        }
        return;
      }
      case Opt::BinaryProtocol: binary_ = true; return;
      case Opt::VerifyKey:
        // behavior.cc: VERIFY_KEY is refused once the binary protocol is on.
        if (binary_) fail(text_, t.offset, "libmemcached refuses --VERIFY-KEY after --BINARY-PROTOCOL");
        return;
      case Opt::SortHosts:
        sort_hosts_ = true;
        rebuilt();  // behavior.cc: SORT_HOSTS runs run_distribution
        return;
      case Opt::HashWithNamespace: hash_with_namespace_offset_ = t.offset; return;
      case Opt::RandomizeReplicaRead: randomize_offset_ = t.offset; return;
      case Opt::BufferRequests:
      case Opt::Noreply:
      case Opt::SupportCas:
      case Opt::TcpKeepalive:
      case Opt::TcpKeepidle:
      case Opt::TcpNodelay:
      case Opt::UseUdp:
      case Opt::UserData:
      case Opt::FetchVersion: return;  // nothing to do with which server a key goes to
    }
  }

  void server() {
    const Token h = scan_.next();
    if (h.kind != Kind::Word && h.kind != Kind::IpAddress)
      syntax(h, "a host name of 3 or more characters (letters, digits, '.', '_', '-') or an IPv4 address "
                "after --SERVER=");
    std::optional<Token> port, weight;
    if (scan_.peek().kind == Kind::Port) port = scan_.next();
    if (scan_.peek().kind == Kind::Weight) weight = scan_.next();
    const Token& last = weight ? *weight : port ? *port : h;
    Server s;
    s.host = std::string(h.text);
    s.origin = {convert::where(text_, h.offset),
                std::string(text_.substr(h.offset, last.offset + last.text.size() - h.offset))};
    if (s.host.size() > kMaxHost) fail(text_, h.offset, "the host is longer than 1024 bytes (libmemcached refuses it)");
    // PORT is ":" and 1-5 digits, atoi'd into an in_port_t; 0 means 11211 (memcached_server_add_with_weight).
    unsigned long p = port ? std::stoul(std::string(port->text.substr(1))) : 11211;
    if (p == 0) p = 11211;
    if (p > 65535)
      fail(text_, port->offset, "the port " + std::string(port->text.substr(1)) + " is more than 65535 (libmemcached "
                                "would silently use " + std::to_string(p % 65536) + ")");
    s.port = static_cast<std::uint16_t>(p);
    // WEIGHT_START is "/?" and 1-5 digits; a weight of 0 is stored as 1 (instance.cc _server_init).
    const std::uint32_t w = weight ? static_cast<std::uint32_t>(std::stoul(std::string(weight->text.substr(2)))) : 1;
    s.weight = w == 0 ? 1 : w;
    // hosts.cc server_add: weight > 1 while the distribution is consistent turns the weighted ring on.
    if (w > 1 && distribution_ == Dist::Consistent) weighted_ = true;
    servers_.push_back(std::move(s));
    rebuilt();
  }

  // run_distribution: with a consistent distribution and at least one server, update_continuum
  // rebuilds the ring; an unweighted ring hashes its point names with the key hash of that moment.
  void rebuilt() {
    if (distribution_ == Dist::Consistent && !servers_.empty()) point_hash_ = hash_.value_or("default");
  }

  RingSpec finish() {
    if (servers_.empty()) fail(text_, text_.size(), "no --SERVER= option: libmemcached would have no server");
    const std::string fallback = convert::where(text_, distribution_offset_.value_or(0));
    if (distribution_ == Dist::Random)
      fail(text_, *distribution_offset_,
           "--DISTRIBUTION=random picks a random server for each key: no spec can match it");
    if (hash_with_namespace_offset_ && namespace_offset_)
      fail(text_, std::max(*hash_with_namespace_offset_, *namespace_offset_),
           "--HASH-WITH-NAMESPACE with --NAMESPACE= hashes the namespace with each key; the libmemcached flavor "
           "does not model that, so this configuration cannot be converted");
    if (randomize_offset_ && replicas_)
      fail(text_, *randomize_offset_,
           "--RANDOMIZE-REPLICA-READ with replicas reads each key from a random replica: no spec can match it");

    RingSpec spec;
    spec.flavor = "libmemcached";
    std::vector<ServerOrigin> origins;
    for (const auto& s : servers_) {
      ServerSpec out;
      out.host = s.host;
      out.port_number = s.port;
      out.port = std::to_string(s.port);  // libmemcached hashes the number, never the text
      out.weight = s.weight;
      spec.servers.push_back(std::move(out));
      origins.push_back(s.origin);
    }
    convert::refuse_duplicates(spec, origins,
                               "libmemcached keeps both copies (each with its own ring points or modula slot), "
                               "which a spec cannot express");
    if (sort_hosts_) {
      // hosts.cc run_distribution → sort_hosts: qsort by strcmp(hostname), then port. No two
      // servers compare equal (duplicates were refused), so the order is fully determined.
      std::vector<std::size_t> order(spec.servers.size());
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        const int c = std::strcmp(spec.servers[a].host.c_str(), spec.servers[b].host.c_str());
        return c != 0 ? c < 0 : spec.servers[a].port_number < spec.servers[b].port_number;
      });
      RingSpec sorted = spec;
      std::vector<ServerOrigin> sorted_origins;
      for (std::size_t i = 0; i < order.size(); ++i) {
        sorted.servers[i] = spec.servers[order[i]];
        sorted_origins.push_back(origins[order[i]]);
      }
      spec = std::move(sorted);
      origins = std::move(sorted_origins);
    }
    const bool consistent = distribution_ == Dist::Consistent;
    spec.options["distribution"] = std::string(consistent ? "consistent" : "modula");
    if (hash_) spec.options["hash"] = *hash_;
    // The flavor (behaviors first) builds the weighted ring when a weight is > 1, and hashes the
    // points of the unweighted ring with `hash`; with servers_first it builds the unweighted ring,
    // weights ignored, its points hashed with the default hash (the hash is set after the ring is
    // built). The replay above says which ring libmemcached has (docs/convert.md "libmemcached").
    const bool heavy = std::any_of(servers_.begin(), servers_.end(), [](const Server& s) { return s.weight > 1; });
    if (consistent && !weighted_) {
      const std::string key_hash = hash_.value_or("default");
      if (point_hash_ == "default") {
        if (heavy || key_hash != "default") spec.options["servers_first"] = true;
      } else if (heavy) {
        // Points hashed with the key hash and weights libmemcached ignores: weight 1 says the same.
        for (auto& s : spec.servers) s.weight = 1;
      }
    }
    convert::check_converted(spec, origins, fallback);
    return spec;
  }

  std::string_view text_;
  Scanner scan_;
  std::vector<Server> servers_;
  Dist distribution_ = Dist::Modula;  // memcached_create's default
  std::optional<std::size_t> distribution_offset_;
  bool weighted_ = false;
  std::optional<std::string> hash_;
  std::string point_hash_ = "default";  // the key hash when the ring was last built
  bool sort_hosts_ = false;
  bool binary_ = false;
  bool replicas_ = false;
  std::optional<std::size_t> replicas_offset_, namespace_offset_, hash_with_namespace_offset_, randomize_offset_;
};

// ---- server lists (memcached_servers_parse) ----------------------------------------------------

bool c_isspace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

RingSpec convert_server_list(std::string_view text) {
  // A file's final line break is not part of the list.
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  if (text.empty()) fail(text, 0, "the server list is empty");
  RingSpec spec;
  spec.flavor = "libmemcached";
  std::vector<ServerOrigin> origins;
  std::size_t begin = 0;
  while (begin != text.size()) {
    const std::size_t comma = text.find(',', begin);
    const std::size_t end = comma == std::string_view::npos ? text.size() : comma;
    const std::size_t at = begin;
    const std::string_view item = text.substr(at, end - at);
    begin = comma == std::string_view::npos ? text.size() : comma + 1;
    if (begin < text.size() && c_isspace(text[begin])) ++begin;  // one white-space character, no more

    if (item.empty()) fail(text, at, "an empty server (two commas in a row?)");
    // "[v6]:port" splits at the first ':' after ']', anything else at the first ':'.
    const std::size_t lb = item.find('['), rb = lb == std::string_view::npos ? lb : item.find(']', lb + 1);
    const std::size_t colon = rb != std::string_view::npos ? item.find(':', rb + 1) : item.find(':');
    ServerSpec s;
    s.host = std::string(item.substr(0, colon));
    std::uint32_t weight = 0;
    unsigned long port = 0;
    if (colon != std::string_view::npos) {
      // libmemcached reads the port with strtoul, then the weight after the first ' ' of the rest,
      // or else after its first ':'. Only the unambiguous forms are accepted here.
      const std::string_view rest = item.substr(colon + 1);
      const std::size_t sep = rest.find_first_of(" :");
      const std::string_view port_text = rest.substr(0, sep);
      const std::string_view weight_text = sep == std::string_view::npos ? std::string_view{} : rest.substr(sep + 1);
      const std::size_t port_at = at + colon + 1;
      if (!convert::all_digits(port_text) || (sep != std::string_view::npos && !convert::all_digits(weight_text)))
        fail(text, port_at, "expected port, port:weight or \"port weight\" after the ':' (digits only), found " +
                                quote(rest) + "; libmemcached would read it with strtoul and guess");
      if (convert::decimal_value(port_text) > 65535)
        fail(text, port_at, "the port " + std::string(port_text) + " is more than 65535 (libmemcached would truncate it)");
      port = static_cast<unsigned long>(convert::decimal_value(port_text));
      if (!weight_text.empty()) {
        if (convert::decimal_value(weight_text) > kMaxWeight)
          fail(text, port_at + sep + 1, "the weight " + std::string(weight_text) + " is more than the 1000000 samering accepts");
        weight = static_cast<std::uint32_t>(convert::decimal_value(weight_text));
      }
    }
    if (!s.host.empty() && s.host[0] == '/')
      fail(text, at, quote(s.host) + " is a unix socket; a spec has host:port servers only");
    if (const auto problem = convert::host_problem(s.host); !problem.empty())
      fail(text, at, problem + (s.host.find(' ') != std::string::npos
                                    ? " (libmemcached skips one white-space character after a comma, no more)"
                                    : ""));
    // server_list.cc memcached_server_list_append_with_weight: port 0 → 11211; server.cc: weight 0 → 1.
    s.port_number = static_cast<std::uint16_t>(port == 0 ? 11211 : port);
    s.port = std::to_string(s.port_number);
    s.weight = weight == 0 ? 1 : weight;
    spec.servers.push_back(std::move(s));
    origins.push_back({convert::where(text, at), std::string(item)});
  }
  convert::refuse_duplicates(spec, origins,
                             "libmemcached keeps both copies (each with its own modula slot), which a spec cannot "
                             "express");
  // memcached_server_push on a new handle: MODULA and the default hash. (push also sets the
  // weighted-ring flag for a weight > 1, but only a consistent distribution reads it.)
  spec.options["distribution"] = std::string("modula");
  convert::check_converted(spec, origins, convert::where(text, 0));
  return spec;
}

// A configuration string starts (after tabs and line breaks, which its scanner skips, or spaces,
// which it refuses) with "--", a comment, or one of its keywords.
bool is_config_string(std::string_view text) {
  const std::size_t i = text.find_first_not_of(" \t\r\n");
  if (i == std::string_view::npos) return false;
  const std::string_view rest = text.substr(i);
  if (rest.substr(0, 2) == "--" || rest[0] == '#') return true;
  for (const auto& k : kKeywords) {
    if (rest.size() < k.text.size()) continue;
    bool same = true;
    for (std::size_t j = 0; j < k.text.size() && same; ++j) same = upper(rest[j]) == k.text[j];
    if (same && (rest.size() == k.text.size() || std::string_view(" \t\r\n").find(rest[k.text.size()]) !=
                                                     std::string_view::npos))
      return true;
  }
  return false;
}

}  // namespace

RingSpec convert_libmemcached(std::string_view text) {
  if (is_config_string(text)) return ConfigString(text).convert();
  return convert_server_list(text);
}

}  // namespace samering
