#include "kvm/debug_probe.h"

#include <cstring>
#include <variant>

#include "kvm/mapping.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"

namespace hvk::kvm {

namespace {
constexpr std::uint64_t kCode = 0x1000;
constexpr std::uint64_t kWatched = 0x800;
// mov byte [0x800], 1; hlt
constexpr std::uint8_t kProgram[] = {0xC6, 0x06, 0x00, 0x08, 0x01, 0xF4};
constexpr std::uint64_t kDr7Write1 =
    (2u << 0) | (1u << 16) | (1u << 9);  // G0, RW0 write, len 1, GE
}  // namespace

Result<bool> data_breakpoints_work(const Kvm& kvm) {
  auto vm = kvm.create_vm();
  if (!vm) return vm.error();
  // VMX without unrestricted guest runs real mode through a TSS it keeps here.
  if (auto r = vm->set_tss_addr(0xFFFB'D000); !r) return r.error();
  auto ram = Mapping::anonymous(0x2000);
  if (!ram) return ram.error();
  std::memcpy(ram->bytes() + kCode, kProgram, sizeof kProgram);
  if (auto r = vm->set_user_memory_region(0, 0, 0x2000, ram->bytes()); !r) return r.error();
  auto vcpu = vm->create_vcpu(0);
  if (!vcpu) return vcpu.error();
  auto sregs = vcpu->sregs();
  if (!sregs) return sregs.error();
  sregs->cs.base = 0;
  sregs->cs.selector = 0;
  sregs->ds.base = 0;
  sregs->ds.selector = 0;
  if (auto r = vcpu->set_sregs(*sregs); !r) return r.error();
  kvm_regs regs{};
  regs.rip = kCode;
  regs.rflags = 2;
  if (auto r = vcpu->set_regs(regs); !r) return r.error();
  kvm_guest_debug d{};
  d.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
  d.arch.debugreg[0] = kWatched;
  d.arch.debugreg[7] = kDr7Write1;
  if (auto r = vcpu->set_guest_debug(d); !r) return r.error();
  auto exit = vcpu->run();
  if (!exit) return exit.error();
  const auto* dbg = std::get_if<exits::Debug>(&*exit);
  return dbg != nullptr && (dbg->dr6 & 1) != 0;
}

}  // namespace hvk::kvm
