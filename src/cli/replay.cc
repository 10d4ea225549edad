#include "cli/replay.h"

#include <fmt/format.h>

#include <cstdio>
#include <vector>

#include "hv/dispatcher.h"
#include "hv/hypervisor.h"
#include "hv/linux_context.h"
#include "hvk/tlfs/bytes.h"
#include "hvk/tlfs/inputs.h"

namespace hvk::cli {

namespace {

using hv::Action;
using tlfs::CallCode;
using tlfs::HypercallControl;
using tlfs::Status;

constexpr std::uint64_t kRamSize = 1 << 20;
constexpr std::uint64_t kInputGpa = 0x10000;
constexpr std::uint64_t kOutputGpa = 0x11000;

class PrintingBackend final : public hv::Backend {
 public:
  explicit PrintingBackend(const char* name) : name_(name) {}
  void start_vp(const hv::StartRequest& r) noexcept override {
    fmt::print("  -> {}: VP {} starts in VTL {} at rip={:#x} rsp={:#x}\n", name_, r.vp_index,
               r.run_vtl, r.context.rip, r.context.rsp);
  }
  void partition_state_changed(hv::PartitionState s) noexcept override {
    fmt::print("  -> {}: now {}\n", name_, hv::partition_state_name(s));
  }

 private:
  const char* name_;
};

class PrintingTrace final : public hv::TraceSink {
 public:
  void on_call(const hv::TraceRecord& r) noexcept override {
    const char* name = r.call != nullptr ? tlfs::call_name(r.call->code) : "unknown call";
    fmt::print("P{} VP{} VTL{} {} ({:#06x}) {}\n", r.partition->id(), r.vp, r.vtl, name,
               r.control.code(), r.input_text);
  }
};

struct Replay {
  hv::Hypervisor hv;
  hv::Dispatcher dispatcher{hv};
  std::vector<std::byte> ram = std::vector<std::byte>(kRamSize);
  hv::MemoryMap memory;
  int failures = 0;

  template <typename In>
  Status call(hv::Partition& p, hv::Vp& vp, HypercallControl control, const In& input,
              Status expect) {
    memory.write(kInputGpa, tlfs::as_bytes(input));
    hv::VpCallState st{hv::ExecMode::k64Bit, 0, {}};
    st.regs.rcx = control.raw;
    st.regs.rdx = kInputGpa;
    st.regs.r8 = kOutputGpa;
    hv::Outcome o = dispatcher.dispatch(p, vp, st);
    while (o.action == Action::kRetry) o = dispatcher.dispatch(p, vp, st);
    const Status s = o.result.status();
    const bool ok = s == expect;
    failures += ok ? 0 : 1;
    fmt::print("  = {} reps={}{}\n", tlfs::status_name(s), o.result.reps_completed(),
               ok ? "" : fmt::format("   UNEXPECTED, wanted {}", tlfs::status_name(expect)));
    return s;
  }

  std::uint32_t output_u32(std::size_t i) {
    std::uint32_t v = 0;
    memory.read(kOutputGpa + 4 * i, std::span(reinterpret_cast<std::byte*>(&v), sizeof v));
    return v;
  }
};

tlfs::StartVirtualProcessorInput start_input(tlfs::PartitionId pid, tlfs::VpIndex vp, tlfs::Vtl vtl,
                                             const tlfs::InitialVpContext& ctx) {
  tlfs::StartVirtualProcessorInput in{};
  in.partition_id = pid;
  in.vp_index = vp;
  in.target_vtl = vtl;
  in.vp_context = ctx;
  return in;
}

}  // namespace

int replay(const ReplayOptions& opt) {
  Replay r;
  r.memory.add(0, r.ram);
  PrintingTrace trace;
  if (opt.trace) r.dispatcher.set_trace(&trace);

  hv::PartitionConfig root_cfg;
  root_cfg.vp_count = opt.vps;
  root_cfg.privileges = hv::default_privileges();
  hv::Partition& root = r.hv.create_root(root_cfg);
  PrintingBackend root_backend("partition 1");
  root.attach(&root_backend, &r.memory);

  hv::PartitionConfig child_cfg;
  child_cfg.vp_count = 1;
  child_cfg.privileges = hv::default_privileges();
  hv::Partition& child = r.hv.create_child(root, child_cfg);
  PrintingBackend child_backend("partition 2");
  child.attach(&child_backend, nullptr);

  hv::Vp& bsp = *root.vp(0);
  const auto self = tlfs::kPartitionIdSelf;
  fmt::print("hvk replay: partition {} with {} VPs (VP 0 running), child partition {}\n", root.id(),
             root.vp_count(), child.id());

  fmt::print(
      "\n# Linux-style bring-up: each AP's VP index from its APIC ID, then a 64-bit start\n");
  for (std::uint32_t apic = 1; apic < opt.vps; ++apic) {
    struct {
      tlfs::GetVpIndexFromApicIdHeader h;
      std::uint32_t apic_id;
    } q{{self, tlfs::InputVtl::current(), {}}, apic};
    r.call(root, bsp, HypercallControl::make(CallCode::kGetVpIndexFromApicId, false, 1), q,
           Status::kSuccess);
    const tlfs::VpIndex vp = r.output_u32(0);
    const auto ctx =
        hv::linux_ap_context(0xffff'ffff'8100'0000ull, 0xffff'c900'0000'8000ull + vp * 0x4000ull);
    r.call(root, bsp, HypercallControl::make(CallCode::kStartVirtualProcessor),
           start_input(self, vp, 0, ctx), Status::kSuccess);
  }

  fmt::print("\n# What the engine refuses\n");
  const auto good = hv::linux_ap_context(0xffff'ffff'8100'0000ull, 0x8000);
  auto bad = good;
  bad.rip = 0x0000'8000'0000'0000ull;  // not canonical
  r.call(root, bsp, HypercallControl::make(CallCode::kStartVirtualProcessor),
         start_input(self, 0, 0, good), Status::kInvalidVpState);
  r.call(root, bsp, HypercallControl::make(CallCode::kStartVirtualProcessor),
         start_input(self, opt.vps, 0, good), Status::kInvalidVpIndex);
  r.call(root, bsp, HypercallControl::make(CallCode::kStartVirtualProcessor),
         start_input(self, 0, 1, good), Status::kAccessDenied);
  r.call(root, bsp, HypercallControl::make(CallCode::kStartVirtualProcessor, false, 1),
         start_input(self, 0, 0, good), Status::kInvalidHypercallInput);
  r.call(root, bsp, HypercallControl{0x0099 | (1ull << 27)}, start_input(self, 0, 0, good),
         Status::kInvalidHypercallInput);
  r.call(root, bsp, HypercallControl{0x7777}, start_input(self, 0, 0, good),
         Status::kInvalidHypercallCode);

  fmt::print("\n# A child partition, driven by its parent\n");
  const tlfs::PartitionId cid = child.id();
  r.call(root, bsp, HypercallControl::make(CallCode::kGetNextChildPartition),
         tlfs::GetNextChildPartitionInput{self, 0}, Status::kSuccess);
  r.call(root, bsp, HypercallControl::make(CallCode::kStartVirtualProcessor),
         start_input(cid, 0, 0, good), Status::kInvalidPartitionState);
  r.call(root, bsp, HypercallControl::make(CallCode::kInitializePartition),
         tlfs::PartitionIdInput{cid}, Status::kSuccess);
  r.call(root, bsp, HypercallControl::make(CallCode::kStartVirtualProcessor),
         start_input(cid, 0, 0, bad), Status::kInvalidRegisterValue);
  r.call(root, bsp, HypercallControl::make(CallCode::kStartVirtualProcessor),
         start_input(cid, 0, 0, good), Status::kSuccess);
  r.call(root, bsp, HypercallControl::make(CallCode::kFinalizePartition),
         tlfs::PartitionIdInput{cid}, Status::kSuccess);
  r.call(root, bsp, HypercallControl::make(CallCode::kDeletePartition), tlfs::PartitionIdInput{cid},
         Status::kSuccess);
  r.call(root, bsp, HypercallControl::make(CallCode::kStartVirtualProcessor),
         start_input(cid, 0, 0, good), Status::kInvalidPartitionId);

  fmt::print("\nhvk replay: {}\n", r.failures == 0
                                       ? "every call got the expected status"
                                       : fmt::format("{} unexpected statuses", r.failures));
  return r.failures == 0 ? 0 : 1;
}

}  // namespace hvk::cli
