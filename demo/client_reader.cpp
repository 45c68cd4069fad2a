// demo/client_reader.cpp — the C++ side of the demo: `samering-client-read SPEC < keys` reads
// every key with samering::Client (routed by the same Ring as every other runtime) and prints, per
// key, the node it asked and the value it found there ("(missing)" if none).
#include <cstdio>
#include <iostream>
#include <string>

#include "samering/client.hpp"
#include "samering/error.hpp"
#include "samering/ring.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s SPEC_FILE < keys\n", argv[0]);
    return 2;
  }
  try {
    samering::Client client(samering::ring_from_file(argv[1]));
    std::string key;
    while (std::getline(std::cin, key)) {
      const std::int32_t node = client.ring().pick(key);
      samering::Item item;
      const samering::Status s = client.get(key, item);
      const std::string address(node >= 0 ? client.ring().server(static_cast<std::size_t>(node)).address : "?");
      std::printf("%s\t%s\n", address.c_str(), s == samering::Status::ok ? item.value.c_str() : "(missing)");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "samering-client-read: %s\n", e.what());
    return 2;
  }
  return 0;
}
