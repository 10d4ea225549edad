// A test double for the caller's XMM0-5 (hv::VpState): kept in memory, with counts of the reads
// and writes the engine makes. Shared by the XMM fast-call tests.
#pragma once

#include <array>
#include <cstring>

#include "engine_fixture.h"

namespace hvk::test {

class XmmState final : public hv::VpState {
 public:
  tlfs::InitialVpContext context(tlfs::Vtl) override { return good_context(); }
  void set_context(tlfs::Vtl, const tlfs::InitialVpContext&) override {}
  bool xmm(std::span<std::byte, kXmmBytes> out) override {
    ++reads;
    std::memcpy(out.data(), regs.data(), out.size());
    return true;
  }
  bool set_xmm(std::span<const std::byte, kXmmBytes> in) override {
    ++writes;
    std::memcpy(regs.data(), in.data(), in.size());
    return true;
  }
  template <typename T>
  void put(std::size_t offset, const T& v) {
    std::memcpy(regs.data() + offset, &v, sizeof v);
  }
  template <typename T>
  T get(std::size_t offset) const {
    T v;
    std::memcpy(&v, regs.data() + offset, sizeof v);
    return v;
  }
  std::array<std::byte, kXmmBytes> regs{};
  int reads = 0, writes = 0;
};

// The registers of a fast call: RDX and R8 carry the first 16 bytes in 64-bit mode; a 32-bit
// caller splits the control into EDX:EAX, and them into EBX:ECX and EDI:ESI.
inline hv::VpCallState fast_call_state(HypercallControl control, std::uint64_t rdx,
                                       std::uint64_t r8, hv::ExecMode mode) {
  hv::VpCallState st{mode, 0, {}};
  if (mode == hv::ExecMode::k64Bit) {
    st.regs.rcx = control.raw;
    st.regs.rdx = rdx;
    st.regs.r8 = r8;
  } else {
    st.regs.rax = control.raw & 0xFFFF'FFFF;
    st.regs.rdx = control.raw >> 32;
    st.regs.rcx = rdx & 0xFFFF'FFFF;
    st.regs.rbx = rdx >> 32;
    st.regs.rsi = r8 & 0xFFFF'FFFF;
    st.regs.rdi = r8 >> 32;
  }
  return st;
}

}  // namespace hvk::test
