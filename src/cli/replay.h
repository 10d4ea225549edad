// `hvk replay`: a scripted hypercall sequence run through the engine exactly as the machine runs
// guest hypercalls (guest memory, registers, dispatcher), printing each decoded call and status.
#pragma once

#include <cstdint>

namespace hvk::cli {

struct ReplayOptions {
  std::uint32_t vps = 4;
  bool trace = true;
};

// Returns the process exit status: 0 when every call got the status the script expects.
int replay(const ReplayOptions& options);

}  // namespace hvk::cli
