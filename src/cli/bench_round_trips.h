// `hvk bench`: hypercall and VTL round trips from a guest against the exit floor (the bench guest,
// guests/bench/, on one VP, in this process or in a sandboxed child).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "cli/bench.h"

namespace hvk::cli::bench_detail {

struct RoundTrip {
  const char* key;
  const char* what;
  double ns;      // median over the rounds, ns per operation
  double ns_min;  // the fastest round
  double ratio;   // ns / the floor's ns
};

// Boots `image` (the bench guest, read from `guest`): 0 with one entry per operation (the floor
// first), else the status to exit with (having said why).
int measure_round_trips(const BenchOptions& o, const std::string& guest,
                        std::span<const std::byte> image, std::vector<RoundTrip>& rows);

}  // namespace hvk::cli::bench_detail
