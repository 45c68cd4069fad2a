// Parity through the broker: one broker serves every fixtures/vectors/*.json spec as a ring
// named after the file, and every case is checked through the C++ client (PICK, pipelined PICK,
// PICK_MANY), the C API (selector_new_from_broker: selector_pick, selector_pick_many) and the
// shm reader (selector_new_from_shm). Expected indices come from the vector files only.
#include <gtest/gtest.h>

#include <algorithm>

#include "broker_support.hpp"
#include "samering/selector.h"

namespace {

using namespace broker_test;
using nlohmann::json;

struct Vector {
  std::string name;  // ring name = file stem
  fs::path file;
  std::string spec;
  std::vector<std::string> keys;
  std::vector<int> expected;
};

// The vector files, sorted (cheap: test registration needs only their names).
const std::vector<fs::path>& vector_files() {
  static const std::vector<fs::path> files = [] {
    std::vector<fs::path> out;
    const fs::path dir = SAMERING_VECTORS_DIR;
    if (fs::is_directory(dir))
      for (const auto& e : fs::directory_iterator(dir))
        if (e.is_regular_file() && e.path().extension() == ".json") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
  }();
  return files;
}

Vector load_vector(const fs::path& file) {
  const json doc = json::parse(read_text(file));
  Vector v;
  v.name = file.stem().string();
  v.file = file;
  v.spec = doc.at("spec").dump();
  for (const auto& c : doc.at("cases")) {
    v.keys.push_back(samering_test::unhex(c.at(0).get<std::string>()));
    v.expected.push_back(c.at(1).get<int>());
  }
  return v;
}

// Every vector, parsed on first use (only AllRingsInOneBroker needs them all).
const std::vector<Vector>& vectors() {
  static const std::vector<Vector> all = [] {
    std::vector<Vector> out;
    for (const auto& f : vector_files()) out.push_back(load_vector(f));
    return out;
  }();
  return all;
}

// A broker serving the given vectors as rings named after their files, with a shm dir.
struct ParityBroker {
  samering_test::TempDir dir;
  std::string socket, shm;
  std::unique_ptr<BrokerProcess> process;
  explicit ParityBroker(const std::vector<const Vector*>& rings) {
    socket = (dir.path() / "parity.sock").string();
    shm = (dir.path() / "shm").string();
    std::vector<std::string> args{"--socket", socket, "--shm-dir", shm, "--quiet", "--no-watch"};
    for (const Vector* v : rings) {
      const auto spec = dir.write(v->name + ".json", v->spec);
      args.push_back("--ring");
      args.push_back(v->name + "=" + spec.string());
    }
    process = std::make_unique<BrokerProcess>(args, dir.path() / "broker.log");
    if (!process->wait_ready(10000ms)) throw std::runtime_error("parity broker did not start:\n" + process->log());
  }
};

// ctest runs each test in its own process: each gets a broker for its own vector file.
class BrokerParity : public ::testing::TestWithParam<std::size_t> {
 protected:
  void SetUp() override {
    vector = load_vector(vector_files()[GetParam()]);
    broker = std::make_unique<ParityBroker>(std::vector<const Vector*>{&vector});
  }
  Vector vector;
  std::unique_ptr<ParityBroker> broker;
  ParityBroker& shared() { return *broker; }
};

TEST(BrokerParityVectors, DirectoryHasVectorFiles) { ASSERT_GE(vector_files().size(), 1u) << SAMERING_VECTORS_DIR; }

// Every vector file as one ring of a single broker: the rings do not disturb each other.
TEST(BrokerParityVectors, AllRingsInOneBroker) {
  std::vector<const Vector*> all;
  for (const auto& v : vectors()) all.push_back(&v);
  ParityBroker b(all);
  for (const auto& v : vectors()) {
    samering::BrokerSelector sel(b.socket, v.name);
    auto keys = views(v.keys);
    std::vector<std::int32_t> out(keys.size(), -2);
    sel.pick_many(keys.data(), keys.size(), out.data());
    std::size_t bad = 0;
    for (std::size_t i = 0; i < keys.size(); ++i) bad += out[i] != v.expected[i];
    EXPECT_EQ(bad, 0u) << v.name;
  }
  const auto s = nlohmann::json::parse(samering::BrokerSelector(b.socket, vectors().front().name).stats());
  EXPECT_EQ(s["rings"].size(), vectors().size());
}

void check_c_api(const Vector& v, const std::string& socket);
void check_shm(const Vector& v, const std::string& shm);

TEST_P(BrokerParity, CppClientCApiAndShm) {
  const Vector& v = vector;
  samering::BrokerSelector sel(shared().socket, v.name);
  auto keys = views(v.keys);
  std::vector<std::int32_t> out(keys.size(), -2);
  sel.pick_many(keys.data(), keys.size(), out.data());
  std::size_t bad = 0;
  for (std::size_t i = 0; i < keys.size(); ++i)
    if (out[i] != v.expected[i] && ++bad <= 5)
      ADD_FAILURE() << v.name << " PICK_MANY case " << i << " key " << samering_test::hex(v.keys[i]) << ": got " << out[i]
                    << ", peer says " << v.expected[i];
  std::fill(out.begin(), out.end(), -2);
  std::vector<std::uint64_t> gens(keys.size());
  const auto info = sel.info();
  sel.pick_pipelined(keys.data(), keys.size(), out.data(), gens.data());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (out[i] != v.expected[i] && ++bad <= 10)
      ADD_FAILURE() << v.name << " pipelined PICK case " << i << ": got " << out[i] << ", peer says " << v.expected[i];
    EXPECT_EQ(gens[i], info.generation);  // no reload: one generation throughout
  }
  // Single PICKs on a sample, with the address the broker sends along.
  for (std::size_t i = 0; i < keys.size(); i += std::max<std::size_t>(1, keys.size() / 50)) {
    const auto p = sel.pick(keys[i]);
    EXPECT_EQ(p.index, v.expected[i]) << v.name << " PICK case " << i;
    if (p.index >= 0) {
      EXPECT_EQ(p.address, info.servers.at(static_cast<std::size_t>(p.index)));
    }
  }
  EXPECT_EQ(bad, 0u);
  check_c_api(v, shared().socket);
  check_shm(v, shared().shm);
}

void check_c_api(const Vector& v, const std::string& socket) {
  selector_t* sel = nullptr;
  char err[256];
  ASSERT_EQ(selector_new_from_broker(socket.c_str(), v.name.c_str(), 5000, &sel, err, sizeof err), SAMERING_OK)
      << err;
  EXPECT_EQ(selector_source(sel), SELECTOR_SOURCE_BROKER);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < v.keys.size(); ++i) {
    const int got = selector_pick(sel, v.keys[i].data(), v.keys[i].size());
    if (got != v.expected[i] && ++bad <= 5)
      ADD_FAILURE() << v.name << " selector_pick case " << i << ": got " << got << ", peer says " << v.expected[i];
  }
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (const auto& k : v.keys) {
    ptrs.push_back(k.data());
    lens.push_back(k.size());
  }
  std::vector<int> out(v.keys.size(), -100);
  ASSERT_EQ(selector_pick_many(sel, ptrs.data(), lens.data(), ptrs.size(), out.data(), nullptr, nullptr), SAMERING_OK)
      << selector_last_error(sel);
  for (std::size_t i = 0; i < out.size(); ++i)
    if (out[i] != v.expected[i] && ++bad <= 10)
      ADD_FAILURE() << v.name << " selector_pick_many case " << i << ": got " << out[i] << ", peer says " << v.expected[i];
  // The server list is the spec's, in its order (a local selector from the same spec agrees).
  selector_t* local = nullptr;
  ASSERT_EQ(selector_new_from_json(v.spec.data(), v.spec.size(), &local, err, sizeof err), SAMERING_OK) << err;
  ASSERT_EQ(selector_server_count(sel), selector_server_count(local));
  for (int i = 0; i < selector_server_count(sel); ++i) EXPECT_STREQ(selector_server(sel, i), selector_server(local, i));
  EXPECT_STREQ(selector_flavor(sel), selector_flavor(local));
  selector_free(local);
  selector_free(sel);
  EXPECT_EQ(bad, 0u);
}

void check_shm(const Vector& v, const std::string& shm) {
  selector_t* sel = nullptr;
  char err[256];
  ASSERT_EQ(selector_new_from_shm(shm.c_str(), v.name.c_str(), &sel, err, sizeof err), SAMERING_OK) << err;
  EXPECT_EQ(selector_source(sel), SELECTOR_SOURCE_SHM);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < v.keys.size(); ++i) {
    const int got = selector_pick(sel, v.keys[i].data(), v.keys[i].size());
    if (got != v.expected[i] && ++bad <= 5)
      ADD_FAILURE() << v.name << " shm selector_pick case " << i << ": got " << got << ", peer says " << v.expected[i];
  }
  selector_free(sel);
  EXPECT_EQ(bad, 0u);
}

std::string name_of(const ::testing::TestParamInfo<std::size_t>& info) {
  std::string n = vector_files()[info.param].stem().string();
  for (auto& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(Vectors, BrokerParity, ::testing::Range<std::size_t>(0, vector_files().size()), name_of);

}  // namespace
