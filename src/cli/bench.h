// `hvk bench`: hvk's costs measured on real KVM, side by side in one run.
#pragma once

#include <cstdint>
#include <string>

namespace hvk::cli {

struct BenchOptions {
  std::string guest;  // the bench guest image; empty: next to hvk in the build tree
  std::uint64_t iterations = 20000;
  std::string json;  // also write the results here
};

int bench(const BenchOptions& options);

}  // namespace hvk::cli
