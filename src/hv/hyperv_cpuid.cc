#include "hv/hyperv_cpuid.h"

namespace hvk::hv {

namespace {

constexpr std::uint32_t fourcc(const char (&s)[5]) {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(s[0])) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[1])) << 8 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[2])) << 16 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[3])) << 24;
}

}  // namespace

std::array<CpuidLeaf, 7> hyperv_cpuid_leaves(const Partition& p) {
  const std::uint32_t vps = p.vp_count();
  return {{
      // Highest leaf and the vendor signature "Microsoft Hv".
      {0x4000'0000, kHvCpuidLast, fourcc("Micr"), fourcc("osof"), fourcc("t Hv")},
      // Interface signature "Hv#1": the TLFS interface, not Xen's or KVM's.
      {0x4000'0001, kHvCpuidInterfaceHv1, 0, 0, 0},
      // Version: build 0, version 1.0 of hvk's presentation.
      {0x4000'0002, 0, 0x0001'0000, 0, 0},
      // Partition privileges (EAX bits 31:0, EBX bits 63:32: the SynIC, timer, PostMessage and
      // SignalEvent bits only with PartitionConfig::synic); EDX bit 4: XMM fast hypercall input,
      // bit 8: the frequency MSRs, bit 10: the crash MSRs, bit 15: XMM fast hypercall output,
      // bit 19: direct-mode synthetic timers (with the timer MSRs).
      {0x4000'0003, p.privileges().cpuid_eax(), p.privileges().cpuid_ebx(), 0,
       kCpuidXmmFastInput | kCpuidXmmFastOutput |
           (p.privileges().has(tlfs::Privilege::kFrequencyRegs) ? 1u << 8 : 0u) | 1u << 10 |
           (p.privileges().has(tlfs::Privilege::kSyntheticTimerRegs) ? 1u << 19 : 0u)},
      // No recommendations; never notify on long spin waits.
      {0x4000'0004, 0, 0xFFFF'FFFF, 0, 0},
      // Implementation limits: VPs and logical processors this partition has.
      {0x4000'0005, vps, vps, 0, 0},
      // Hardware features in use: none reported.
      {0x4000'0006, 0, 0, 0, 0},
  }};
}

}  // namespace hvk::hv
