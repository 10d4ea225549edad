// fuzz_start_vp_input: the decoding of guest input bytes, one handler at a time, with nothing
// around the bytes (the dispatcher's 4 KiB stack buffers would hide an over-read from ASan).
//
//   1. The 240-byte HvCallStartVirtualProcessor input from the input's first bytes, and
//      check_initial_context on its context: a named fault, deterministic, and monotonic in the CPU
//      limits (a context accepted with fewer physical address bits or without LA57 is accepted
//      with more, or with it); an accepted context keeps the architectural rules it checks.
//   2. The machine's context conversion: HV_INITIAL_VP_CONTEXT -> kvm_regs/kvm_sregs -> back
//      gives the same context (less the segment attribute bits 11:8 and table padding, which
//      KVM's structures do not hold); kvm_segment -> TLFS -> kvm_segment keeps every field; the
//      hypercall registers survive call_state/store_call_regs.
//   3. Every call of the table: its trace formatter and its handler given exactly sized heap
//      copies of input bytes (header plus 1-8 rep elements), on a small partition tree; a
//      formatter always NUL-terminates within the buffer, a handler completes at most the reps
//      it was given.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "fuzz_check.h"
#include "hv/call_table.h"
#include "hv/calls.h"
#include "hv/context_check.h"
#include "hv/hypervisor.h"
#include "hv/linux_context.h"
#include "hvk/tlfs/bytes.h"
#include "hvk/tlfs/inputs.h"
#include "machine/vcpu_state.h"

namespace {

namespace hv = hvk::hv;
namespace tlfs = hvk::tlfs;
namespace machine = hvk::machine;

constexpr std::uint64_t kEferLme = 1ull << 8;
constexpr std::uint64_t kEferLma = 1ull << 10;
constexpr std::uint64_t kCr0Pe = 1ull << 0;
constexpr std::uint64_t kCr0Pg = 1ull << 31;
constexpr std::uint64_t kCr4Pae = 1ull << 5;

template <typename T>
T from_bytes(FuzzedDataProvider& in) {
  std::vector<std::uint8_t> b = in.ConsumeBytes<std::uint8_t>(sizeof(T));
  b.resize(sizeof(T));
  T v;
  std::memcpy(&v, b.data(), sizeof(T));
  return v;
}

// Calls `describe` with a heap buffer of exactly n bytes.
void check_describe(const hv::CallDescriptor& d, std::span<const std::byte> input,
                    std::size_t var_bytes, std::size_t n) {
  std::unique_ptr<char[]> buf(n == 0 ? nullptr : new char[n]);
  if (n != 0) std::memset(buf.get(), 'x', n);
  const std::size_t len = d.describe(input, var_bytes, buf.get(), n);
  if (n == 0) {
    HVK_FUZZ_CHECK(len == 0);
    return;
  }
  HVK_FUZZ_CHECK(len < n);
  HVK_FUZZ_CHECK(buf[len] == '\0');
  HVK_FUZZ_CHECK(std::strlen(buf.get()) == len);
}

void check_context(const tlfs::InitialVpContext& c, FuzzedDataProvider& in) {
  hv::CpuLimits cpu;
  cpu.phys_addr_bits = in.ConsumeIntegral<std::uint8_t>();
  cpu.la57 = in.ConsumeBool();
  const hv::ContextFault f = hv::check_initial_context(c, cpu);
  HVK_FUZZ_CHECK(f == hv::check_initial_context(c, cpu));
  const char* name = hv::context_fault_name(f);
  HVK_FUZZ_CHECK(name != nullptr && std::strcmp(name, "?") != 0);
  if (f != hv::ContextFault::kNone) return;

  // More physical address bits, or LA57 offered, accept everything fewer did.
  hv::CpuLimits more = cpu;
  more.la57 = true;
  HVK_FUZZ_CHECK(hv::check_initial_context(c, more) == hv::ContextFault::kNone);
  more.phys_addr_bits = static_cast<std::uint8_t>(cpu.phys_addr_bits < 64 ? cpu.phys_addr_bits + 1 : 64);
  HVK_FUZZ_CHECK(hv::check_initial_context(c, more) == hv::ContextFault::kNone);

  // The rules a CPU applies at VM entry, restated.
  HVK_FUZZ_CHECK((c.rflags & 2) != 0 && (c.rflags & (1ull << 17)) == 0);
  HVK_FUZZ_CHECK((c.cr0 >> 32) == 0);
  HVK_FUZZ_CHECK(!((c.cr0 & kCr0Pg) != 0 && (c.cr0 & kCr0Pe) == 0));
  const bool lma = (c.efer & kEferLma) != 0;
  HVK_FUZZ_CHECK(lma == ((c.efer & kEferLme) != 0 && (c.cr0 & kCr0Pg) != 0));
  if (lma) HVK_FUZZ_CHECK((c.cr4 & kCr4Pae) != 0);
  if (cpu.phys_addr_bits < 64) HVK_FUZZ_CHECK((c.cr3 >> cpu.phys_addr_bits) == 0);
  if (!(lma && c.cs.long_mode())) HVK_FUZZ_CHECK((c.rip >> 32) == 0);
}

tlfs::SegmentRegister kvm_view(tlfs::SegmentRegister s) {
  s.attributes = static_cast<std::uint16_t>(s.attributes & ~tlfs::seg_attr::kReservedMask);
  return s;
}

void check_conversion(const tlfs::InitialVpContext& c, FuzzedDataProvider& in) {
  // TLFS -> KVM -> TLFS, over KVM structures holding junk beforehand.
  kvm_regs regs = from_bytes<kvm_regs>(in);
  kvm_sregs sregs = from_bytes<kvm_sregs>(in);
  const kvm_regs regs_before = regs;
  machine::apply_context(regs, sregs, c);
  const tlfs::InitialVpContext back = machine::context_from_kvm(regs, sregs, c.msr_cr_pat);
  tlfs::InitialVpContext expect = c;
  for (tlfs::SegmentRegister* s : {&expect.cs, &expect.ds, &expect.es, &expect.fs, &expect.gs,
                                   &expect.ss, &expect.tr, &expect.ldtr}) {
    *s = kvm_view(*s);
  }
  for (tlfs::TableRegister* t : {&expect.idtr, &expect.gdtr}) {
    for (auto& p : t->pad) p = 0;
  }
  HVK_FUZZ_CHECK(back == expect);
  // Only RIP, RSP and RFLAGS of the general registers change.
  kvm_regs gp = regs;
  gp.rip = regs_before.rip;
  gp.rsp = regs_before.rsp;
  gp.rflags = regs_before.rflags;
  HVK_FUZZ_CHECK(std::memcmp(&gp, &regs_before, sizeof(gp)) == 0);
  HVK_FUZZ_CHECK(sregs.cs.unusable == (sregs.cs.present ? 0 : 1));

  // The dispatcher's view of the vCPU: the mode, the CPL, and the registers both ways.
  const hv::VpCallState st = machine::call_state(regs, sregs);
  HVK_FUZZ_CHECK(st.cpl == sregs.ss.dpl);
  if ((sregs.cr0 & kCr0Pe) == 0) HVK_FUZZ_CHECK(st.mode == hv::ExecMode::kReal);
  if (st.mode == hv::ExecMode::k64Bit) HVK_FUZZ_CHECK((sregs.efer & kEferLma) != 0 && sregs.cs.l != 0);
  kvm_regs stored = regs;
  machine::store_call_regs(stored, st.regs);
  HVK_FUZZ_CHECK(std::memcmp(&stored, &regs, sizeof(stored)) == 0);

  // KVM -> TLFS -> KVM keeps every field the TLFS holds; `unusable` follows `present`.
  const kvm_segment k = from_bytes<kvm_segment>(in);
  const kvm_segment k2 = machine::to_kvm_segment(machine::from_kvm_segment(k));
  HVK_FUZZ_CHECK(k2.base == k.base && k2.limit == k.limit && k2.selector == k.selector);
  HVK_FUZZ_CHECK(k2.type == (k.type & 0xF) && k2.s == (k.s & 1) && k2.dpl == (k.dpl & 3));
  HVK_FUZZ_CHECK(k2.present == (k.present & 1) && k2.avl == (k.avl & 1) && k2.l == (k.l & 1));
  HVK_FUZZ_CHECK(k2.db == (k.db & 1) && k2.g == (k.g & 1));
  HVK_FUZZ_CHECK(k2.unusable == (k2.present ? 0 : 1));
}

// A root partition (4 VPs, VTL 1 enabled on VP 0 and 1) and one active child, as the handlers'
// callers and targets.
struct Env {
  class Regs final : public hv::VpState {
   public:
    tlfs::InitialVpContext context(tlfs::Vtl vtl) override {
      HVK_FUZZ_CHECK(vtl <= tlfs::kMaxVtl);
      return c;
    }
    void set_context(tlfs::Vtl vtl, const tlfs::InitialVpContext& v) override {
      HVK_FUZZ_CHECK(vtl <= tlfs::kMaxVtl);
      c = v;
    }
    tlfs::InitialVpContext c = hv::linux_ap_context(0xffff'ffff'8100'0000ull, 0xffff'c900'0000'8000ull);
  };
  class NullBackend final : public hv::Backend {
   public:
    void start_vp(const hv::StartRequest&) noexcept override {}
    void partition_state_changed(hv::PartitionState) noexcept override {}
  };

  explicit Env(FuzzedDataProvider& in) {
    hv::PartitionConfig rc;
    rc.vp_count = 4;
    rc.privileges = in.ConsumeBool() ? hv::default_privileges()
                                     : tlfs::PrivilegeMask{in.ConsumeIntegral<std::uint64_t>()};
    rc.boot_vtl = in.ConsumeIntegralInRange<tlfs::Vtl>(0, tlfs::kMaxVtl);
    root = &hv.create_root(rc);
    root->attach(&backend, nullptr);
    root->enable_vtl(1);
    root->vp(1)->enable_vtl(1, regs.c);
    hv::PartitionConfig cc;
    cc.vp_count = 2;
    cc.privileges = hv::default_privileges();
    child = &hv.create_child(*root, cc);
    child->attach(&backend, nullptr);
    child->transition(hv::PartitionState::kCreated, hv::PartitionState::kActive);
  }

  hv::Hypervisor hv;
  NullBackend backend;
  Regs regs;
  hv::Partition* root = nullptr;
  hv::Partition* child = nullptr;
};

void check_calls(FuzzedDataProvider& in) {
  Env env(in);
  const auto calls = hv::all_calls();
  while (in.remaining_bytes() > 0) {
    const hv::CallDescriptor& d = calls[in.ConsumeIntegralInRange<std::size_t>(0, calls.size() - 1)];
    const std::size_t batch = d.rep ? in.ConsumeIntegralInRange<std::size_t>(1, 8) : 0;
    // A variable header (the Ex calls' VP-set banks): up to 66 quadwords, past the 64 banks.
    const std::size_t var_bytes = d.var_header ? 8 * in.ConsumeIntegralInRange<std::size_t>(0, 66) : 0;
    const std::size_t in_size = d.input_size + var_bytes + batch * d.in_element;
    const std::size_t out_size = d.rep ? batch * d.out_element : d.output_size;
    // Exactly sized heap copies: a read or write past either end is an ASan report.
    std::vector<std::uint8_t> bytes = in.ConsumeBytes<std::uint8_t>(in_size);
    bytes.resize(in_size);
    const std::unique_ptr<std::byte[]> input(new std::byte[in_size == 0 ? 1 : in_size]);
    if (in_size != 0) std::memcpy(input.get(), bytes.data(), in_size);
    const std::unique_ptr<std::byte[]> output(new std::byte[out_size == 0 ? 1 : out_size]);
    const std::span<const std::byte> in_span(input.get(), in_size);
    const std::span<std::byte> out_span(output.get(), out_size);

    check_describe(d, in_span, var_bytes, in.ConsumeIntegralInRange<std::size_t>(0, 300));

    hv::Partition& p = in.ConsumeBool() ? *env.root : *env.child;
    hv::Vp& vp = *p.vp(in.ConsumeIntegralInRange<std::uint32_t>(0, p.vp_count() - 1));
    hv::CallContext ctx{env.hv, p, vp, vp.current_vtl(), in.ConsumeBool() ? &env.regs : nullptr};
    const hv::RepResult r = d.invoke(ctx, in_span, var_bytes, out_span);
    HVK_FUZZ_CHECK(tlfs::status_name(r.status) != nullptr);
    HVK_FUZZ_CHECK(r.completed <= batch);
    if (d.rep && r.status == tlfs::Status::kSuccess) HVK_FUZZ_CHECK(r.completed == batch);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const auto start = from_bytes<tlfs::StartVirtualProcessorInput>(in);

  check_context(start.vp_context, in);
  check_conversion(start.vp_context, in);

  // The trace formatter of StartVirtualProcessor, for every buffer size around its output.
  const auto& d = *hv::find_call(static_cast<std::uint16_t>(tlfs::CallCode::kStartVirtualProcessor));
  check_describe(d, tlfs::as_bytes(start), 0, in.ConsumeIntegralInRange<std::size_t>(0, 300));

  check_calls(in);
  return 0;
}
