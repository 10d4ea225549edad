// `hvk run --trace-starts`: where the time of a VP start goes inside hvk (issue 15; `hvk bench`'s
// VP start breakdown). Each point is the host's TSC, which the guest's TSC follows at a fixed
// offset (KVM's TSC offset), so that the guest's own TSCs at the issuing instruction and at the
// started VP's first instruction fall on the same line.
#pragma once

#include <x86intrin.h>

#include <cstdint>
#include <optional>
#include <string>

#include "hvk/tlfs/types.h"

namespace hvk::machine {

inline std::uint64_t host_tsc() { return __rdtsc(); }

struct StartTrace {
  std::uint64_t exit = 0;     // the issuing VP's KVM_RUN returned with its hypercall
  std::uint64_t request = 0;  // the engine decided: the machine hands the start to the target
  std::uint64_t woke = 0;     // the target's thread came out of KVM_RUN (kicked) or its wait
  std::uint64_t loaded = 0;   // the start context is loaded into the target's vCPU
  std::uint64_t run = 0;      // the target enters KVM_RUN with it
};

// "hvk: start-trace vp=3 exit=... request=... woke=... loaded=... run=... tsc_offset=..." (host
// TSCs; the offset is the guest's TSC minus the host's, "unknown" when KVM did not say).
std::string format_start_trace(tlfs::VpIndex vp, const StartTrace& t,
                               std::optional<std::int64_t> tsc_offset);

}  // namespace hvk::machine
