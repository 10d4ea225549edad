// A root partition with the SynIC option on, a clock the test moves by hand, and helpers for the
// SynIC's MSRs and pages.
#pragma once

#include <atomic>
#include <cstring>

#include "engine_fixture.h"
#include "hv/synic/synic_host.h"
#include "hv/synthetic_msrs.h"
#include "hvk/tlfs/synic.h"

namespace hvk::test {

class ManualClock final : public hv::ReferenceClock {
 public:
  std::uint64_t now() const noexcept override { return t.load(); }
  std::atomic<std::uint64_t> t{1000};
};

// Guest pages of the 64 KiB test RAM: VP n's SIM page at kSimp + 0x2000 n, its SIEF page after it.
inline constexpr std::uint64_t kSimp = 0x8000;
inline constexpr std::uint64_t kSiefp = 0x9000;

class SynicEngine : public Engine {
 protected:
  void SetUp() override {
    hv::PartitionConfig cfg = root_config(2);
    cfg.synic = true;
    make_root(cfg);
    root_->set_reference_clock(&clock_);
  }

  hv::MsrAccess wr(tlfs::VpIndex vp, std::uint32_t index, std::uint64_t v) {
    return hv::write_synthetic_msr(*root_, *root_->vp(vp), index, v);
  }
  hv::MsrAccess rd(tlfs::VpIndex vp, std::uint32_t index) {
    return hv::read_synthetic_msr(*root_, *root_->vp(vp), index);
  }
  static std::uint64_t simp(tlfs::VpIndex vp) { return kSimp + 0x2000ull * vp; }
  static std::uint64_t siefp(tlfs::VpIndex vp) { return kSiefp + 0x2000ull * vp; }

  // What kvm-unit-tests' set-up does: both pages, then SCONTROL.
  void enable_synic(tlfs::VpIndex vp) {
    ASSERT_FALSE(wr(vp, hv::msr::kSimp, simp(vp) | 1).gp);
    ASSERT_FALSE(wr(vp, hv::msr::kSiefp, siefp(vp) | 1).gp);
    ASSERT_FALSE(wr(vp, hv::msr::kScontrol, 1).gp);
  }
  void set_sint(tlfs::VpIndex vp, unsigned sint, std::uint8_t vector, bool auto_eoi = false) {
    ASSERT_FALSE(wr(vp, hv::msr::kSint0 + sint, vector | (auto_eoi ? 1ull << 17 : 0)).gp);
  }

  tlfs::Message slot(tlfs::VpIndex vp, unsigned sint) {
    std::array<std::byte, sizeof(tlfs::Message)> b{};
    EXPECT_TRUE(memory_.read(simp(vp) + sint * 256ull, b));
    return tlfs::load<tlfs::Message>(b);
  }
  // The guest empties a slot: message type back to HvMessageTypeNone.
  void empty_slot(tlfs::VpIndex vp, unsigned sint) {
    const std::uint32_t none = 0;
    memory_.write(simp(vp) + sint * 256ull, tlfs::as_bytes(none));
  }
  void set_slot_type(tlfs::VpIndex vp, unsigned sint, std::uint32_t type) {
    memory_.write(simp(vp) + sint * 256ull, tlfs::as_bytes(type));
  }
  std::uint64_t flags_qword(tlfs::VpIndex vp, unsigned sint, unsigned flag) {
    std::array<std::byte, 8> b{};
    EXPECT_TRUE(memory_.read(siefp(vp) + sint * 256ull + flag / 64 * 8ull, b));
    return tlfs::load<std::uint64_t>(b);
  }

  std::vector<hv::SintInterrupt> sints() {
    std::lock_guard lock(backend_.mu);
    return backend_.sints;
  }
  void clear_sints() {
    std::lock_guard lock(backend_.mu);
    backend_.sints.clear();
  }

  hv::Synic& synic(tlfs::VpIndex vp, tlfs::Vtl vtl = 0) { return root_->vp(vp)->synic(vtl).synic; }

  ManualClock clock_;
};

}  // namespace hvk::test
