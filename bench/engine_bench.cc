// The engine's cost per hypercall, measured through the dispatcher as the machine calls it: every
// implemented call accepted, and rejected by a late check (after the ABI checks pass), plus the
// VTL switch decision and an unknown call code. Each benchmark checks the status it expects on
// every iteration, so "accepted" really is the success path.
#include <benchmark/benchmark.h>

#include <vector>

#include "hv/dispatcher.h"
#include "hv/hypervisor.h"
#include "hv/linux_context.h"
#include "hv/vtl_switch.h"
#include "hvk/tlfs/bytes.h"
#include "hvk/tlfs/inputs.h"
#include "hvk/tlfs/registers.h"

namespace {

using namespace hvk;
using tlfs::CallCode;
using tlfs::HypercallControl;
using tlfs::Status;

class NullBackend final : public hv::Backend {
 public:
  void start_vp(const hv::StartRequest&) noexcept override {}
  void partition_state_changed(hv::PartitionState) noexcept override {}
};

// The calling VP's registers for Get/SetVpRegisters of general registers.
class FakeVpState final : public hv::VpState {
 public:
  tlfs::InitialVpContext context(tlfs::Vtl) override { return c_; }
  void set_context(tlfs::Vtl, const tlfs::InitialVpContext& c) override { c_ = c; }

 private:
  tlfs::InitialVpContext c_ = hv::linux_ap_context(0xffff'ffff'8100'0000ull, 0x8000);
};

struct Bed {
  static constexpr std::uint64_t kIn = 0x1000;
  static constexpr std::uint64_t kOut = 0x2000;
  explicit Bed(std::uint32_t vps, tlfs::PrivilegeMask privileges = hv::default_privileges()) {
    memory.add(0, ram);
    hv::PartitionConfig cfg;
    cfg.vp_count = vps;
    cfg.privileges = privileges;
    root = &hv.create_root(cfg);
    root->attach(&backend, &memory);
  }
  // A child of the root with `vps` VPs, `active` or just created.
  hv::Partition& child(bool active, std::uint32_t vps = 1) {
    hv::PartitionConfig cfg;
    cfg.vp_count = vps;
    cfg.privileges = hv::default_privileges();
    hv::Partition& c = hv.create_child(*root, cfg);
    c.attach(&backend, &memory);
    if (active) c.transition(hv::PartitionState::kCreated, hv::PartitionState::kActive);
    return c;
  }
  template <typename T>
  void input(const T& value) {
    memory.write(kIn, tlfs::as_bytes(value));
  }
  hv::Outcome call(HypercallControl c) {
    hv::VpCallState st{hv::ExecMode::k64Bit, 0, {}};
    st.regs.rcx = c.raw;
    st.regs.rdx = kIn;
    st.regs.r8 = kOut;
    return dispatcher.dispatch(*root, *root->vp(0), st, &registers);
  }
  std::vector<std::byte> ram = std::vector<std::byte>(0x10000);
  hv::MemoryMap memory;
  hv::Hypervisor hv;
  hv::Dispatcher dispatcher{hv};
  NullBackend backend;
  FakeVpState registers;
  hv::Partition* root = nullptr;
};

HypercallControl simple(CallCode code) {
  return HypercallControl::make(code);
}
HypercallControl rep(CallCode code, std::uint16_t count = 1) {
  return HypercallControl::make(code, false, count);
}

// Calls `c` once per iteration (after `reset`, which is timed too: an atomic store or two) and
// stops with an error if the status is ever not `want`.
template <typename Reset>
void run(benchmark::State& state, Bed& bed, HypercallControl c, Status want, Reset reset) {
  for (auto _ : state) {
    const hv::Outcome o = bed.call(c);
    if (o.result.status() != want) {
      state.SkipWithError(tlfs::status_name(o.result.status()));
      break;
    }
    reset();
  }
}
void run(benchmark::State& state, Bed& bed, HypercallControl c, Status want) {
  run(state, bed, c, want, [] {});
}

tlfs::StartVirtualProcessorInput start_input(tlfs::VpIndex vp) {
  tlfs::StartVirtualProcessorInput in{};
  in.partition_id = tlfs::kPartitionIdSelf;
  in.vp_index = vp;
  in.vp_context = hv::linux_ap_context(0xffff'ffff'8100'0000ull, 0xffff'c900'0000'8000ull);
  return in;
}

// --- HvCallStartVirtualProcessor -----------------------------------------------------------------

// A successful start: the target is returned to wait-for-SIPI between calls (one atomic store,
// included in the time), so every call does the whole check sequence and succeeds.
void BM_StartVirtualProcessor_Accepted(benchmark::State& state) {
  Bed bed(2);
  bed.input(start_input(1));
  run(state, bed, simple(CallCode::kStartVirtualProcessor), Status::kSuccess,
      [&] { bed.root->vp(1)->reset_to_wait_for_sipi(); });
}
BENCHMARK(BM_StartVirtualProcessor_Accepted);

// Rejected late: every check passes but the VP is already running (INVALID_VP_STATE).
void BM_StartVirtualProcessor_RejectedVpState(benchmark::State& state) {
  Bed bed(2);
  bed.input(start_input(0));
  run(state, bed, simple(CallCode::kStartVirtualProcessor), Status::kInvalidVpState);
}
BENCHMARK(BM_StartVirtualProcessor_RejectedVpState);

// Rejected at the control word (a reserved bit).
void BM_StartVirtualProcessor_RejectedControl(benchmark::State& state) {
  Bed bed(2);
  const HypercallControl c{simple(CallCode::kStartVirtualProcessor).raw | (1ull << 60)};
  run(state, bed, c, Status::kInvalidHypercallInput);
}
BENCHMARK(BM_StartVirtualProcessor_RejectedControl);

// --- HvCallGetVpIndexFromApicId ------------------------------------------------------------------

void BM_GetVpIndexFromApicId_Accepted(benchmark::State& state) {
  const auto reps = static_cast<std::uint16_t>(state.range(0));
  Bed bed(256);
  std::vector<std::byte> in(16 + 4 * reps);
  tlfs::store(std::span(in), tlfs::GetVpIndexFromApicIdHeader{tlfs::kPartitionIdSelf, {}, {}});
  for (std::uint16_t i = 0; i < reps; ++i) {
    tlfs::store(std::span(in), std::uint32_t{static_cast<std::uint32_t>((i * 37) % 256)},
                16 + 4u * i);
  }
  bed.memory.write(Bed::kIn, in);
  run(state, bed, rep(CallCode::kGetVpIndexFromApicId, reps), Status::kSuccess);
  state.SetItemsProcessed(state.iterations() * reps);
}
BENCHMARK(BM_GetVpIndexFromApicId_Accepted)->Arg(1)->Arg(64)->Arg(1000);

// Rejected at the header: a partition that does not exist.
void BM_GetVpIndexFromApicId_RejectedPartition(benchmark::State& state) {
  Bed bed(2);
  std::vector<std::byte> in(20);
  tlfs::store(std::span(in), tlfs::GetVpIndexFromApicIdHeader{0x1234, {}, {}});
  bed.memory.write(Bed::kIn, in);
  run(state, bed, rep(CallCode::kGetVpIndexFromApicId), Status::kInvalidPartitionId);
}
BENCHMARK(BM_GetVpIndexFromApicId_RejectedPartition);

// --- the parent/child partition calls ------------------------------------------------------------

// Accepted: the child goes created -> active; put back (one compare-and-swap) for the next call.
void BM_InitializePartition_Accepted(benchmark::State& state) {
  Bed bed(1);
  hv::Partition& c = bed.child(false);
  bed.input(tlfs::PartitionIdInput{c.id()});
  run(state, bed, simple(CallCode::kInitializePartition), Status::kSuccess,
      [&] { c.transition(hv::PartitionState::kActive, hv::PartitionState::kCreated); });
}
BENCHMARK(BM_InitializePartition_Accepted);

// Rejected late: the child is active already.
void BM_InitializePartition_RejectedState(benchmark::State& state) {
  Bed bed(1);
  bed.input(tlfs::PartitionIdInput{bed.child(true).id()});
  run(state, bed, simple(CallCode::kInitializePartition), Status::kInvalidPartitionState);
}
BENCHMARK(BM_InitializePartition_RejectedState);

void BM_FinalizePartition_Accepted(benchmark::State& state) {
  Bed bed(1);
  hv::Partition& c = bed.child(true);
  bed.input(tlfs::PartitionIdInput{c.id()});
  run(state, bed, simple(CallCode::kFinalizePartition), Status::kSuccess,
      [&] { c.transition(hv::PartitionState::kFinalized, hv::PartitionState::kActive); });
}
BENCHMARK(BM_FinalizePartition_Accepted);

// Rejected late: the child was never initialized.
void BM_FinalizePartition_RejectedState(benchmark::State& state) {
  Bed bed(1);
  bed.input(tlfs::PartitionIdInput{bed.child(false).id()});
  run(state, bed, simple(CallCode::kFinalizePartition), Status::kInvalidPartitionState);
}
BENCHMARK(BM_FinalizePartition_RejectedState);

// Accepted: the child (with no children of its own) is marked deleted; brought back to created.
void BM_DeletePartition_Accepted(benchmark::State& state) {
  Bed bed(1);
  hv::Partition& c = bed.child(true);
  bed.input(tlfs::PartitionIdInput{c.id()});
  run(state, bed, simple(CallCode::kDeletePartition), Status::kSuccess,
      [&] { c.transition(hv::PartitionState::kDeleted, hv::PartitionState::kCreated); });
}
BENCHMARK(BM_DeletePartition_Accepted);

// Rejected: the caller's own partition is not its child.
void BM_DeletePartition_RejectedNotAChild(benchmark::State& state) {
  Bed bed(1);
  bed.input(tlfs::PartitionIdInput{bed.root->id()});
  run(state, bed, simple(CallCode::kDeletePartition), Status::kInvalidPartitionId);
}
BENCHMARK(BM_DeletePartition_RejectedNotAChild);

void BM_GetNextChildPartition_Accepted(benchmark::State& state) {
  Bed bed(1);
  bed.child(true);
  bed.input(tlfs::GetNextChildPartitionInput{tlfs::kPartitionIdSelf, 0});
  run(state, bed, simple(CallCode::kGetNextChildPartition), Status::kSuccess);
}
BENCHMARK(BM_GetNextChildPartition_Accepted);

// Rejected: another partition's children.
void BM_GetNextChildPartition_RejectedParent(benchmark::State& state) {
  Bed bed(1);
  bed.input(tlfs::GetNextChildPartitionInput{bed.child(true).id(), 0});
  run(state, bed, simple(CallCode::kGetNextChildPartition), Status::kInvalidPartitionId);
}
BENCHMARK(BM_GetNextChildPartition_RejectedParent);

void BM_GetPartitionId_Accepted(benchmark::State& state) {
  Bed bed(1);
  run(state, bed, simple(CallCode::kGetPartitionId), Status::kSuccess);
}
BENCHMARK(BM_GetPartitionId_Accepted);

// Rejected: the partition lacks AccessPartitionId.
void BM_GetPartitionId_RejectedPrivilege(benchmark::State& state) {
  tlfs::PrivilegeMask p = hv::default_privileges();
  p.raw &= ~tlfs::privilege_bit(tlfs::Privilege::kAccessPartitionId);
  Bed bed(1, p);
  run(state, bed, simple(CallCode::kGetPartitionId), Status::kAccessDenied);
}
BENCHMARK(BM_GetPartitionId_RejectedPrivilege);

// --- VSM: EnablePartitionVtl, EnableVpVtl, Get/SetVpRegisters ------------------------------------

// A VTL is enabled once, so each accepted call needs a partition (or VP) that has not enabled it:
// they are made before the timed loop, and the loop runs exactly that many iterations.
constexpr std::int64_t kOneShotIterations = 20000;

void BM_EnablePartitionVtl_Accepted(benchmark::State& state) {
  Bed bed(1);
  std::vector<tlfs::PartitionId> children;
  for (std::int64_t i = 0; i < state.max_iterations; ++i) children.push_back(bed.child(true).id());
  std::size_t next = 0;
  for (auto _ : state) {
    bed.input(tlfs::EnablePartitionVtlInput{children[next++], 1, 0, {}});
    if (bed.call(simple(CallCode::kEnablePartitionVtl)).result.status() != Status::kSuccess) {
      state.SkipWithError("EnablePartitionVtl failed");
      break;
    }
  }
}
BENCHMARK(BM_EnablePartitionVtl_Accepted)->Iterations(kOneShotIterations);

// Rejected late: VTL 1 is enabled already.
void BM_EnablePartitionVtl_RejectedEnabled(benchmark::State& state) {
  Bed bed(1);
  bed.root->enable_vtl(1);
  bed.input(tlfs::EnablePartitionVtlInput{tlfs::kPartitionIdSelf, 1, 0, {}});
  run(state, bed, simple(CallCode::kEnablePartitionVtl), Status::kVtlAlreadyEnabled);
}
BENCHMARK(BM_EnablePartitionVtl_RejectedEnabled);

void BM_EnableVpVtl_Accepted(benchmark::State& state) {
  Bed bed(1);
  hv::Partition& c = bed.child(true, static_cast<std::uint32_t>(state.max_iterations));
  c.enable_vtl(1);
  tlfs::EnableVpVtlInput in = start_input(0);
  in.partition_id = c.id();
  in.target_vtl = 1;
  tlfs::VpIndex vp = 0;
  for (auto _ : state) {
    in.vp_index = vp++;
    bed.input(in);
    if (bed.call(simple(CallCode::kEnableVpVtl)).result.status() != Status::kSuccess) {
      state.SkipWithError("EnableVpVtl failed");
      break;
    }
  }
}
BENCHMARK(BM_EnableVpVtl_Accepted)->Iterations(kOneShotIterations);

// Rejected late: the VP has VTL 1 already.
void BM_EnableVpVtl_RejectedEnabled(benchmark::State& state) {
  Bed bed(2);
  bed.root->enable_vtl(1);
  tlfs::EnableVpVtlInput in = start_input(1);
  in.target_vtl = 1;
  bed.root->vp(1)->enable_vtl(1, in.vp_context);
  bed.input(in);
  run(state, bed, simple(CallCode::kEnableVpVtl), Status::kVtlAlreadyEnabled);
}
BENCHMARK(BM_EnableVpVtl_RejectedEnabled);

struct GetRegistersInput {
  tlfs::VpRegistersHeader header;
  tlfs::GetVpRegistersElement name;
};

void BM_GetVpRegisters_Accepted(benchmark::State& state) {
  Bed bed(1);
  bed.input(GetRegistersInput{{tlfs::kPartitionIdSelf, tlfs::kVpIndexSelf, {}, {}},
                              static_cast<std::uint32_t>(tlfs::RegisterName::kVsmVpStatus)});
  run(state, bed, rep(CallCode::kGetVpRegisters), Status::kSuccess);
}
BENCHMARK(BM_GetVpRegisters_Accepted);

// Rejected late: the header names a VP the partition does not have.
void BM_GetVpRegisters_RejectedVpIndex(benchmark::State& state) {
  Bed bed(1);
  bed.input(GetRegistersInput{{tlfs::kPartitionIdSelf, 0x7777, {}, {}},
                              static_cast<std::uint32_t>(tlfs::RegisterName::kVsmVpStatus)});
  run(state, bed, rep(CallCode::kGetVpRegisters), Status::kInvalidVpIndex);
}
BENCHMARK(BM_GetVpRegisters_RejectedVpIndex);

struct SetRegistersInput {
  tlfs::VpRegistersHeader header;
  tlfs::SetVpRegistersElement element;
};

// Accepted: the caller's own RIP, through the machine's register state (here a fake one).
void BM_SetVpRegisters_Accepted(benchmark::State& state) {
  Bed bed(1);
  bed.input(SetRegistersInput{
      {tlfs::kPartitionIdSelf, tlfs::kVpIndexSelf, {}, {}},
      {static_cast<std::uint32_t>(tlfs::RegisterName::kRip), 0, 0, {0xffff'ffff'8100'1000ull, 0}}});
  run(state, bed, rep(CallCode::kSetVpRegisters), Status::kSuccess);
}
BENCHMARK(BM_SetVpRegisters_Accepted);

// Rejected late: a register name hvk does not know.
void BM_SetVpRegisters_RejectedName(benchmark::State& state) {
  Bed bed(1);
  bed.input(SetRegistersInput{{tlfs::kPartitionIdSelf, tlfs::kVpIndexSelf, {}, {}},
                              {0x7777'7777, 0, 0, {0, 0}}});
  run(state, bed, rep(CallCode::kSetVpRegisters), Status::kInvalidParameter);
}
BENCHMARK(BM_SetVpRegisters_RejectedName);

// --- VtlCall / VtlReturn (not table calls: the machine asks transfer_vtl) ------------------------

// Accepted: VtlCall 0 -> 1 and VtlReturn 1 -> 0, one pair per iteration.
void BM_VtlCallReturn_Accepted(benchmark::State& state) {
  Bed bed(1);
  bed.root->enable_vtl(1);
  hv::Vp& vp = *bed.root->vp(0);
  vp.enable_vtl(1, start_input(0).vp_context);
  for (auto _ : state) {
    const hv::VtlTransfer call =
        hv::transfer_vtl(vp, hv::VtlDirection::kCall, hv::ExecMode::k64Bit, 0, 0);
    const hv::VtlTransfer ret =
        hv::transfer_vtl(vp, hv::VtlDirection::kReturn, hv::ExecMode::k64Bit, 0, 1);
    if (call.ud || ret.ud || call.to != 1 || ret.to != 0) {
      state.SkipWithError("VTL switch refused");
      break;
    }
  }
}
BENCHMARK(BM_VtlCallReturn_Accepted);

// Rejected: VtlCall with a reserved control bit (#UD).
void BM_VtlCall_RejectedControl(benchmark::State& state) {
  Bed bed(1);
  bed.root->enable_vtl(1);
  hv::Vp& vp = *bed.root->vp(0);
  vp.enable_vtl(1, start_input(0).vp_context);
  for (auto _ : state) {
    const hv::VtlTransfer t =
        hv::transfer_vtl(vp, hv::VtlDirection::kCall, hv::ExecMode::k64Bit, 0, 2);
    if (!t.ud) {
      state.SkipWithError("VtlCall with a reserved bit was accepted");
      break;
    }
  }
}
BENCHMARK(BM_VtlCall_RejectedControl);

// --- an unknown call code ------------------------------------------------------------------------

void BM_UnknownCallCode(benchmark::State& state) {
  Bed bed(1);
  run(state, bed, HypercallControl{0x7777}, Status::kInvalidHypercallCode);
}
BENCHMARK(BM_UnknownCallCode);

}  // namespace

BENCHMARK_MAIN();
