// A flattened device tree for x86 kernels that find their processors without ACPI (Linux reads
// /cpus/cpu@N `reg` as the APIC ID; arch/x86/kernel/devicetree.c). Handed over in setup_data
// (SETUP_DTB).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "machine/loader/result.h"

namespace hvk::machine {

// One cpu node per APIC ID, in order; a root node naming hvk.
Result<std::vector<std::byte>> build_cpu_dtb(std::span<const std::uint32_t> apic_ids);

}  // namespace hvk::machine
