// The hypercall path allocates nothing: every global operator new is counted while a flag is up.
#include <atomic>
#include <cstdlib>
#include <new>

#include "engine_fixture.h"

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

}  // namespace
}  // namespace hvk::test
