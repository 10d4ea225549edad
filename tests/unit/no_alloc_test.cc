// The hypercall path allocates nothing: every global operator new is counted while a flag is up.
#include <atomic>
#include <cstdlib>
#include <new>

#include "engine_fixture.h"
#include "hv/synthetic_msrs.h"
#include "hvk/tlfs/flush.h"
#include "hvk/tlfs/vp_set.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace hvk::test {
namespace {

class NoAllocation : public Engine {
 protected:
  long count(const std::function<void()>& f) {
    g_allocations = 0;
    g_counting = true;
    f();
    g_counting = false;
    return g_allocations.load();
  }
};

TEST_F(NoAllocation, SuccessfulAndRejectedCallsAndTracing) {
  memory_.write(kIn, tlfs::as_bytes(start_input(1)));
  hv::Partition& child = make_child();
  // The recording test double must not be what allocates.
  for (RecordingBackend* b : {&backend_, &child_backend_}) {
    b->starts.reserve(8);
    b->states.reserve(8);
    b->refreshed.reserve(8);
  }
  const auto start_ctl = HypercallControl::make(CallCode::kStartVirtualProcessor);
  EXPECT_EQ(count([&] { raw_call(start_ctl, kIn, kOut); }), 0);  // success
  EXPECT_EQ(root_->vp(1)->run_state(), hv::VpRunState::kRunning);
  EXPECT_EQ(count([&] { raw_call(start_ctl, kIn, kOut); }), 0);  // INVALID_VP_STATE
  EXPECT_EQ(count([&] { raw_call(HypercallControl{0x1234}, kIn, kOut); }), 0);
  EXPECT_EQ(count([&] { raw_call(start_ctl, kIn + 1, kOut); }), 0);
  EXPECT_EQ(count([&] {
              raw_call(HypercallControl::make(CallCode::kInitializePartition, true), child.id(), 0);
            }),
            0);
  class NullTrace final : public hv::TraceSink {
    void on_call(const hv::TraceRecord&) noexcept override {}
  } trace;
  dispatcher_->set_trace(&trace);
  memory_.write(kIn, tlfs::as_bytes(start_input(2)));
  EXPECT_EQ(count([&] { raw_call(start_ctl, kIn, kOut); }), 0);
  EXPECT_EQ(root_->vp(2)->run_state(), hv::VpRunState::kRunning);
}

TEST_F(NoAllocation, ExCallsTracedOrNot) {
  // HvCallSendSyntheticClusterIpiEx to VPs 1 and 3 (one bank word), and
  // HvCallFlushVirtualAddressListEx of two ranges on VP 0: their HV_VP_SET banks in the variable
  // header, traced too (the trace text shows the banks).
  struct IpiEx {
    tlfs::SendSyntheticClusterIpiExInput fixed;
    std::uint64_t bank;
  } ipi{{0x40, tlfs::InputVtl::current(), {}, {tlfs::vp_set_format::kSparse4k, 0b1}}, 0b1010};
  struct ListEx {
    tlfs::FlushVirtualAddressExInput fixed;
    std::uint64_t bank;
    std::uint64_t ranges[2];
  } list{{0x1000, 0, {tlfs::vp_set_format::kSparse4k, 0b1}}, 0b1, {0x5000, 0x6000}};
  memory_.write(kIn, tlfs::as_bytes(ipi));
  memory_.write(kIn + 0x100, tlfs::as_bytes(list));
  backend_.ipis.reserve(16);
  backend_.flushes.reserve(16);
  const auto ipi_ctl = HypercallControl::make(CallCode::kSendSyntheticClusterIpiEx, false, 0, 0, 1);
  const auto list_ctl =
      HypercallControl::make(CallCode::kFlushVirtualAddressListEx, false, 2, 0, 1);
  EXPECT_EQ(count([&] { raw_call(ipi_ctl, kIn, kOut); }), 0);
  EXPECT_EQ(count([&] { raw_call(list_ctl, kIn + 0x100, kOut); }), 0);
  class NullTrace final : public hv::TraceSink {
    void on_call(const hv::TraceRecord&) noexcept override {}
  } trace;
  dispatcher_->set_trace(&trace);
  EXPECT_EQ(count([&] { raw_call(ipi_ctl, kIn, kOut); }), 0);
  EXPECT_EQ(count([&] { raw_call(list_ctl, kIn + 0x100, kOut); }), 0);
  EXPECT_EQ(backend_.ipis.size(), 4u);
  EXPECT_EQ(backend_.flushes.size(), 2u);
}

TEST_F(NoAllocation, PostMessageAndSignalEvent) {
  hv::PartitionConfig cfg = root_config(2);
  cfg.synic = true;
  make_root(cfg);
  hv::Vp& vp = *root_->vp(0);
  hv::write_synthetic_msr(*root_, vp, hv::msr::kSimp, 0x8000 | 1);
  hv::write_synthetic_msr(*root_, vp, hv::msr::kSiefp, 0x9000 | 1);
  hv::write_synthetic_msr(*root_, vp, hv::msr::kScontrol, 1);
  hv::write_synthetic_msr(*root_, vp, hv::msr::kSint0 + 1, 0x40);
  ASSERT_EQ(root_->connections().connect(1, {hv::PortKind::kMessage, root_, 0, 0, 1, 1, 0, 0}),
            Status::kSuccess);
  ASSERT_EQ(root_->connections().connect(2, {hv::PortKind::kEvent, root_, 0, 0, 1, 0, 0, 16}),
            Status::kSuccess);
  backend_.sints.reserve(64);
  tlfs::PostMessageInput in{};
  in.connection_id.raw = 1;
  in.message_type = 5;
  in.payload_size = 240;
  memory_.write(kIn, tlfs::as_bytes(in));
  const auto post = HypercallControl::make(CallCode::kPostMessage);
  const auto signal = HypercallControl::make(CallCode::kSignalEvent, true);
  EXPECT_EQ(count([&] { raw_call(post, kIn, kOut); }), 0);  // delivered
  EXPECT_EQ(count([&] { raw_call(post, kIn, kOut); }), 0);  // queued
  EXPECT_EQ(count([&] { raw_call(signal, 2, 0); }), 0);     // set
  EXPECT_EQ(count([&] { raw_call(signal, 2, 0); }), 0);     // already set
  EXPECT_EQ(count([&] { raw_call(signal, 7, 0); }), 0);     // refused
  EXPECT_EQ(count([&] { hv::write_synthetic_msr(*root_, vp, hv::msr::kEom, 0); }), 0);
  EXPECT_EQ(root_->vp(0)->synic(0).synic.stats().posted, 2u);
  EXPECT_EQ(backend_.sints.size(), 2u);
}

}  // namespace
}  // namespace hvk::test
