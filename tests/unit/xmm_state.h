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

}  // namespace hvk::test
