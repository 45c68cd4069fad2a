// Parity with the real peers: every fixtures/vectors/*.json (made by fixtures/generate from the
// live Debian peers) is built from its "spec" and every case is checked through the C++ API
// (pick, pick_many) and the C API (selector_pick, selector_pick_many). One test per file.
//
// Vector file: {"peer": ..., "peer_version": ..., "spec": {...}, "cases": [["6b6579", 0], ...]}
// (cases = [key bytes as lowercase hex, expected server index]).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "samering/ring.hpp"
#include "samering/selector.h"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::size_t kMaxReported = 10;

// The *.json files of `dir`, sorted. Throws when the directory does not exist: a missing vector
// directory is a failure, never a skip.
std::vector<fs::path> vector_files(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw std::runtime_error("vector directory " + dir.string() + " does not exist");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

struct Case {
  std::string key;
  int expected;
};

struct VectorFile {
  std::string peer, peer_version;
  std::string spec;  // the "spec" object as JSON text
  std::vector<Case> cases;
};

// Reads and checks the shape of a vector file; throws std::runtime_error naming the problem.
VectorFile load_vector_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::stringstream text;
  text << in.rdbuf();
  json doc;
  try {
    doc = json::parse(text.str());
  } catch (const json::exception& e) {
    throw std::runtime_error(path.string() + ": not JSON: " + e.what());
  }
  const auto need = [&](const char* field, json::value_t type) -> const json& {
    if (!doc.is_object() || !doc.contains(field) || doc[field].type() != type)
      throw std::runtime_error(path.string() + ": missing or mistyped \"" + field + "\"");
    return doc[field];
  };
  VectorFile v;
  v.peer = need("peer", json::value_t::string).get<std::string>();
  v.peer_version = need("peer_version", json::value_t::string).get<std::string>();
  v.spec = need("spec", json::value_t::object).dump();
  const json& cases = need("cases", json::value_t::array);
  if (cases.empty()) throw std::runtime_error(path.string() + ": no cases");
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const json& c = cases[i];
    if (!c.is_array() || c.size() != 2 || !c[0].is_string() || !c[1].is_number_integer() || c[1].get<int>() < 0)
      throw std::runtime_error(path.string() + ": cases[" + std::to_string(i) + "] is not [\"hex\", index]");
    const auto hex = c[0].get<std::string>();
    if (hex.find_first_not_of("0123456789abcdef") != std::string::npos)
      throw std::runtime_error(path.string() + ": cases[" + std::to_string(i) + "]: key is not lowercase hex");
    try {
      v.cases.push_back({samering_test::unhex(hex), c[1].get<int>()});
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(path.string() + ": cases[" + std::to_string(i) + "]: " + e.what());
    }
  }
  return v;
}

struct Outcome {
  std::size_t cases = 0;
  std::size_t mismatches = 0;
  std::vector<std::string> reports;  // at most kMaxReported
};

// Checks every case of a vector file through both APIs. Setup errors (bad file, spec refused by
// either API) throw std::runtime_error with the file name.
Outcome check_vector_file(const fs::path& path) {
  const VectorFile v = load_vector_file(path);
  const std::string name = path.filename().string();
  Outcome out;
  out.cases = v.cases.size();

  samering::Ring ring = [&] {
    try {
      return samering::ring_from_json(v.spec);
    } catch (const std::exception& e) {
      throw std::runtime_error(name + ": the C++ API refuses the spec: " + e.what());
    }
  }();
  char err[512] = "";
  selector_t* sel = nullptr;
  const int rc = selector_new_from_json(v.spec.data(), v.spec.size(), &sel, err, sizeof err);
  if (rc != SAMERING_OK || !sel)
    throw std::runtime_error(name + ": the C API refuses the spec (" + std::to_string(rc) + "): " + err);
  std::unique_ptr<selector_t, decltype(&selector_free)> guard(sel, selector_free);
  if (selector_server_count(sel) != static_cast<int>(ring.size()))
    throw std::runtime_error(name + ": the C and C++ APIs disagree on the server count");

  std::vector<std::string_view> views;
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (const auto& c : v.cases) {
    views.emplace_back(c.key);
    ptrs.push_back(c.key.data());
    lens.push_back(c.key.size());
  }
  std::vector<std::int32_t> many_cpp(v.cases.size(), -100);
  ring.pick_many(views.data(), views.size(), many_cpp.data());
  std::vector<int> many_c(v.cases.size(), -100);
  std::vector<const char*> many_addresses(v.cases.size(), nullptr);
  std::uint64_t many_generation = 99;
  if (selector_pick_many(sel, ptrs.data(), lens.data(), lens.size(), many_c.data(), many_addresses.data(),
                         &many_generation) != SAMERING_OK || many_generation != 0)
    throw std::runtime_error(name + ": selector_pick_many failed");
  // The image the C handle hands out loads into a selector that picks the same.
  const void* image = nullptr;
  size_t image_len = 0;
  selector_t* reloaded = nullptr;
  if (selector_image(sel, &image, &image_len) != SAMERING_OK ||
      selector_new_from_image(image, image_len, &reloaded, err, sizeof err) != SAMERING_OK)
    throw std::runtime_error(name + ": selector_image does not load again: " + err);
  std::unique_ptr<selector_t, decltype(&selector_free)> reloaded_guard(reloaded, selector_free);

  for (std::size_t i = 0; i < v.cases.size(); ++i) {
    const Case& c = v.cases[i];
    const int cpp = ring.pick(c.key);
    const int cc = selector_pick(sel, c.key.data(), c.key.size());
    // selector_pick_server and pick_many's addresses: the peer's server, as written in the spec.
    const char* address = nullptr;
    std::uint64_t generation = 99;
    const int cs = selector_pick_server(sel, c.key.data(), c.key.size(), &generation, &address);
    const std::string_view expected_address =
        c.expected >= 0 && static_cast<std::size_t>(c.expected) < ring.size()
            ? ring.server(static_cast<std::size_t>(c.expected)).address
            : std::string_view();
    const bool addresses_ok = cs == c.expected && generation == 0 && address && address == expected_address &&
                              many_addresses[i] && many_addresses[i] == expected_address;
    const bool image_ok = selector_pick(reloaded, c.key.data(), c.key.size()) == c.expected;
    if (cpp == c.expected && cc == c.expected && many_cpp[i] == c.expected && many_c[i] == c.expected && addresses_ok &&
        image_ok)
      continue;
    if (++out.mismatches > kMaxReported) continue;
    std::ostringstream msg;
    msg << name << ": case " << i << " key " << samering_test::hex(c.key) << " (" << c.key.size()
        << " bytes): peer " << v.peer << " " << v.peer_version << " picked " << c.expected << ", C++ pick " << cpp
        << ", C++ pick_many " << many_cpp[i] << ", C selector_pick " << cc << ", C selector_pick_many " << many_c[i]
        << ", C selector_pick_server " << cs << (addresses_ok ? "" : " (wrong address or generation)")
        << (image_ok ? "" : ", the image's selector differs");
    if (c.expected >= 0 && static_cast<std::size_t>(c.expected) < ring.size() && cpp >= 0 &&
        static_cast<std::size_t>(cpp) < ring.size())
      msg << " (" << ring.server(static_cast<std::size_t>(c.expected)).address << " vs "
          << ring.server(static_cast<std::size_t>(cpp)).address << ")";
    out.reports.push_back(msg.str());
  }
  return out;
}

std::vector<std::string> vector_file_names() {
  std::vector<std::string> names;
  try {
    for (const auto& p : vector_files(SAMERING_VECTORS_DIR)) names.push_back(p.filename().string());
  } catch (const std::exception&) {
    // Reported by ParityVectors.DirectoryHasVectorFiles.
  }
  return names;
}

std::string test_name(const std::string& file) {
  std::string out;
  for (char c : file.substr(0, file.size() - 5)) out.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return out;
}

// "spec"."flavor" of a vector file without reading its (large) "cases": a SAX pass that stops
// as soon as the flavor is seen. "" if there is none.
std::string spec_flavor(const std::string& text) {
  struct Sax : nlohmann::json_sax<json> {
    int depth = 0;
    std::string top_key, last_key, flavor;
    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool string(string_t& v) override {
      if (depth == 2 && top_key == "spec" && last_key == "flavor") {
        flavor = v;
        return false;  // done: stop parsing
      }
      return true;
    }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override { return ++depth, true; }
    bool end_object() override { return --depth, true; }
    bool start_array(std::size_t) override { return ++depth, true; }
    bool end_array() override { return --depth, true; }
    bool key(string_t& k) override {
      if (depth == 1) top_key = k;
      last_key = k;
      return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
  } sax;
  json::sax_parse(text, &sax);
  return sax.flavor;
}

// ---- the real vectors ---------------------------------------------------------------------------

TEST(ParityVectors, DirectoryHasVectorFiles) {
  std::vector<fs::path> files;
  ASSERT_NO_THROW(files = vector_files(SAMERING_VECTORS_DIR)) << "fixtures/generate writes them";
  EXPECT_FALSE(files.empty()) << SAMERING_VECTORS_DIR
                              << " holds no *.json vector file: run fixtures/generate (parity cannot be shown)";
}

TEST(ParityVectors, EveryFlavorHasVectors) {
  // Each flavor of this build must be covered by at least one vector file from its peer.
  std::set<std::string> covered;
  for (const auto& name : vector_file_names()) {
    std::ifstream in(fs::path(SAMERING_VECTORS_DIR) / name, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    const std::string flavor = spec_flavor(text.str());
    if (!flavor.empty()) covered.insert(flavor);  // a bad file is reported by its own test
  }
  for (auto flavor : samering::flavor_names())
    EXPECT_TRUE(covered.count(std::string(flavor))) << "no vector file for flavor " << flavor;
}

class Parity : public ::testing::TestWithParam<std::string> {};

TEST_P(Parity, MatchesThePeer) {
  const fs::path path = fs::path(SAMERING_VECTORS_DIR) / GetParam();
  Outcome out;
  try {
    out = check_vector_file(path);
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  for (const auto& r : out.reports) ADD_FAILURE() << r;
  EXPECT_EQ(out.mismatches, 0u) << GetParam() << ": " << out.mismatches << " of " << out.cases
                                << " cases differ from the peer"
                                << (out.mismatches > kMaxReported ? " (first 10 shown)" : "");
  RecordProperty("cases", static_cast<int>(out.cases));
}

INSTANTIATE_TEST_SUITE_P(Vectors, Parity, ::testing::ValuesIn(vector_file_names()),
                         [](const auto& info) { return test_name(info.param); });
// With no vector file there is no instance; DirectoryHasVectorFiles fails instead.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Parity);

// ---- the checker itself (temporary files, not vectors: fixtures/ only holds the peers' files) --
//
// The expectations use one-server specs: every peer returns its only server without hashing
// (algorithms.md §12), so index 0 is right and index 1 is wrong whatever the key.

std::string one_server_file(const std::string& cases) {
  return R"({"peer": "test", "peer_version": "0", "debian_package": "-", "method": "-", "description": "-",
  "spec": {"flavor": "cmf", "options": {"ketama_points": 150}, "servers": [
    {"host": "127.0.2.1", "port": 11211, "weight": 2.5}]},
  "cases": [)" + cases + "]}\n";
}

TEST(ParityChecker, MissingDirectoryIsAnError) {
  samering_test::TempDir dir;
  EXPECT_THROW(vector_files(dir.path() / "nope"), std::runtime_error);
  EXPECT_TRUE(vector_files(dir.path()).empty());
  dir.write("b.json", "{}");
  dir.write("a.json", "{}");
  dir.write("notes.txt", "");
  const auto files = vector_files(dir.path());
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].filename(), "a.json");
  EXPECT_EQ(files[1].filename(), "b.json");
}

TEST(ParityChecker, AgreeingFilePasses) {
  samering_test::TempDir dir;
  const auto p = dir.write("ok.json", one_server_file(R"(["6b6579", 0], ["e697a5e69cac", 0], ["", 0], ["00ff", 0])"));
  const Outcome out = check_vector_file(p);
  EXPECT_EQ(out.cases, 4u);
  EXPECT_EQ(out.mismatches, 0u);
  EXPECT_TRUE(out.reports.empty());
}

TEST(ParityChecker, MismatchIsReportedWithFileKeyAndIndices) {
  samering_test::TempDir dir;
  const auto p = dir.write("bad.json", one_server_file(R"(["6b6579", 0], ["e697a5e69cac", 1])"));
  const Outcome out = check_vector_file(p);
  EXPECT_EQ(out.mismatches, 1u);
  ASSERT_EQ(out.reports.size(), 1u);
  EXPECT_THAT(out.reports[0], ::testing::HasSubstr("bad.json"));
  EXPECT_THAT(out.reports[0], ::testing::HasSubstr("key e697a5e69cac"));
  EXPECT_THAT(out.reports[0], ::testing::HasSubstr("picked 1, C++ pick 0"));
  EXPECT_THAT(out.reports[0], ::testing::HasSubstr("C selector_pick 0"));
}

TEST(ParityChecker, ReportsAreCapped) {
  samering_test::TempDir dir;
  std::string cases;
  for (int i = 0; i < 30; ++i) cases += (i ? ", " : "") + std::string(R"([")") + samering_test::hex(std::to_string(i)) + R"(", 1])";
  const Outcome out = check_vector_file(dir.write("many.json", one_server_file(cases)));
  EXPECT_EQ(out.mismatches, 30u);
  EXPECT_EQ(out.reports.size(), kMaxReported);
}

TEST(ParityChecker, SpecFlavorReadsOnlyTheSpec) {
  EXPECT_EQ(spec_flavor(one_server_file(R"(["00", 0])")), "cmf");
  EXPECT_EQ(spec_flavor(R"({"peer": "x", "flavor": "no", "spec": {"options": {"flavor": "no"}, "flavor": "gomemcache"}})"),
            "gomemcache");
  EXPECT_EQ(spec_flavor("not json"), "");
  EXPECT_EQ(spec_flavor(R"({"spec": {"servers": []}})"), "");
}

TEST(ParityChecker, MalformedFilesAreErrors) {
  samering_test::TempDir dir;
  const char* bad[] = {
      "not json",
      R"({"peer": "x", "peer_version": "0", "cases": [["00", 0]]})",                      // no spec
      R"({"peer": "x", "peer_version": "0", "spec": {"flavor": "cmf", "servers": [{"host": "h"}]}})",  // no cases
      R"({"peer": "x", "peer_version": "0", "spec": {"flavor": "cmf", "servers": [{"host": "h"}]}, "cases": []})",
      R"({"peer": "x", "peer_version": "0", "spec": {"flavor": "cmf", "servers": [{"host": "h"}]}, "cases": [["0g", 0]]})",
      R"({"peer": "x", "peer_version": "0", "spec": {"flavor": "cmf", "servers": [{"host": "h"}]}, "cases": [["000", 0]]})",
      R"({"peer": "x", "peer_version": "0", "spec": {"flavor": "cmf", "servers": [{"host": "h"}]}, "cases": [["AB", 0]]})",
      R"({"peer": "x", "peer_version": "0", "spec": {"flavor": "cmf", "servers": [{"host": "h"}]}, "cases": [["00", -1]]})",
      R"({"peer": "x", "peer_version": "0", "spec": {"flavor": "cmf", "servers": [{"host": "h"}]}, "cases": [["00"]]})",
      R"({"peer": "x", "peer_version": "0", "spec": {"flavor": "nope", "servers": [{"host": "h"}]}, "cases": [["00", 0]]})",
  };
  int i = 0;
  for (const char* text : bad) {
    const auto p = dir.write("bad" + std::to_string(i++) + ".json", text);
    try {
      check_vector_file(p);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const std::runtime_error& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr(p.filename().string())) << text;
    }
  }
}

}  // namespace
