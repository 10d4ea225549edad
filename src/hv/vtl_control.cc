#include "hv/vtl_control.h"

#include <array>

#include "hv/guest_memory.h"
#include "hvk/tlfs/bytes.h"

namespace hvk::hv {

namespace {

constexpr std::uint64_t kAssistEnable = 1;
constexpr std::uint64_t kAssistGpaMask = ~0xFFFull;

// The GPA of `vtl`'s VTL control area on `vp`, if the page is enabled.
std::optional<std::uint64_t> control_area(const Vp& vp, tlfs::Vtl vtl) {
  if (vtl == 0) return std::nullopt;  // VTL 0 has no VTL control structure
  const std::uint64_t msr = vp.vp_assist_page(vtl);
  if ((msr & kAssistEnable) == 0) return std::nullopt;
  return (msr & kAssistGpaMask) + tlfs::kVpAssistVtlControlOffset;
}

}  // namespace

void note_vtl_entry(Partition& p, const Vp& vp, tlfs::Vtl vtl, tlfs::VtlEntryReason reason) {
  const auto at = control_area(vp, vtl);
  GuestMemory* mem = p.memory();
  if (!at || mem == nullptr) return;
  std::array<std::byte, sizeof(reason)> b{};
  tlfs::store(std::span(b), reason);
  (void)mem->write(*at, b);  // a page outside RAM simply gets nothing
}

std::optional<VtlReturnRegisters> vtl_return_registers(const Partition& p, const Vp& vp,
                                                       tlfs::Vtl from, ExecMode mode) {
  const auto at = control_area(vp, from);
  const GuestMemory* mem = p.memory();
  if (!at || mem == nullptr) return std::nullopt;
  std::array<std::byte, sizeof(tlfs::VpVtlControl)> b{};
  if (!mem->read(*at, b)) return std::nullopt;
  const auto c = tlfs::load<tlfs::VpVtlControl>(std::span<const std::byte>(b));
  if (mode == ExecMode::k64Bit) return VtlReturnRegisters{c.return_rax, c.return_rcx, {}};
  // x86: VtlReturnX86Eax, Ecx, Edx, 4 bytes each.
  return VtlReturnRegisters{c.return_rax & 0xFFFF'FFFFull, c.return_rax >> 32,
                            c.return_rcx & 0xFFFF'FFFFull};
}

}  // namespace hvk::hv
