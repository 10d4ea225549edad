// The CPUID a VP sees: what KVM supports, with the hypervisor bit set, KVM's own leaves
// 0x40000000+ replaced by the partition's Hyper-V leaves, and the VP's APIC ID.
#pragma once

#include <vector>

#include "hv/partition.h"
#include "kvm/linux_kvm.h"

namespace hvk::machine {

std::vector<kvm_cpuid_entry2> vp_cpuid(std::vector<kvm_cpuid_entry2> supported,
                                       const hv::Partition& partition, std::uint32_t apic_id);

}  // namespace hvk::machine
