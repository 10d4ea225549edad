#include "machine/cpuid.h"

#include <algorithm>

#include "hv/hyperv_cpuid.h"

namespace hvk::machine {

namespace {
constexpr std::uint32_t kHypervisorPresent = 1u << 31;  // CPUID.1:ECX
}

std::vector<kvm_cpuid_entry2> vp_cpuid(std::vector<kvm_cpuid_entry2> entries,
                                       const hv::Partition& partition, std::uint32_t apic_id) {
  // Drop every leaf in the hypervisor range (KVM's "KVMKVMKVM" signature and features): a guest
  // takes the first match, and it must see only Hyper-V.
  std::erase_if(entries, [](const kvm_cpuid_entry2& e) {
    return e.function >= hv::kHvCpuidFirst && e.function < hv::kHvCpuidFirst + 0x1000'0000;
  });
  for (kvm_cpuid_entry2& e : entries) {
    if (e.function == 1) {
      e.ecx |= kHypervisorPresent;
      e.ebx = (e.ebx & 0x00FF'FFFF) | (apic_id << 24);
    } else if (e.function == 0xB || e.function == 0x1F) {
      e.edx = apic_id;  // x2APIC ID
    }
  }
  for (const hv::CpuidLeaf& l : hv::hyperv_cpuid_leaves(partition)) {
    kvm_cpuid_entry2 e{};
    e.function = l.function;
    e.eax = l.eax;
    e.ebx = l.ebx;
    e.ecx = l.ecx;
    e.edx = l.edx;
    entries.push_back(e);
  }
  return entries;
}

}  // namespace hvk::machine
