#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "kvm/fd.h"
#include "kvm/result.h"

namespace hvk::kvm {

class Kvm;
class Vcpu;

// Which MSR accesses KVM hands to user space (KVM_CAP_X86_USER_SPACE_MSR), as a bit set.
enum class MsrExits : std::uint32_t {
  kInvalid = 1u << 0,  // KVM_MSR_EXIT_REASON_INVAL: an access KVM would answer with #GP
  kUnknown = 1u << 1,  // KVM_MSR_EXIT_REASON_UNKNOWN: an MSR KVM does not know
  kFilter = 1u << 2,   // KVM_MSR_EXIT_REASON_FILTER: an MSR denied by set_msr_filter()
};
constexpr MsrExits operator|(MsrExits a, MsrExits b) {
  return static_cast<MsrExits>(static_cast<std::uint32_t>(a) | static_cast<std::uint32_t>(b));
}

// `count` consecutive MSRs starting at `base`.
struct MsrRange {
  std::uint32_t base;
  std::uint32_t count;
};

// One VM (KVM_CREATE_VM). Created by Kvm::create_vm().
class Vm {
 public:
  // KVM_CHECK_EXTENSION asked of this VM (some answers differ per VM).
  int extension(unsigned cap) const;

  // LAPICs in the kernel, IOAPIC and PIC in user space. Must precede create_vcpu().
  Result<void> enable_split_irqchip(std::uint32_t num_routes = 24);
  Result<void> enable_user_space_msr(MsrExits reasons);
  // Allows every MSR except those in `deny`, whose reads and writes become MSR exits (with
  // MsrExits::kFilter enabled; #GP otherwise). At most 16 ranges of at most 12288 MSRs.
  Result<void> set_msr_filter(std::span<const MsrRange> deny);
  // Maps `size` bytes at `host` (page aligned) as guest physical `gpa`; size 0 deletes the slot.
  Result<void> set_user_memory_region(std::uint32_t slot, std::uint64_t gpa, std::uint64_t size,
                                      void* host, std::uint32_t flags = 0);
  // Guest physical space Intel VMX keeps for real mode: three pages for a TSS, one for an
  // identity page table. Outside RAM and any MMIO; harmless on AMD.
  Result<void> set_tss_addr(std::uint64_t gpa);
  Result<void> set_identity_map_addr(std::uint64_t gpa);
  // KVM_SIGNAL_MSI: true when delivered, false when the guest blocked it.
  Result<bool> signal_msi(std::uint64_t address, std::uint32_t data);

  Result<Vcpu> create_vcpu(std::uint32_t id);

  int fd() const { return fd_.get(); }

 private:
  friend class Kvm;
  Vm(Fd fd, std::size_t run_size) : fd_(std::move(fd)), run_size_(run_size) {}

  Fd fd_;
  std::size_t run_size_;
};

}  // namespace hvk::kvm
