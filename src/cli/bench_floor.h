// `hvk bench`: the KVM floor under an SMP bring-up, measured without hvk's machinery: N vCPUs of a
// bare VM (no irqchip, nothing else), each started by its own thread loading a 64-bit register
// state (KVM_SET_SREGS, KVM_SET_REGS) and running to its first instruction, an `out`. What
// HvCallStartVirtualProcessor cannot beat on this host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/bench_smp.h"

namespace hvk::cli::bench_detail {

// One Bringup per N (runner "kvm", method "floor"): vCPU 0 runs first (the boot VP), then the time
// from releasing the thread of vCPU 1 to the last of vCPUs 1..N-1 reaching its first instruction,
// the threads released one after another; median of `reps`.
bool measure_floor(const std::vector<std::uint32_t>& counts, std::size_t reps,
                   std::vector<Bringup>& out, std::string& why);

}  // namespace hvk::cli::bench_detail
