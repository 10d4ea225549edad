// A root partition, its guest memory and a dispatcher, driven the way the machine drives them.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <mutex>
#include <ostream>
#include <vector>

#include "hv/dispatcher.h"
#include "hv/hypervisor.h"
#include "hv/linux_context.h"
#include "hvk/tlfs/bytes.h"
#include "hvk/tlfs/inputs.h"

namespace hvk::tlfs {
inline void PrintTo(Status s, std::ostream* os) {
  const char* n = status_name(s);
  *os << (n != nullptr ? n : "unnamed status") << " (" << static_cast<int>(s) << ")";
}
}  // namespace hvk::tlfs

namespace hvk::test {

using tlfs::CallCode;
using tlfs::HypercallControl;
using tlfs::Status;

// Records what the engine asks of the machine.
class RecordingBackend final : public hv::Backend {
 public:
  void start_vp(const hv::StartRequest& r) noexcept override {
    std::lock_guard lock(mu);
    starts.push_back(r);
  }
  void partition_state_changed(hv::PartitionState s) noexcept override {
    std::lock_guard lock(mu);
    states.push_back(s);
  }
  void refresh_vp_state(tlfs::VpIndex vp) noexcept override {
    std::function<void(tlfs::VpIndex)> f;
    {
      std::lock_guard lock(mu);
      refreshed.push_back(vp);
      f = on_refresh;
    }
    if (f) f(vp);
  }
  void send_ipi(tlfs::VpIndex vp, tlfs::Vtl vtl, std::uint8_t vector) noexcept override {
    std::lock_guard lock(mu);
    ipis.push_back({vp, vtl, vector});
  }
  void assert_sint(const hv::SintInterrupt& irq) noexcept override {
    std::lock_guard lock(mu);
    sints.push_back(irq);
  }
  void timers_changed(tlfs::VpIndex vp, tlfs::Vtl vtl, std::uint64_t deadline) noexcept override {
    std::lock_guard lock(mu);
    deadlines.push_back({vp, vtl, deadline});
  }
  void flush_tlb(tlfs::VpIndex caller, const hv::VpSet& targets,
                 tlfs::Vtl vtl) noexcept override {
    std::lock_guard lock(mu);
    flushes.push_back({caller, targets, vtl});
  }
  void tlb_locks_released() noexcept override {
    std::lock_guard lock(mu);
    ++unlocks;
  }
  bool vtl_protections_changed(tlfs::Vtl vtl,
                               std::span<const std::uint64_t> pages) noexcept override {
    std::lock_guard lock(mu);
    protection_changes.push_back({vtl, {pages.begin(), pages.end()}});
    return !refuse_protections;
  }
  struct ProtectionChange {
    tlfs::Vtl vtl;
    std::vector<std::uint64_t> pages;  // empty: the default mask changed
  };
  std::vector<ProtectionChange> protection_changes;
  bool refuse_protections = false;
  struct Flush {
    tlfs::VpIndex caller;
    hv::VpSet targets;
    tlfs::Vtl vtl;
  };
  std::vector<Flush> flushes;
  int unlocks = 0;
  struct Ipi {
    tlfs::VpIndex vp;
    tlfs::Vtl vtl;
    std::uint8_t vector;
    bool operator==(const Ipi&) const = default;
  };
  std::vector<Ipi> ipis;
  struct Deadline {
    tlfs::VpIndex vp;
    tlfs::Vtl vtl;
    std::uint64_t at;
  };
  std::mutex mu;
  std::function<void(tlfs::VpIndex)> on_refresh;
  std::vector<hv::SintInterrupt> sints;
  std::vector<Deadline> deadlines;
  std::vector<tlfs::VpIndex> refreshed;
  std::vector<hv::StartRequest> starts;
  std::vector<hv::PartitionState> states;
};

inline constexpr std::uint64_t kRamSize = 64 * 1024;
inline constexpr std::uint64_t kIn = 0x2000;   // input page
inline constexpr std::uint64_t kOut = 0x3000;  // output page

inline tlfs::InitialVpContext good_context() {
  return hv::linux_ap_context(0xffff'ffff'8100'0000ull, 0xffff'c900'0000'8000ull);
}

inline tlfs::StartVirtualProcessorInput start_input(
    tlfs::VpIndex vp, tlfs::Vtl vtl = 0, tlfs::PartitionId pid = tlfs::kPartitionIdSelf,
    const tlfs::InitialVpContext& c = good_context()) {
  tlfs::StartVirtualProcessorInput in{};
  in.partition_id = pid;
  in.vp_index = vp;
  in.target_vtl = vtl;
  in.vp_context = c;
  return in;
}

struct VpIndexQuery {
  tlfs::GetVpIndexFromApicIdHeader header;
  std::uint32_t apic_ids[8];
};

class Engine : public ::testing::Test {
 protected:
  void SetUp() override { make_root(root_config()); }

  static hv::PartitionConfig root_config(std::uint32_t vps = 4) {
    hv::PartitionConfig cfg;
    cfg.vp_count = vps;
    cfg.privileges = hv::default_privileges();
    return cfg;
  }

  // Replaces the hypervisor with one whose root partition has `cfg`.
  void make_root(const hv::PartitionConfig& cfg) {
    hv_ = std::make_unique<hv::Hypervisor>();
    dispatcher_ = std::make_unique<hv::Dispatcher>(*hv_, options_);
    root_ = &hv_->create_root(cfg);
    root_->attach(&backend_, &memory_);
  }

  hv::Partition& make_child(std::uint32_t vps = 2) {
    hv::PartitionConfig cfg;
    cfg.vp_count = vps;
    cfg.privileges = hv::default_privileges();
    hv::Partition& c = hv_->create_child(*root_, cfg);
    c.attach(&child_backend_, &memory_);  // the tests reuse one guest memory
    return c;
  }

  // Writes `input` at the input page and makes a 64-bit call from `vp` of `p` (root VP 0 default).
  template <typename In>
  hv::Outcome call(HypercallControl control, const In& input, hv::Partition* p = nullptr,
                   tlfs::VpIndex vp = 0, std::uint64_t in_gpa = kIn, std::uint64_t out_gpa = kOut) {
    if (memory_.contains(in_gpa, sizeof(In))) memory_.write(in_gpa, tlfs::as_bytes(input));
    return raw_call(control, in_gpa, out_gpa, p, vp);
  }

  hv::Outcome raw_call(HypercallControl control, std::uint64_t in_gpa, std::uint64_t out_gpa,
                       hv::Partition* p = nullptr, tlfs::VpIndex vp = 0,
                       hv::ExecMode mode = hv::ExecMode::k64Bit, std::uint8_t cpl = 0) {
    if (p == nullptr) p = root_;
    hv::VpCallState st{mode, cpl, {}};
    st.regs.rcx = control.raw;
    st.regs.rdx = in_gpa;
    st.regs.r8 = out_gpa;
    return dispatcher_->dispatch(*p, *p->vp(vp), st);
  }

  template <typename In>
  Status status_of(HypercallControl control, const In& input, hv::Partition* p = nullptr,
                   tlfs::VpIndex vp = 0) {
    return call(control, input, p, vp).result.status();
  }

  // VTL 1 on the root partition and on VP `vp`, enabled from VP 0 in VTL 0 (conformance E11: the
  // first VP to get a VTL is enabled from below it).
  void enable_vtl1(tlfs::VpIndex vp = 0) {
    ASSERT_EQ(status_of(HypercallControl::make(CallCode::kEnablePartitionVtl),
                        tlfs::EnablePartitionVtlInput{tlfs::kPartitionIdSelf, 1, 0, {}}),
              Status::kSuccess);
    ASSERT_EQ(status_of(HypercallControl::make(CallCode::kEnableVpVtl), start_input(vp, 1)),
              Status::kSuccess);
  }

  Status start(const tlfs::StartVirtualProcessorInput& in, hv::Partition* p = nullptr,
               tlfs::VpIndex caller = 0) {
    return status_of(HypercallControl::make(CallCode::kStartVirtualProcessor), in, p, caller);
  }

  template <typename T>
  T out_at(std::uint64_t offset = 0) {
    std::array<std::byte, sizeof(T)> b{};
    EXPECT_TRUE(memory_.read(kOut + offset, b));
    return tlfs::load<T>(b);
  }

  hv::DispatcherOptions options_{};
  std::vector<std::byte> ram_ = std::vector<std::byte>(kRamSize);
  hv::MemoryMap memory_ = [this] {
    hv::MemoryMap m;
    m.add(0, ram_);
    return m;
  }();
  RecordingBackend backend_;
  RecordingBackend child_backend_;
  std::unique_ptr<hv::Hypervisor> hv_;
  std::unique_ptr<hv::Dispatcher> dispatcher_;
  hv::Partition* root_ = nullptr;
};

}  // namespace hvk::test
