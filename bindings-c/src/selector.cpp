// The C API over samering::Ring (samering/selector.h). Exceptions stop here: every entry point
// catches and turns them into codes.
#include "samering/selector.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <optional>
#include <string>

#include "samering/error.hpp"
#include "samering/ring.hpp"

struct selector {
  explicit selector(samering::Ring r) : ring(std::move(r)) {}
  samering::Ring ring;
  std::string flavor{ring.flavor()};
  std::string last_error;
};

namespace {

void write_error(char* errbuf, std::size_t errlen, const std::string& message) {
  if (!errbuf || errlen == 0) return;
  const std::size_t n = std::min(message.size(), errlen - 1);
  std::memcpy(errbuf, message.data(), n);
  errbuf[n] = '\0';
}

template <typename Make>
int make_selector(selector_t** out, char* errbuf, std::size_t errlen, Make make) {
  if (!out) {
    write_error(errbuf, errlen, "out must not be NULL");
    return SELECTOR_EINVAL;
  }
  *out = nullptr;
  write_error(errbuf, errlen, "");
  try {
    *out = new selector(make());
    return SELECTOR_OK;
  } catch (const samering::SpecError& e) {
    write_error(errbuf, errlen, e.what());
    return SELECTOR_ESPEC;
  } catch (const samering::ImageError& e) {
    write_error(errbuf, errlen, e.what());
    return SELECTOR_EIMAGE;
  } catch (const std::bad_alloc&) {
    write_error(errbuf, errlen, "out of memory");
    return SELECTOR_ENOMEM;
  } catch (const std::exception& e) {
    write_error(errbuf, errlen, e.what());
    return SELECTOR_EINTERNAL;
  } catch (...) {
    write_error(errbuf, errlen, "unknown error");
    return SELECTOR_EINTERNAL;
  }
}

bool read_file(const char* path, std::string& text) {
  std::FILE* f = std::fopen(path, "rb");
  if (!f) return false;
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  const bool ok = !std::ferror(f);
  const int saved = errno;
  std::fclose(f);
  errno = saved;
  return ok;
}

}  // namespace

extern "C" {

int selector_new_from_json(const char* json, size_t len, selector_t** out, char* errbuf, size_t errlen) {
  if (!json && len) {
    write_error(errbuf, errlen, "json must not be NULL");
    if (out) *out = nullptr;
    return SELECTOR_EINVAL;
  }
  return make_selector(out, errbuf, errlen,
                       [&] { return samering::ring_from_json(std::string_view(json ? json : "", len)); });
}

int selector_new_from_file(const char* path, selector_t** out, char* errbuf, size_t errlen) {
  if (out) *out = nullptr;
  if (!path) {
    write_error(errbuf, errlen, "path must not be NULL");
    return SELECTOR_EINVAL;
  }
  std::string text;
  if (!read_file(path, text)) {
    write_error(errbuf, errlen, std::string(path) + ": cannot read spec file: " + std::strerror(errno));
    return SELECTOR_EIO;
  }
  return make_selector(out, errbuf, errlen, [&] {
    try {
      return samering::ring_from_json(text);
    } catch (const samering::SpecError& e) {
      throw samering::SpecError(path, e.what());
    }
  });
}

int selector_new_from_image(const void* bytes, size_t len, selector_t** out, char* errbuf, size_t errlen) {
  if (!bytes && len) {
    write_error(errbuf, errlen, "bytes must not be NULL");
    if (out) *out = nullptr;
    return SELECTOR_EINVAL;
  }
  return make_selector(out, errbuf, errlen, [&] {
    return samering::Ring(samering::RingImage::from_bytes({static_cast<const std::byte*>(bytes), len}));
  });
}

int selector_pick(const selector_t* sel, const char* key, size_t len) {
  if (!sel || (!key && len)) return SELECTOR_EINVAL;
  const std::int32_t i = sel->ring.pick(key ? key : "", len);
  return i < 0 ? SELECTOR_EKEY : i;
}

int selector_pick_many(const selector_t* sel, const char* const* keys, const size_t* lens, size_t n, int* out) {
  if (!sel || (n && (!keys || !lens || !out))) return SELECTOR_EINVAL;
  for (size_t i = 0; i < n; ++i) out[i] = selector_pick(sel, keys[i], lens[i]);
  return SELECTOR_OK;
}

int selector_server_count(const selector_t* sel) {
  return sel ? static_cast<int>(sel->ring.size()) : SELECTOR_EINVAL;
}

const char* selector_server(const selector_t* sel, int i) {
  if (!sel || i < 0 || static_cast<std::size_t>(i) >= sel->ring.size()) return nullptr;
  return sel->ring.server(static_cast<std::size_t>(i)).address.data();  // NUL-terminated in the image
}

const char* selector_flavor(const selector_t* sel) { return sel ? sel->flavor.c_str() : nullptr; }

const char* selector_last_error(const selector_t* sel) { return sel ? sel->last_error.c_str() : ""; }

const char* selector_strerror(int code) {
  switch (code) {
    case SELECTOR_OK: return "success";
    case SELECTOR_EINVAL: return "invalid argument";
    case SELECTOR_ESPEC: return "invalid spec";
    case SELECTOR_EIO: return "cannot read the spec file";
    case SELECTOR_EKEY: return "key refused by the flavor";
    case SELECTOR_ENOMEM: return "out of memory";
    case SELECTOR_EIMAGE: return "invalid ring image";
    case SELECTOR_EINTERNAL: return "internal error";
    default: return code >= 0 ? "success" : "unknown error code";
  }
}

void selector_free(selector_t* sel) { delete sel; }

}  // extern "C"
