#include "machine/vcpu_warmup.h"

#include "kvm/linux_kvm.h"

namespace hvk::machine {

namespace {
constexpr std::uint64_t kResetRip = 0xFFF0;
constexpr std::uint64_t kResetCsBase = 0xFFFF'0000;
constexpr std::uint64_t kResetVector = kResetCsBase + kResetRip;
constexpr std::uint64_t kDr7L0 = 1;  // DR0 enabled, an execute breakpoint of length 1
}  // namespace

kvm::Result<std::optional<kvm::Exit>> warm_up_ap(kvm::Vcpu& v) {
  kvm_guest_debug debug{};
  debug.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
  debug.arch.debugreg[0] = kResetVector;
  debug.arch.debugreg[7] = kDr7L0;
  if (auto r = v.set_guest_debug(debug); !r) return r.error();
  if (auto r = v.set_mp_state(KVM_MP_STATE_RUNNABLE); !r) {
    (void)v.set_guest_debug(kvm_guest_debug{});
    return r.error();
  }
  auto exit = v.run();
  if (auto r = v.set_guest_debug(kvm_guest_debug{}); !r) return r.error();
  if (!exit) return exit.error();
  // KVM takes an INIT that arrived meanwhile here; a SIPI after it has moved RIP off the vector.
  auto mp = v.mp_state();
  if (!mp) return mp.error();
  const kvm_regs& regs = v.synced_regs();
  const kvm_sregs& sregs = v.synced_sregs();
  const bool at_reset = regs.rip == kResetRip && sregs.cs.base == kResetCsBase;
  if (mp->mp_state == KVM_MP_STATE_RUNNABLE && at_reset) {
    if (auto r = v.set_mp_state(KVM_MP_STATE_UNINITIALIZED); !r) return r.error();
    return std::optional<kvm::Exit>{};
  }
  if (at_reset) return std::optional<kvm::Exit>{};  // INIT_RECEIVED: waits for its SIPI
  return std::optional<kvm::Exit>{*exit};
}

}  // namespace hvk::machine
