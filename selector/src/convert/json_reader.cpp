// Strict JSON with positions (json_reader.hpp).
#include "json_reader.hpp"

#include <set>

#include "convert_common.hpp"

namespace samering::convert {

const char* JsonValue::kind_name() const {
  switch (kind) {
    case Kind::Null: return "null";
    case Kind::Bool: return "a boolean";
    case Kind::Number: return "a number";
    case Kind::String: return "a string";
    case Kind::Array: return "an array";
    case Kind::Object: return "an object";
  }
  return "?";
}

namespace {

constexpr int kMaxDepth = 64;

class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  JsonValue document() {
    skip_space();
    JsonValue v = value(0);
    skip_space();
    if (pos_ != text_.size()) fail(text_, pos_, "unexpected " + what_is_here() + " after the JSON value");
    return v;
  }

 private:
  std::string what_is_here() const {
    if (pos_ >= text_.size()) return "end of the text";
    return "character " + quote(text_.substr(pos_, 1));
  }
  [[noreturn]] void expected(const std::string& what) const {
    fail(text_, pos_, "invalid JSON: expected " + what + ", found " + what_is_here());
  }
  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }
  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  JsonValue value(int depth) {
    JsonValue v;
    v.offset = pos_;
    if (pos_ >= text_.size()) expected("a value");
    const char c = text_[pos_];
    if (c == '{' || c == '[') {
      if (depth >= kMaxDepth) fail(text_, pos_, "JSON nested more than 64 deep");
      if (c == '{') object(v, depth + 1); else array(v, depth + 1);
    } else if (c == '"') {
      v.kind = JsonValue::Kind::String;
      v.text = string();
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind = JsonValue::Kind::Number;
      v.text = number();
    } else if (literal("true")) {
      v.kind = JsonValue::Kind::Bool;
      v.boolean = true;
    } else if (literal("false")) {
      v.kind = JsonValue::Kind::Bool;
    } else if (literal("null")) {
      v.kind = JsonValue::Kind::Null;
    } else {
      expected("a value");
    }
    return v;
  }

  void object(JsonValue& v, int depth) {
    v.kind = JsonValue::Kind::Object;
    ++pos_;
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      return;
    }
    std::set<std::string> keys;
    for (;;) {
      skip_space();
      if (pos_ >= text_.size() || text_[pos_] != '"') expected("a key in double quotes");
      const std::size_t key_at = pos_;
      std::string key = string();
      if (!keys.insert(key).second) fail(text_, key_at, "duplicate key " + quote(key));
      skip_space();
      if (pos_ >= text_.size() || text_[pos_] != ':') expected("':'");
      ++pos_;
      skip_space();
      JsonValue member = value(depth);
      v.members.push_back(JsonMember{std::move(key), std::move(member)});
      v.key_offsets.push_back(key_at);
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        return;
      }
      expected("',' or '}'");
    }
  }

  void array(JsonValue& v, int depth) {
    v.kind = JsonValue::Kind::Array;
    ++pos_;
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      return;
    }
    for (;;) {
      skip_space();
      v.items.push_back(value(depth));
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == ']') {
        ++pos_;
        return;
      }
      expected("',' or ']'");
    }
  }

  std::string number() {
    const std::size_t start = pos_;
    const auto digits = [&] {
      const std::size_t from = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ - from;
    };
    if (text_[pos_] == '-') ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '0') {
      ++pos_;
    } else if (digits() == 0) {
      expected("a digit");
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (digits() == 0) expected("a digit after '.'");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (digits() == 0) expected("a digit in the exponent");
    }
    return std::string(text_.substr(start, pos_ - start));
  }

  unsigned hex4() {
    unsigned v = 0;
    for (int i = 0; i < 4; ++i, ++pos_) {
      if (pos_ >= text_.size()) expected("4 hex digits after \\u");
      const char c = text_[pos_];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10);
      else expected("4 hex digits after \\u");
    }
    return v;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | cp >> 6);
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | cp >> 12);
      out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | cp >> 18);
      out += static_cast<char>(0x80 | (cp >> 12 & 0x3f));
      out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  std::string string() {
    ++pos_;  // the opening quote
    std::string out;
    for (;;) {
      if (pos_ >= text_.size()) fail(text_, pos_, "invalid JSON: the string is not closed");
      const auto c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) fail(text_, pos_, "invalid JSON: a control character in a string (write it as \\u00XX)");
      if (c == '\\') {
        const std::size_t esc = pos_++;
        if (pos_ >= text_.size()) expected("an escape");
        const char e = text_[pos_++];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            unsigned cp = hex4();
            if (cp >= 0xdc00 && cp <= 0xdfff) fail(text_, esc, "invalid JSON: a lone low surrogate \\u escape");
            if (cp >= 0xd800 && cp <= 0xdbff) {
              if (text_.substr(pos_, 2) != "\\u") fail(text_, esc, "invalid JSON: a high surrogate without its low half");
              pos_ += 2;
              const unsigned lo = hex4();
              if (lo < 0xdc00 || lo > 0xdfff) fail(text_, esc, "invalid JSON: a high surrogate without its low half");
              cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            append_utf8(out, cp);
            break;
          }
          default:
            fail(text_, esc, "invalid JSON: unknown escape " + quote(text_.substr(esc, 2)));
        }
        continue;
      }
      // A raw byte: it must start a valid UTF-8 sequence.
      const std::size_t n = utf8_sequence(text_, pos_);
      if (n == 0) fail(text_, pos_, "invalid JSON: the text is not valid UTF-8 here");
      out.append(text_.substr(pos_, n));
      pos_ += n;
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

JsonValue parse_json(std::string_view text) { return Reader(text).document(); }

}  // namespace samering::convert
