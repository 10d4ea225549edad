// The engine's cost per hypercall, measured through the dispatcher as the machine calls it.
#include <benchmark/benchmark.h>

#include <vector>

#include "hv/dispatcher.h"
#include "hv/hypervisor.h"
#include "hv/linux_context.h"
#include "hvk/tlfs/bytes.h"
#include "hvk/tlfs/inputs.h"

namespace {

using namespace hvk;
using tlfs::CallCode;
using tlfs::HypercallControl;

class NullBackend final : public hv::Backend {
 public:
  void start_vp(const hv::StartRequest&) noexcept override {}
  void partition_state_changed(hv::PartitionState) noexcept override {}
};

struct Bed {
  static constexpr std::uint64_t kIn = 0x1000;
  static constexpr std::uint64_t kOut = 0x2000;
  explicit Bed(std::uint32_t vps) {
    memory.add(0, ram);
    hv::PartitionConfig cfg;
    cfg.vp_count = vps;
    cfg.privileges = hv::default_privileges();
    root = &hv.create_root(cfg);
    root->attach(&backend, &memory);
  }
  hv::Outcome call(HypercallControl c) {
    hv::VpCallState st{hv::ExecMode::k64Bit, 0, {}};
    st.regs.rcx = c.raw;
    st.regs.rdx = kIn;
    st.regs.r8 = kOut;
    return dispatcher.dispatch(*root, *root->vp(0), st);
  }
  std::vector<std::byte> ram = std::vector<std::byte>(0x10000);
  hv::MemoryMap memory;
  hv::Hypervisor hv;
  hv::Dispatcher dispatcher{hv};
  NullBackend backend;
  hv::Partition* root = nullptr;
};

tlfs::StartVirtualProcessorInput start_input(tlfs::VpIndex vp) {
  tlfs::StartVirtualProcessorInput in{};
  in.partition_id = tlfs::kPartitionIdSelf;
  in.vp_index = vp;
  in.vp_context = hv::linux_ap_context(0xffff'ffff'8100'0000ull, 0xffff'c900'0000'8000ull);
  return in;
}

// A successful start: the target is returned to wait-for-SIPI between calls (one atomic store,
// included in the time), so every call does the whole check sequence and succeeds.
void BM_StartVirtualProcessor_Success(benchmark::State& state) {
  Bed bed(2);
  bed.memory.write(Bed::kIn, tlfs::as_bytes(start_input(1)));
  const auto c = HypercallControl::make(CallCode::kStartVirtualProcessor);
  for (auto _ : state) {
    const hv::Outcome o = bed.call(c);
    if (o.result.status() != tlfs::Status::kSuccess) state.SkipWithError("start failed");
    bed.root->vp(1)->reset_to_wait_for_sipi();
  }
}
BENCHMARK(BM_StartVirtualProcessor_Success);

// Rejected late: every check passes but the VP is already running (INVALID_VP_STATE).
void BM_StartVirtualProcessor_RejectedVpState(benchmark::State& state) {
  Bed bed(2);
  bed.memory.write(Bed::kIn, tlfs::as_bytes(start_input(0)));
  const auto c = HypercallControl::make(CallCode::kStartVirtualProcessor);
  for (auto _ : state) benchmark::DoNotOptimize(bed.call(c));
}
BENCHMARK(BM_StartVirtualProcessor_RejectedVpState);

// Rejected at the control word (a reserved bit).
void BM_StartVirtualProcessor_RejectedControl(benchmark::State& state) {
  Bed bed(2);
  const HypercallControl c{HypercallControl::make(CallCode::kStartVirtualProcessor).raw |
                           (1ull << 60)};
  for (auto _ : state) benchmark::DoNotOptimize(bed.call(c));
}
BENCHMARK(BM_StartVirtualProcessor_RejectedControl);

void BM_UnknownCallCode(benchmark::State& state) {
  Bed bed(1);
  for (auto _ : state) benchmark::DoNotOptimize(bed.call(HypercallControl{0x7777}));
}
BENCHMARK(BM_UnknownCallCode);

void BM_GetVpIndexFromApicId(benchmark::State& state) {
  const auto reps = static_cast<std::uint16_t>(state.range(0));
  Bed bed(256);
  std::vector<std::byte> in(16 + 4 * reps);
  tlfs::store(std::span(in), tlfs::GetVpIndexFromApicIdHeader{tlfs::kPartitionIdSelf, {}, {}});
  for (std::uint16_t i = 0; i < reps; ++i) {
    tlfs::store(std::span(in), std::uint32_t{static_cast<std::uint32_t>((i * 37) % 256)},
                16 + 4u * i);
  }
  bed.memory.write(Bed::kIn, in);
  const auto c = HypercallControl::make(CallCode::kGetVpIndexFromApicId, false, reps);
  for (auto _ : state) benchmark::DoNotOptimize(bed.call(c));
  state.SetItemsProcessed(state.iterations() * reps);
}
BENCHMARK(BM_GetVpIndexFromApicId)->Arg(1)->Arg(64)->Arg(1000);

}  // namespace

BENCHMARK_MAIN();
