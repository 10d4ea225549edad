// fuzz_dispatcher: the hypercall engine as a guest sees it, driven the way the machine drives it.
//
// Each input builds a Hypervisor (a root partition and up to two children, in random states, with
// random VP counts, privileges, VTLs, APIC IDs and guest memory), then runs a script of steps:
// guest memory writes (raw bytes or well-formed inputs), hypercalls with random modes, CPLs,
// control words (biased toward hvk's call codes) and GPAs, VTL calls and returns, synthetic MSR
// reads and writes, and INITs. After every step the invariants below are checked; a violation
// aborts, so libFuzzer reports the input.
//
//   - every call gets #UD exactly when it is made outside CPL 0 protected/long mode, and then no
//     register changes; otherwise a status the TLFS names, no reserved result bits, and the
//     result (or, for kRetry, the control word) in the registers the convention names;
//   - reps completed <= rep count; kRetry only for rep calls, with SUCCESS, progress past the
//     rep start and fewer reps than the count; a rep call that succeeds completes every rep;
//   - guest memory changes only inside the output the call named (and only what it completed);
//   - a well-formed memory-form call is refused with INVALID_ALIGNMENT exactly when its input or
//     output range breaks a GPA rule (8-byte aligned, one page, all RAM), by an independent
//     reference (check_gpa_rules);
//   - the backend hears of a start only for a StartVirtualProcessor that returned SUCCESS, for
//     the VP and VTL it named, running the VP's highest enabled VTL;
//   - at most one successful start per (partition, VP, VTL) until that VP is reset to
//     wait-for-SIPI (INIT), counting the boot VP, VPs woken by INIT-SIPI and the VTL a start
//     runs first; the engine never forgets a start without such a reset;
//   - VtlCall/VtlReturn move only up/down to an enabled VTL and leave the VP alone on #UD;
//   - the synthetic MSRs follow their privilege bits, VP_INDEX is read-only, a locked hypercall
//     MSR ignores writes, and the hypercall page is installed exactly when enabled.
//
// The input is read with FuzzedDataProvider (numbers from the end, byte strings from the front);
// corpus/make_seeds.py writes seeds in the same encoding. HVK_FUZZ_VERBOSE=1 logs every step.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "fuzz_check.h"
#include "hv/context_check.h"
#include "hv/dispatcher.h"
#include "hv/hypervisor.h"
#include "hv/linux_context.h"
#include "hv/synthetic_msrs.h"
#include "hv/vp_registers.h"
#include "hv/vtl_switch.h"
#include "hvk/tlfs/bytes.h"
#include "hvk/tlfs/inputs.h"
#include "hvk/tlfs/registers.h"

namespace {

using hvk::fuzz::log_line;
namespace hv = hvk::hv;
namespace tlfs = hvk::tlfs;

constexpr std::size_t kMaxPartitions = 3;  // the root and up to two children
constexpr std::uint32_t kMaxVps = 8;
constexpr int kMaxSteps = 96;
constexpr int kMaxRetries = 64;  // re-executions of one paused rep call

// Call codes the control word is biased toward: every call hvk implements, the VTL switches
// (which are not table calls) and one it does not know.
constexpr std::uint16_t kCodes[] = {0x000D, 0x000F, 0x0041, 0x0042, 0x0043, 0x0046, 0x0047,
                                    0x0050, 0x0051, 0x0099, 0x009A, 0x0011, 0x0012, 0x0002};

constexpr tlfs::RegisterName kRegisterNames[] = {
    tlfs::RegisterName::kRsp,    tlfs::RegisterName::kRip,
    tlfs::RegisterName::kRflags, tlfs::RegisterName::kCr0,
    tlfs::RegisterName::kCr3,    tlfs::RegisterName::kCr4,
    tlfs::RegisterName::kEs,     tlfs::RegisterName::kCs,
    tlfs::RegisterName::kSs,     tlfs::RegisterName::kDs,
    tlfs::RegisterName::kFs,     tlfs::RegisterName::kGs,
    tlfs::RegisterName::kLdtr,   tlfs::RegisterName::kTr,
    tlfs::RegisterName::kIdtr,   tlfs::RegisterName::kGdtr,
    tlfs::RegisterName::kEfer,   tlfs::RegisterName::kPat,
    tlfs::RegisterName::kVsmCodePageOffsets, tlfs::RegisterName::kVsmVpStatus,
    tlfs::RegisterName::kVsmPartitionStatus, tlfs::RegisterName::kVsmVina,
    tlfs::RegisterName::kVsmCapabilities,    tlfs::RegisterName::kVsmPartitionConfig,
    tlfs::RegisterName::kVsmVpSecureConfigVtl0,
};

constexpr tlfs::InitialVpContext good_context() {
  return hv::linux_ap_context(0xffff'ffff'8100'0000ull, 0xffff'c900'0000'8000ull);
}

bool legal_mode(hv::ExecMode mode, std::uint8_t cpl) {
  return (mode == hv::ExecMode::kProtected || mode == hv::ExecMode::k64Bit) && cpl == 0;
}

// A call's memory shape, from the TLFS input and output types (not from the dispatcher's call
// table): the simple input or rep header, the simple output, and the rep element sizes.
struct CallShape {
  bool rep;
  std::uint64_t input, output, in_element, out_element;
};

std::optional<CallShape> call_shape(std::uint16_t code) {
  namespace t = tlfs;
  using C = t::CallCode;
  const auto simple = [](std::uint64_t in, std::uint64_t out) {
    return CallShape{false, in, out, 0, 0};
  };
  const auto rep = [](std::uint64_t header, std::uint64_t in, std::uint64_t out) {
    return CallShape{true, header, 0, in, out};
  };
  switch (static_cast<C>(code)) {
    case C::kStartVirtualProcessor:
    case C::kEnableVpVtl: return simple(sizeof(t::StartVirtualProcessorInput), 0);
    case C::kEnablePartitionVtl: return simple(sizeof(t::EnablePartitionVtlInput), 0);
    case C::kInitializePartition:
    case C::kFinalizePartition:
    case C::kDeletePartition: return simple(sizeof(t::PartitionIdInput), 0);
    case C::kGetNextChildPartition:
      return simple(sizeof(t::GetNextChildPartitionInput), sizeof(t::GetNextChildPartitionOutput));
    case C::kGetPartitionId: return simple(0, sizeof(t::GetPartitionIdOutput));
    case C::kGetVpRegisters:
      return rep(sizeof(t::VpRegistersHeader), sizeof(t::GetVpRegistersElement),
                 sizeof(t::RegisterValue));
    case C::kSetVpRegisters:
      return rep(sizeof(t::VpRegistersHeader), sizeof(t::SetVpRegistersElement), 0);
    case C::kGetVpIndexFromApicId:
      return rep(sizeof(t::GetVpIndexFromApicIdHeader), sizeof(t::ApicIdElement),
                 sizeof(t::VpIndexElement));
    default: return std::nullopt;  // unknown, or not a table call (VtlCall, VtlReturn)
  }
}

// One partition's guest RAM: a few regions, each an exactly sized heap block (so ASan sees any
// access past one), and a shadow copy to find what a step changed.
struct Guest {
  struct Region {
    std::uint64_t gpa;
    std::vector<std::byte> ram;
    std::vector<std::byte> shadow;
  };
  std::vector<Region> regions;
  hv::MemoryMap map;

  bool add(std::uint64_t gpa, std::size_t pages) {
    Region r{gpa, std::vector<std::byte>(pages * tlfs::kPageSize), {}};
    r.shadow = r.ram;
    regions.reserve(hv::MemoryMap::kMaxRegions);  // no reallocation: the map points into them
    if (regions.size() == regions.capacity()) return false;
    regions.push_back(std::move(r));
    if (!map.add(gpa, regions.back().ram)) {
      regions.pop_back();
      return false;
    }
    return true;
  }

  // A write made by the fuzzer itself (the guest writing its own memory).
  void write(std::uint64_t gpa, std::span<const std::byte> bytes) {
    if (bytes.empty() || !map.write(gpa, bytes)) return;
    for (Region& r : regions) {
      if (gpa >= r.gpa && gpa - r.gpa < r.ram.size()) {
        std::memcpy(r.shadow.data() + (gpa - r.gpa), bytes.data(), bytes.size());
      }
    }
  }

  // Every byte that changed since the last sync must lie in [lo, hi); then the shadow catches up.
  bool changed_only_within(std::uint64_t lo, std::uint64_t hi) {
    bool ok = true;
    for (Region& r : regions) {
      if (std::memcmp(r.ram.data(), r.shadow.data(), r.ram.size()) == 0) continue;
      for (std::size_t i = 0; i < r.ram.size(); ++i) {
        if (r.ram[i] == r.shadow[i]) continue;
        const std::uint64_t gpa = r.gpa + i;
        if (gpa < lo || gpa >= hi) {
          log_line("  memory changed at gpa %#llx outside [%#llx, %#llx)\n",
              static_cast<unsigned long long>(gpa), static_cast<unsigned long long>(lo),
              static_cast<unsigned long long>(hi));
          ok = false;
        }
      }
      r.shadow = r.ram;
    }
    return ok;
  }
};

class Harness;

// The machine side of a partition: start requests and state changes go to the harness.
class FuzzBackend final : public hv::Backend {
 public:
  FuzzBackend(Harness& h, std::size_t part) : h_(h), part_(part) {}
  void start_vp(const hv::StartRequest& request) noexcept override;
  void partition_state_changed(hv::PartitionState state) noexcept override;
  void refresh_vp_state(tlfs::VpIndex vp_index) noexcept override;

 private:
  Harness& h_;
  std::size_t part_;
};

// A VP's registers per VTL, as the machine holds them during a call.
class FuzzVpState final : public hv::VpState {
 public:
  FuzzVpState(const hv::Partition& p, const hv::Vp& vp) : p_(p), vp_(vp) {
    contexts_.fill(good_context());
  }
  tlfs::InitialVpContext context(tlfs::Vtl vtl) override {
    HVK_FUZZ_CHECK(vtl <= tlfs::kMaxVtl);
    return contexts_[vtl];
  }
  void set_context(tlfs::Vtl vtl, const tlfs::InitialVpContext& c) override {
    // The engine writes only registers a CPU would accept, of a VTL the VP has.
    HVK_FUZZ_CHECK(vtl <= tlfs::kMaxVtl);
    HVK_FUZZ_CHECK(vp_.vtl_enabled(vtl));
    HVK_FUZZ_CHECK(hv::check_initial_context(c, p_.cpu_limits()) == hv::ContextFault::kNone);
    contexts_[vtl] = c;
  }
  void set(tlfs::Vtl vtl, const tlfs::InitialVpContext& c) { contexts_[vtl] = c; }

 private:
  const hv::Partition& p_;
  const hv::Vp& vp_;
  std::array<tlfs::InitialVpContext, tlfs::kMaxVtl + 1> contexts_{};
};

class FuzzTrace final : public hv::TraceSink {
 public:
  void on_call(const hv::TraceRecord& r) noexcept override {
    HVK_FUZZ_CHECK(r.input_text != nullptr);
    HVK_FUZZ_CHECK(::strnlen(r.input_text, 512) < 512);
    last = r;
    ++count;
  }
  hv::TraceRecord last{};
  int count = 0;
};

struct Part {
  hv::Partition* p = nullptr;
  std::unique_ptr<Guest> guest;  // null: the partition has no memory attached
  std::unique_ptr<FuzzBackend> backend;  // null: no backend attached
  std::vector<std::unique_ptr<FuzzVpState>> states;
};

struct RecordedStart {
  std::size_t part;
  hv::StartRequest request;
};

class Harness {
 public:
  explicit Harness(FuzzedDataProvider& in) : in_(in) {}

  void run() {
    setup();
    for (int step = 0; step < kMaxSteps && in_.remaining_bytes() > 0; ++step) {
      switch (in_.ConsumeIntegralInRange<int>(0, 9)) {
        case 0: case 4: case 9: dispatch_op(); break;
        case 1: write_start_op(); break;
        case 2: write_header_op(); break;
        case 3: write_raw_op(); break;
        case 5: transfer_op(); break;
        case 6: msr_op(); break;
        case 7: init_op(); break;
        default: set_state_op(); break;
      }
      check_started_model();
    }
  }

  // Backend callbacks.
  void on_start(std::size_t part, const hv::StartRequest& r) {
    HVK_FUZZ_CHECK(in_call_);
    starts_.push_back({part, r});
  }
  void on_state(std::size_t part, hv::PartitionState s) {
    HVK_FUZZ_CHECK(parts_[part].p == nullptr || parts_[part].p->state() == s);
  }
  void on_refresh(std::size_t part, tlfs::VpIndex vp) {
    HVK_FUZZ_CHECK(in_call_);
    hv::Partition* p = parts_[part].p;
    HVK_FUZZ_CHECK(vp < p->vp_count());
    // The machine may find that an INIT put the VP back in wait-for-SIPI.
    if (init_on_refresh_) init(part, vp);
  }

 private:
  // --- choices -----------------------------------------------------------------------------

  template <typename T>
  T pick(std::span<const T> options) {
    return options[in_.ConsumeIntegralInRange<std::size_t>(0, options.size() - 1)];
  }

  tlfs::PrivilegeMask privileges() {
    const std::uint64_t def = hv::default_privileges().raw;
    switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
      case 0: return {def};
      case 1: return {def & ~(std::uint64_t{1} << in_.ConsumeIntegralInRange<unsigned>(0, 63))};
      case 2: return {def ^ in_.ConsumeIntegral<std::uint64_t>()};
      default: return {in_.ConsumeIntegral<std::uint64_t>()};
    }
  }

  tlfs::InitialVpContext context() {
    tlfs::InitialVpContext c = good_context();
    switch (in_.ConsumeIntegralInRange<int>(0, 2)) {
      case 0: break;
      case 1: {  // one qword of a good context changed
        std::array<std::uint64_t, sizeof(c) / 8> words{};
        std::memcpy(words.data(), &c, sizeof(c));
        const std::size_t word = in_.ConsumeIntegralInRange<std::size_t>(0, words.size() - 1);
        words[word] ^= in_.ConsumeIntegral<std::uint64_t>();
        std::memcpy(&c, words.data(), sizeof(c));
        break;
      }
      default: {  // raw bytes
        std::vector<std::uint8_t> bytes = in_.ConsumeBytes<std::uint8_t>(sizeof(c));
        bytes.resize(sizeof(c));
        std::memcpy(&c, bytes.data(), sizeof(c));
        break;
      }
    }
    return c;
  }

  hv::PartitionConfig config() {
    hv::PartitionConfig c;
    c.vp_count = in_.ConsumeIntegralInRange<std::uint32_t>(1, kMaxVps);
    c.privileges = privileges();
    // kMaxVtl first: the all-zero choice is the richest.
    constexpr tlfs::Vtl kMaxVtls[] = {tlfs::kMaxVtl, 0, 1, 3};
    c.max_vtl = pick<tlfs::Vtl>(kMaxVtls);
    c.boot_vtl = in_.ConsumeIntegralInRange<tlfs::Vtl>(0, std::min(c.max_vtl, tlfs::kMaxVtl));
    if (in_.ConsumeBool()) {
      for (std::uint32_t i = 0; i < c.vp_count; ++i) {
        std::uint32_t id = in_.ConsumeBool() ? in_.ConsumeIntegral<std::uint32_t>()
                                             : in_.ConsumeIntegralInRange<std::uint32_t>(0, 15);
        while (std::find(c.apic_ids.begin(), c.apic_ids.end(), id) != c.apic_ids.end()) ++id;
        c.apic_ids.push_back(id);
      }
    }
    constexpr std::uint8_t kPhysBits[] = {48, 36, 52, 64};
    c.cpu.phys_addr_bits = pick<std::uint8_t>(kPhysBits);
    c.cpu.la57 = in_.ConsumeBool();
    return c;
  }

  std::unique_ptr<Guest> guest(bool root) {
    if (!root && in_.ConsumeIntegralInRange<int>(0, 7) == 7) return nullptr;
    auto g = std::make_unique<Guest>();
    g->add(0, in_.ConsumeIntegralInRange<std::size_t>(1, root ? 8 : 4));
    if (in_.ConsumeBool()) {
      std::uint64_t gpa = 0;
      switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
        case 0: gpa = 0x10'0000; break;
        case 1: gpa = 0xFFFF'FFFF'FFFF'0000ull; break;  // at the top of the address space
        case 2: gpa = 0xFFFF'E000ull; break;            // straddling 4 GiB
        default: gpa = in_.ConsumeIntegral<std::uint64_t>() & ~std::uint64_t{0xFFF}; break;
      }
      g->add(gpa, in_.ConsumeIntegralInRange<std::size_t>(1, 4));  // refused if it wraps/overlaps
    }
    return g;
  }

  void setup() {
    hv::DispatcherOptions options;
    switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
      case 0: break;
      case 1: options.max_reps_per_entry = 1; break;
      case 2: options.max_reps_per_entry = in_.ConsumeIntegralInRange<std::uint16_t>(0, 8); break;
      default: options.max_reps_per_entry = in_.ConsumeIntegral<std::uint16_t>(); break;
    }
    dispatcher_ = std::make_unique<hv::Dispatcher>(hv_, options);
    trace_enabled_ = in_.ConsumeBool();
    if (trace_enabled_) dispatcher_->set_trace(&trace_);

    const std::size_t children = in_.ConsumeIntegralInRange<std::size_t>(0, kMaxPartitions - 1);
    for (std::size_t i = 0; i <= children; ++i) {
      const bool root = i == 0;
      hv::PartitionConfig cfg = config();
      Part part;
      part.guest = guest(root);
      const bool backend = root || in_.ConsumeIntegralInRange<int>(0, 7) != 7;
      if (backend) part.backend = std::make_unique<FuzzBackend>(*this, i);
      // A child's parent: the root, or the previous child (a grandchild).
      hv::Partition* parent = root ? nullptr : parts_[i > 1 && in_.ConsumeBool() ? i - 1 : 0].p;
      parts_.push_back(std::move(part));
      Part& pt = parts_.back();
      pt.p = root ? &hv_.create_root(cfg) : &hv_.create_child(*parent, cfg);
      HVK_FUZZ_CHECK(pt.p->id() == i + 1);
      pt.p->attach(pt.backend.get(), pt.guest ? &pt.guest->map : nullptr);
      if (root) {
        started(0, 0, cfg.boot_vtl) = true;  // the boot VP runs in its boot VTL
      } else {
        switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
          case 0: pt.p->transition(hv::PartitionState::kCreated, hv::PartitionState::kActive); break;
          case 1: break;  // created, not initialized
          case 2:
            pt.p->transition(hv::PartitionState::kCreated, hv::PartitionState::kActive);
            pt.p->transition(hv::PartitionState::kActive, hv::PartitionState::kFinalized);
            break;
          default: hv_.delete_tree(*pt.p); break;
        }
      }
      for (std::uint32_t v = 0; v < pt.p->vp_count(); ++v) {
        pt.states.push_back(std::make_unique<FuzzVpState>(*pt.p, *pt.p->vp(v)));
      }
      setup_vtls(i);
    }
  }

  // VTLs enabled on the partition and its VPs, VPs already running (woken by INIT-SIPI), VSM
  // configuration: states the engine reaches through calls the fuzzer would need long to find.
  void setup_vtls(std::size_t pi) {
    hv::Partition& p = *parts_[pi].p;
    for (tlfs::Vtl v = 1; v <= p.max_vtl(); ++v) {
      if (in_.ConsumeBool()) p.enable_vtl(v);
    }
    for (std::uint32_t i = 0; i < p.vp_count(); ++i) {
      hv::Vp& vp = *p.vp(i);
      for (tlfs::Vtl v = 1; v <= p.max_vtl(); ++v) {
        if (p.vtl_enabled(v) && !vp.vtl_enabled(v) && in_.ConsumeBool()) {
          vp.enable_vtl(v, context());
        }
      }
      if (!(pi == 0 && i == 0) && in_.ConsumeIntegralInRange<int>(0, 3) == 3) {
        const tlfs::Vtl v = vp.highest_enabled_vtl();
        vp.set_current_vtl(v);
        vp.mark_running_in(v);
        started(pi, i, v) = true;
      }
    }
    for (tlfs::Vtl v = 1; v <= p.max_vtl(); ++v) {
      if (p.vtl_enabled(v) && in_.ConsumeIntegralInRange<int>(0, 3) == 3) {
        p.set_vsm_config(v, in_.ConsumeIntegral<std::uint64_t>() & 0x1FFF);
      }
    }
  }

  std::size_t pick_part() { return in_.ConsumeIntegralInRange<std::size_t>(0, parts_.size() - 1); }
  std::uint32_t pick_vp(std::size_t pi) {
    return in_.ConsumeIntegralInRange<std::uint32_t>(0, parts_[pi].p->vp_count() - 1);
  }

  tlfs::PartitionId partition_id() {
    switch (in_.ConsumeIntegralInRange<int>(0, 6)) {
      case 0: return tlfs::kPartitionIdSelf;
      case 1: return 1;
      case 2: return 2;
      case 3: return 3;
      case 4: return tlfs::kPartitionIdInvalid;
      case 5: return 4;  // never created
      default: return in_.ConsumeIntegral<std::uint64_t>();
    }
  }

  tlfs::VpIndex vp_index() {
    switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
      case 0: return in_.ConsumeIntegralInRange<tlfs::VpIndex>(0, kMaxVps);
      case 1: return tlfs::kVpIndexSelf;
      case 2: return in_.ConsumeIntegral<tlfs::VpIndex>();
      default: return in_.ConsumeIntegralInRange<tlfs::VpIndex>(0, 2);
    }
  }

  tlfs::Vtl vtl() {
    const int c = in_.ConsumeIntegralInRange<int>(0, 4);
    return c < 4 ? static_cast<tlfs::Vtl>(c) : in_.ConsumeIntegral<tlfs::Vtl>();
  }

  tlfs::InputVtl input_vtl() {
    switch (in_.ConsumeIntegralInRange<int>(0, 2)) {
      case 0: return tlfs::InputVtl::current();
      case 1: return tlfs::InputVtl::target(in_.ConsumeIntegralInRange<tlfs::Vtl>(0, 3));
      default: return {in_.ConsumeIntegral<std::uint8_t>()};
    }
  }

  // A GPA in (or around) the partition's memory.
  std::uint64_t gpa(std::size_t pi) {
    const Guest* g = parts_[pi].guest.get();
    const int c = in_.ConsumeIntegralInRange<int>(0, 7);
    if (g == nullptr || g->regions.empty()) return c == 0 ? 0 : in_.ConsumeIntegral<std::uint64_t>();
    const Guest::Region& first = g->regions.front();
    const std::uint64_t pages = first.ram.size() / tlfs::kPageSize;
    switch (c) {
      case 0: return in_.ConsumeIntegralInRange<std::uint64_t>(0, pages - 1) * tlfs::kPageSize;
      case 1: {
        const std::uint64_t page = in_.ConsumeIntegralInRange<std::uint64_t>(0, pages - 1);
        return page * tlfs::kPageSize + 8 * in_.ConsumeIntegralInRange<std::uint64_t>(0, 511);
      }
      case 2: {
        const Guest::Region& r = g->regions[in_.ConsumeIntegralInRange<std::size_t>(0, g->regions.size() - 1)];
        return r.gpa + in_.ConsumeIntegralInRange<std::uint64_t>(0, r.ram.size() + 16);
      }
      case 3: {
        const Guest::Region& r = g->regions.back();
        return r.gpa + r.ram.size() - 8 * in_.ConsumeIntegralInRange<std::uint64_t>(0, 3);
      }
      case 4: {
        const Guest::Region& r = g->regions.back();
        return r.gpa + tlfs::kPageSize * in_.ConsumeIntegralInRange<std::uint64_t>(
                           0, r.ram.size() / tlfs::kPageSize - 1);
      }
      case 5: return in_.ConsumeIntegral<std::uint64_t>();
      case 6: return ~std::uint64_t{0} - in_.ConsumeIntegral<std::uint16_t>();
      default: return 0;
    }
  }

  hv::ExecMode mode() {
    constexpr hv::ExecMode kModes[] = {hv::ExecMode::k64Bit, hv::ExecMode::k64Bit,
                                       hv::ExecMode::k64Bit, hv::ExecMode::kProtected,
                                       hv::ExecMode::kReal, hv::ExecMode::kVirtual8086,
                                       hv::ExecMode::k64Bit, hv::ExecMode::kProtected};
    return pick<hv::ExecMode>(kModes);
  }

  std::uint8_t cpl() {
    return in_.ConsumeIntegralInRange<int>(0, 7) == 7 ? in_.ConsumeIntegralInRange<std::uint8_t>(1, 3)
                                                      : std::uint8_t{0};
  }

  tlfs::HypercallControl control() {
    if (in_.ConsumeIntegralInRange<int>(0, 7) == 7) return {in_.ConsumeIntegral<std::uint64_t>()};
    const int ci = in_.ConsumeIntegralInRange<int>(0, static_cast<int>(std::size(kCodes)));
    const std::uint16_t code = ci < static_cast<int>(std::size(kCodes))
                                   ? kCodes[ci]
                                   : in_.ConsumeIntegral<std::uint16_t>();
    const bool fast = in_.ConsumeIntegralInRange<int>(0, 3) == 3;
    std::uint16_t count = 0;
    std::uint16_t start = 0;
    switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
      case 0: break;
      case 1: count = in_.ConsumeIntegralInRange<std::uint16_t>(1, 8); break;
      case 2:
        count = in_.ConsumeIntegralInRange<std::uint16_t>(1, 8);
        start = in_.ConsumeIntegralInRange<std::uint16_t>(0, count);
        break;
      default:
        count = in_.ConsumeIntegralInRange<std::uint16_t>(0, tlfs::HypercallControl::kMaxRep);
        start = in_.ConsumeIntegralInRange<std::uint16_t>(0, tlfs::HypercallControl::kMaxRep);
        break;
    }
    tlfs::HypercallControl c = tlfs::HypercallControl::make(static_cast<tlfs::CallCode>(code), fast,
                                                            count, start);
    if (in_.ConsumeIntegralInRange<int>(0, 7) == 7) {
      // Variable header size, nested bit, reserved bits.
      c.raw |= in_.ConsumeIntegral<std::uint64_t>() &
               ((std::uint64_t{0x3FF} << 17) | (std::uint64_t{1} << 31) |
                tlfs::HypercallControl::kReservedMask);
    }
    return c;
  }

  // --- the model of started VTLs --------------------------------------------------------------

  bool& started(std::size_t pi, tlfs::VpIndex vp, tlfs::Vtl v) { return started_[pi][vp][v]; }

  // INIT: the VP goes back to wait-for-SIPI with no VTL started.
  void init(std::size_t pi, tlfs::VpIndex vi) {
    hv::Vp& vp = *parts_[pi].p->vp(vi);
    if (!vp.reset_to_wait_for_sipi()) return;
    log_line("  INIT partition %zu vp %u\n", pi + 1, vi);
    for (tlfs::Vtl v = 0; v <= tlfs::kMaxVtl; ++v) {
      started(pi, vi, v) = false;
      HVK_FUZZ_CHECK(!vp.vtl_started(v));
    }
    HVK_FUZZ_CHECK(vp.run_state() == hv::VpRunState::kWaitForSipi);
  }

  // A start the model knows of is one the engine knows of.
  void check_started_model() {
    for (std::size_t pi = 0; pi < parts_.size(); ++pi) {
      const hv::Partition& p = *parts_[pi].p;
      for (std::uint32_t i = 0; i < p.vp_count(); ++i) {
        for (tlfs::Vtl v = 0; v <= tlfs::kMaxVtl; ++v) {
          if (started(pi, i, v)) HVK_FUZZ_CHECK(p.vp(i)->vtl_started(v));
        }
      }
    }
  }

  // --- steps ---------------------------------------------------------------------------------

  void write_raw_op() {
    const std::size_t pi = pick_part();
    const std::uint64_t at = gpa(pi);
    const std::vector<std::uint8_t> bytes =
        in_.ConsumeBytes<std::uint8_t>(in_.ConsumeIntegralInRange<std::size_t>(1, 64));
    if (parts_[pi].guest) parts_[pi].guest->write(at, std::as_bytes(std::span(bytes)));
  }

  void write_start_op() {
    const std::size_t pi = pick_part();
    const std::uint64_t at = gpa(pi);
    tlfs::StartVirtualProcessorInput in{};
    in.partition_id = partition_id();
    in.vp_index = vp_index();
    in.target_vtl = vtl();
    if (in_.ConsumeIntegralInRange<int>(0, 7) == 7) in.pad[1] = in_.ConsumeIntegral<std::uint8_t>();
    in.vp_context = context();
    log_line("  write start input at %#llx: partition %#llx vp %#x vtl %u\n",
        static_cast<unsigned long long>(at), static_cast<unsigned long long>(in.partition_id),
        in.vp_index, in.target_vtl);
    if (parts_[pi].guest) parts_[pi].guest->write(at, tlfs::as_bytes(in));
  }

  template <typename T>
  static void append(std::vector<std::byte>& out, const T& v) {
    const auto b = tlfs::as_bytes(v);
    out.insert(out.end(), b.begin(), b.end());
  }

  std::uint32_t register_name() {
    if (in_.ConsumeIntegralInRange<int>(0, 7) == 7) return in_.ConsumeIntegral<std::uint32_t>();
    return static_cast<std::uint32_t>(pick<tlfs::RegisterName>(kRegisterNames));
  }

  // The headers and elements of the other calls.
  void write_header_op() {
    const std::size_t pi = pick_part();
    const std::uint64_t at = gpa(pi);
    std::vector<std::byte> out;
    const int kind = in_.ConsumeIntegralInRange<int>(0, 5);
    const std::size_t n = in_.ConsumeIntegralInRange<std::size_t>(0, 8);
    switch (kind) {
      case 0:    // Get/SetVpRegisters
      case 1: {
        tlfs::VpRegistersHeader h{};
        h.partition_id = partition_id();
        h.vp_index = vp_index();
        h.target_vtl = input_vtl();
        if (in_.ConsumeIntegralInRange<int>(0, 7) == 7) h.reserved[0] = in_.ConsumeIntegral<std::uint8_t>();
        append(out, h);
        for (std::size_t i = 0; i < n; ++i) {
          if (kind == 0) {
            append(out, register_name());
          } else {
            tlfs::SetVpRegistersElement e{};
            e.name = register_name();
            // The register's value in a good context, or junk.
            const auto good = hv::read_register(good_context(), static_cast<tlfs::RegisterName>(e.name));
            e.value = good.value_or(tlfs::RegisterValue{0, 0});
            if (in_.ConsumeBool()) e.value.low = in_.ConsumeIntegral<std::uint64_t>();
            if (in_.ConsumeIntegralInRange<int>(0, 3) == 3) e.value.high = in_.ConsumeIntegral<std::uint64_t>();
            append(out, e);
          }
        }
        break;
      }
      case 2: {  // GetVpIndexFromApicId
        tlfs::GetVpIndexFromApicIdHeader h{};
        h.partition_id = partition_id();
        h.target_vtl = input_vtl();
        append(out, h);
        for (std::size_t i = 0; i < n; ++i) {
          append(out, in_.ConsumeBool() ? in_.ConsumeIntegral<std::uint32_t>()
                                        : in_.ConsumeIntegralInRange<std::uint32_t>(0, 16));
        }
        break;
      }
      case 3: {
        tlfs::EnablePartitionVtlInput e{};
        e.partition_id = partition_id();
        e.target_vtl = vtl();
        if (in_.ConsumeIntegralInRange<int>(0, 7) == 7) e.flags = in_.ConsumeIntegral<std::uint8_t>();
        append(out, e);
        break;
      }
      case 4: append(out, tlfs::PartitionIdInput{partition_id()}); break;
      default: {
        tlfs::GetNextChildPartitionInput g{};
        g.parent_id = partition_id();
        g.previous_child_id = partition_id();
        append(out, g);
        break;
      }
    }
    if (parts_[pi].guest) parts_[pi].guest->write(at, out);
  }

  void dispatch_op() {
    const std::size_t pi = pick_part();
    Part& part = parts_[pi];
    const tlfs::VpIndex vi = pick_vp(pi);
    hv::Vp& vp = *part.p->vp(vi);
    hv::VpCallState st;
    st.mode = mode();
    st.cpl = cpl();
    const tlfs::HypercallControl c = control();
    const std::uint64_t in_gpa = gpa(pi);
    const std::uint64_t out_gpa = gpa(pi);
    // Whatever the other registers (and the upper halves, in 32-bit code) hold.
    hv::HypercallRegs& r = st.regs;
    if (in_.ConsumeIntegralInRange<int>(0, 3) == 3) {
      r = {in_.ConsumeIntegral<std::uint64_t>(), in_.ConsumeIntegral<std::uint64_t>(),
           in_.ConsumeIntegral<std::uint64_t>(), in_.ConsumeIntegral<std::uint64_t>(),
           in_.ConsumeIntegral<std::uint64_t>(), in_.ConsumeIntegral<std::uint64_t>(),
           in_.ConsumeIntegral<std::uint64_t>()};
    }
    constexpr std::uint64_t kHigh = 0xFFFF'FFFF'0000'0000ull;
    if (st.mode == hv::ExecMode::k64Bit) {
      r.rcx = c.raw;
      r.rdx = in_gpa;
      r.r8 = out_gpa;
    } else {
      r.rax = (r.rax & kHigh) | (c.raw & 0xFFFF'FFFFull);
      r.rdx = (r.rdx & kHigh) | (c.raw >> 32);
      r.rcx = (r.rcx & kHigh) | (in_gpa & 0xFFFF'FFFFull);
      r.rbx = (r.rbx & kHigh) | (in_gpa >> 32);
      r.rsi = (r.rsi & kHigh) | (out_gpa & 0xFFFF'FFFFull);
      r.rdi = (r.rdi & kHigh) | (out_gpa >> 32);
    }
    if (legal_mode(st.mode, st.cpl)) {
      const hv::CallRegs decoded = hv::decode_call_regs(st.mode, st.regs);
      HVK_FUZZ_CHECK(decoded.control.raw == c.raw);
      HVK_FUZZ_CHECK(decoded.input == in_gpa);
      HVK_FUZZ_CHECK(decoded.output == out_gpa);
    }
    hv::VpState* state = in_.ConsumeIntegralInRange<int>(0, 3) != 3 ? part.states[vi].get() : nullptr;
    init_on_refresh_ = in_.ConsumeBool();

    for (int attempt = 0; attempt < kMaxRetries; ++attempt) {
      if (!dispatch_once(pi, vi, vp, st, state)) break;
    }
  }

  // One execution of the hypercall instruction; true when the call paused (kRetry) and the guest
  // would execute it again.
  bool dispatch_once(std::size_t pi, tlfs::VpIndex vi, hv::Vp& vp, hv::VpCallState& st,
                     hv::VpState* state) {
    Part& part = parts_[pi];
    const hv::HypercallRegs before = st.regs;
    const hv::CallRegs regs = hv::decode_call_regs(st.mode, st.regs);
    const tlfs::HypercallControl c = regs.control;
    const hv::CallDescriptor* call = hv::find_call(c.code());
    const bool legal = legal_mode(st.mode, st.cpl);

    // What a StartVirtualProcessor names, read before the call.
    tlfs::StartVirtualProcessorInput start_in{};
    bool have_start_in = false;
    if (c.code() == static_cast<std::uint16_t>(tlfs::CallCode::kStartVirtualProcessor) &&
        !c.fast() && part.guest) {
      std::array<std::byte, sizeof(start_in)> b{};
      have_start_in = part.guest->map.read(regs.input, b);
      if (have_start_in) start_in = tlfs::load<tlfs::StartVirtualProcessorInput>(b);
    }

    starts_.clear();
    trace_.count = 0;
    in_call_ = true;
    const hv::Outcome o = dispatcher_->dispatch(*part.p, vp, st, state);
    in_call_ = false;
    const tlfs::Status status = o.result.status();
    const std::uint16_t reps = o.result.reps_completed();
    log_line("  call partition %zu vp %u mode %d cpl %u control %#llx in %#llx out %#llx -> action %d "
        "status %#x reps %u\n",
        pi + 1, vi, static_cast<int>(st.mode), st.cpl, static_cast<unsigned long long>(c.raw),
        static_cast<unsigned long long>(regs.input), static_cast<unsigned long long>(regs.output),
        static_cast<int>(o.action), static_cast<unsigned>(status), reps);

    // #UD exactly outside CPL 0 protected/long mode; nothing written then.
    HVK_FUZZ_CHECK((o.action == hv::Action::kInjectUd) == !legal);
    if (!legal) {
      HVK_FUZZ_CHECK(std::memcmp(&before, &st.regs, sizeof(before)) == 0);
      HVK_FUZZ_CHECK(starts_.empty());
      check_memory(pi, 0, 0);
      check_trace(pi, vi, o);
      return false;
    }
    HVK_FUZZ_CHECK(tlfs::status_name(status) != nullptr);
    HVK_FUZZ_CHECK((o.result.raw & ~((std::uint64_t{tlfs::HypercallControl::kMaxRep} << 32) |
                                     0xFFFF)) == 0);
    if (call == nullptr) HVK_FUZZ_CHECK(status == tlfs::Status::kInvalidHypercallCode);

    // Reps.
    const std::uint16_t count = c.rep_count();
    const bool rep = call != nullptr && call->rep;
    if (rep) {
      HVK_FUZZ_CHECK(reps <= count);
      if (o.action == hv::Action::kRetry) {
        HVK_FUZZ_CHECK(status == tlfs::Status::kSuccess);
        HVK_FUZZ_CHECK(reps < count);
        HVK_FUZZ_CHECK(reps > c.rep_start());  // a paused call made progress
      }
      if (o.action == hv::Action::kComplete && status == tlfs::Status::kSuccess) {
        HVK_FUZZ_CHECK(reps == count);
      }
    } else {
      HVK_FUZZ_CHECK(o.action != hv::Action::kRetry);
      HVK_FUZZ_CHECK(reps == 0);
    }

    // The registers the convention names, and no other.
    const std::uint64_t value = o.action == hv::Action::kRetry ? c.with_rep_start(reps).raw
                                                                : o.result.raw;
    hv::HypercallRegs expect = before;
    if (st.mode == hv::ExecMode::k64Bit) {
      (o.action == hv::Action::kRetry ? expect.rcx : expect.rax) = value;
    } else {
      expect.rax = value & 0xFFFF'FFFFull;
      expect.rdx = value >> 32;
    }
    HVK_FUZZ_CHECK(std::memcmp(&expect, &st.regs, sizeof(expect)) == 0);

    check_gpa_rules(pi, regs, o);

    // Memory: only the output the call completed.
    std::uint64_t lo = 0;
    std::uint64_t hi = 0;
    if (call != nullptr && !c.fast()) {
      if (rep && call->out_element != 0) {
        lo = regs.output + std::uint64_t{c.rep_start()} * call->out_element;
        hi = regs.output + std::uint64_t{reps} * call->out_element;
      } else if (!rep && status == tlfs::Status::kSuccess) {
        lo = regs.output;
        hi = regs.output + call->output_size;
      }
    }
    check_memory(pi, lo, hi);
    check_trace(pi, vi, o);

    // Starts.
    const bool start_ok = c.code() == static_cast<std::uint16_t>(tlfs::CallCode::kStartVirtualProcessor) &&
                          o.action == hv::Action::kComplete && status == tlfs::Status::kSuccess;
    if (!start_ok) {
      HVK_FUZZ_CHECK(starts_.empty());
    } else {
      check_start(pi, vi, have_start_in, start_in);
    }
    return o.action == hv::Action::kRetry;
  }

  void check_memory(std::size_t pi, std::uint64_t lo, std::uint64_t hi) {
    for (std::size_t i = 0; i < parts_.size(); ++i) {
      if (Guest* g = parts_[i].guest.get()) {
        HVK_FUZZ_CHECK(i == pi ? g->changed_only_within(lo, hi) : g->changed_only_within(0, 0));
      }
    }
  }

  // The reference for docs/conformance.md A13-A15 (with A16 and A22): a memory-form call whose
  // control word passes the earlier checks (A6-A10; the caller has ruled out #UD, A1-A2) is
  // refused with INVALID_ALIGNMENT, reps completed = its rep start, exactly when its input or
  // output range is not 8-byte aligned, inside one page and all guest RAM of the partition. A
  // range of length 0 is not looked at. When the rules hold the status is never INVALID_ALIGNMENT:
  // the dispatcher's reads and writes then stay inside the checked ranges, and no handler
  // returns it. Computed from the control word's bits, the TLFS sizes and the harness's regions.
  void check_gpa_rules(std::size_t pi, const hv::CallRegs& regs, const hv::Outcome& o) const {
    const std::uint64_t raw = regs.control.raw;
    const std::optional<CallShape> shape = call_shape(raw & 0xFFFF);
    if (!shape || ((raw >> 16) & 1) != 0) return;  // unknown code, or a fast call
    // Variable header 26:17, reserved 30:27, nested 31, reserved 47:44 and 63:60 all clear.
    constexpr std::uint64_t kMustBeZero = (0x7FFFull << 17) | (0xFull << 44) | (0xFull << 60);
    const std::uint64_t count = (raw >> 32) & 0xFFF;
    const std::uint64_t start = (raw >> 48) & 0xFFF;
    if ((raw & kMustBeZero) != 0) return;
    if (shape->rep ? (count == 0 || start >= count) : (count != 0 || start != 0)) return;

    const std::uint64_t in_len = shape->input + (shape->rep ? count * shape->in_element : 0);
    const std::uint64_t out_len = shape->rep ? count * shape->out_element : shape->output;
    const bool gpa_rules_hold = (in_len == 0 || gpa_ok(pi, regs.input, in_len)) &&
                                (out_len == 0 || gpa_ok(pi, regs.output, out_len));
    const tlfs::Status status = o.result.status();
    log_line("  gpa rules: in %llu bytes, out %llu bytes: %s\n",
        static_cast<unsigned long long>(in_len), static_cast<unsigned long long>(out_len),
        gpa_rules_hold ? "hold" : "broken");
    HVK_FUZZ_CHECK(!gpa_rules_hold || status != tlfs::Status::kInvalidAlignment);
    HVK_FUZZ_CHECK(gpa_rules_hold || (status == tlfs::Status::kInvalidAlignment &&
                                      o.action == hv::Action::kComplete &&
                                      o.result.reps_completed() == (shape->rep ? start : 0)));
  }

  // [gpa, gpa + len), len > 0: 8-byte aligned, inside one 4 KiB page, inside one RAM region.
  bool gpa_ok(std::size_t pi, std::uint64_t gpa, std::uint64_t len) const {
    if (gpa % 8 != 0 || gpa % tlfs::kPageSize + len > tlfs::kPageSize) return false;
    const Guest* g = parts_[pi].guest.get();
    if (g == nullptr) return false;
    for (const Guest::Region& r : g->regions) {
      const std::uint64_t size = r.ram.size();
      if (gpa >= r.gpa && gpa - r.gpa < size && len <= size - (gpa - r.gpa)) return true;
    }
    return false;
  }

  void check_trace(std::size_t pi, tlfs::VpIndex vi, const hv::Outcome& o) {
    if (!trace_on()) return;
    HVK_FUZZ_CHECK(trace_.count == 1);
    HVK_FUZZ_CHECK(trace_.last.partition == parts_[pi].p);
    HVK_FUZZ_CHECK(trace_.last.vp == vi);
    HVK_FUZZ_CHECK(trace_.last.outcome.action == o.action);
    HVK_FUZZ_CHECK(trace_.last.outcome.result.raw == o.result.raw);
  }
  bool trace_on() const { return trace_enabled_; }

  void check_start(std::size_t pi, tlfs::VpIndex vi, bool have_in,
                   const tlfs::StartVirtualProcessorInput& in) {
    HVK_FUZZ_CHECK(have_in);
    hv::Partition& caller = *parts_[pi].p;
    const bool self = in.partition_id == tlfs::kPartitionIdSelf || in.partition_id == caller.id();
    hv::Partition* target = self ? &caller : hv_.find(in.partition_id);
    HVK_FUZZ_CHECK(target != nullptr);
    HVK_FUZZ_CHECK(self || target->parent() == caller.id());
    HVK_FUZZ_CHECK(target->state() == hv::PartitionState::kActive);
    const std::size_t ti = static_cast<std::size_t>(target->id() - 1);
    const tlfs::VpIndex tv = in.vp_index == tlfs::kVpIndexSelf && self ? vi : in.vp_index;
    HVK_FUZZ_CHECK(tv < target->vp_count());
    HVK_FUZZ_CHECK(in.target_vtl <= tlfs::kMaxVtl);
    HVK_FUZZ_CHECK(hv::check_initial_context(in.vp_context, target->cpu_limits()) ==
                   hv::ContextFault::kNone);
    const hv::Vp& vp = *target->vp(tv);
    log_line("  started partition %zu vp %u vtl %u\n", ti + 1, tv, in.target_vtl);

    // The invariant: one successful start per (partition, VP, VTL) between INITs.
    bool& s = started(ti, tv, in.target_vtl);
    HVK_FUZZ_CHECK(!s);
    s = true;
    HVK_FUZZ_CHECK(vp.run_state() == hv::VpRunState::kRunning);
    HVK_FUZZ_CHECK(vp.vtl_started(in.target_vtl));

    HVK_FUZZ_CHECK(starts_.size() <= 1);
    if (starts_.empty()) {
      // No backend, or the VP was running in another VTL already.
      return;
    }
    const RecordedStart& r = starts_.front();
    HVK_FUZZ_CHECK(r.part == ti);
    HVK_FUZZ_CHECK(r.request.vp_index == tv);
    HVK_FUZZ_CHECK(r.request.target_vtl == in.target_vtl);
    HVK_FUZZ_CHECK(r.request.run_vtl == vp.highest_enabled_vtl());
    HVK_FUZZ_CHECK(r.request.run_vtl >= in.target_vtl);
    HVK_FUZZ_CHECK(vp.current_vtl() == r.request.run_vtl);
    if (r.request.run_vtl == in.target_vtl) HVK_FUZZ_CHECK(r.request.context == in.vp_context);
    started(ti, tv, r.request.run_vtl) = true;  // the VTL that runs first is started too
  }

  void transfer_op() {
    const std::size_t pi = pick_part();
    const tlfs::VpIndex vi = pick_vp(pi);
    hv::Vp& vp = *parts_[pi].p->vp(vi);
    const auto dir = in_.ConsumeBool() ? hv::VtlDirection::kReturn : hv::VtlDirection::kCall;
    const hv::ExecMode m = mode();
    const std::uint8_t pl = cpl();
    std::uint64_t input = 0;
    switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
      case 0: break;
      case 1: input = 1; break;
      case 2: input = 2; break;
      default: input = in_.ConsumeIntegral<std::uint64_t>(); break;
    }
    const tlfs::Vtl was = vp.current_vtl();
    const hv::VtlTransfer t = hv::transfer_vtl(vp, dir, m, pl, input);
    log_line("  vtl %s partition %zu vp %u from %u: ud %d to %u\n",
        dir == hv::VtlDirection::kCall ? "call" : "return", pi + 1, vi, was, t.ud, t.to);
    if (!legal_mode(m, pl)) HVK_FUZZ_CHECK(t.ud);
    if (t.ud) {
      HVK_FUZZ_CHECK(vp.current_vtl() == was);
      return;
    }
    HVK_FUZZ_CHECK(t.from == was);
    HVK_FUZZ_CHECK(vp.current_vtl() == t.to);
    HVK_FUZZ_CHECK(vp.vtl_enabled(t.to));
    HVK_FUZZ_CHECK(dir == hv::VtlDirection::kCall ? t.to > t.from : t.to < t.from);
    HVK_FUZZ_CHECK(dir == hv::VtlDirection::kCall ? input == 0 : (input & ~std::uint64_t{1}) == 0);
    HVK_FUZZ_CHECK(t.first_entry == vp.vtl_context(t.to));
  }

  void msr_op() {
    const std::size_t pi = pick_part();
    const tlfs::VpIndex vi = pick_vp(pi);
    hv::Partition& p = *parts_[pi].p;
    hv::Vp& vp = *p.vp(vi);
    const bool write = in_.ConsumeBool();
    // The MSRs hvk implements (the checks below know the first three), any synthetic one, any.
    constexpr std::uint32_t kOffsets[] = {0x00, 0x01, 0x02, 0x20, 0x22, 0x23, 0x73};
    std::uint32_t index = 0;
    switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
      case 0: case 1: index = hv::msr::kSyntheticFirst + pick<std::uint32_t>(kOffsets); break;
      case 2: index = hv::msr::kSyntheticFirst + in_.ConsumeIntegral<std::uint8_t>(); break;
      default: index = in_.ConsumeIntegral<std::uint32_t>(); break;
    }
    const bool msr_priv = p.privileges().has(tlfs::Privilege::kHypercallMsrs);
    const bool vp_priv = p.privileges().has(tlfs::Privilege::kVpIndex);
    const std::uint64_t os_id = p.guest_os_id();
    const std::uint64_t old = p.hypercall_msr();
    if (!write) {
      const hv::MsrAccess a = hv::read_synthetic_msr(p, vp, index);
      HVK_FUZZ_CHECK(!a.install_hypercall_page);
      if (!hv::is_synthetic_msr(index)) HVK_FUZZ_CHECK(a.gp);
      if (index == hv::msr::kVpIndex) {
        HVK_FUZZ_CHECK(a.gp == !vp_priv);
        if (!a.gp) HVK_FUZZ_CHECK(a.value == vp.index());
      } else if (index == hv::msr::kGuestOsId || index == hv::msr::kHypercall) {
        HVK_FUZZ_CHECK(a.gp == !msr_priv);
        if (!a.gp) HVK_FUZZ_CHECK(a.value == (index == hv::msr::kGuestOsId ? os_id : old));
      }
      HVK_FUZZ_CHECK(p.guest_os_id() == os_id && p.hypercall_msr() == old);
      return;
    }
    std::uint64_t value = 0;
    switch (in_.ConsumeIntegralInRange<int>(0, 2)) {
      case 0:
        value = (gpa(pi) & hv::HypercallMsr::kGpaMask) | in_.ConsumeIntegralInRange<std::uint64_t>(0, 3);
        break;
      case 1: value = in_.ConsumeIntegral<std::uint64_t>(); break;
      default: value = in_.ConsumeIntegralInRange<std::uint64_t>(0, 3); break;
    }
    const hv::MsrAccess a = hv::write_synthetic_msr(p, vp, index, value);
    log_line("  wrmsr %#x %#llx partition %zu -> gp %d install %d\n", index,
        static_cast<unsigned long long>(value), pi + 1, a.gp, a.install_hypercall_page);
    if (index != hv::msr::kGuestOsId && index != hv::msr::kHypercall) {
      // VP_INDEX is read-only; no other MSR touches these two.
      if (index == hv::msr::kVpIndex || !hv::is_synthetic_msr(index)) HVK_FUZZ_CHECK(a.gp);
      HVK_FUZZ_CHECK(!a.install_hypercall_page);
      HVK_FUZZ_CHECK(p.guest_os_id() == os_id && p.hypercall_msr() == old);
      return;
    }
    HVK_FUZZ_CHECK(a.gp == !msr_priv);
    if (a.gp) {
      HVK_FUZZ_CHECK(p.guest_os_id() == os_id && p.hypercall_msr() == old);
      return;
    }
    if (index == hv::msr::kGuestOsId) {
      HVK_FUZZ_CHECK(p.guest_os_id() == value && p.hypercall_msr() == old);
      HVK_FUZZ_CHECK(!a.install_hypercall_page);
      return;
    }
    if (hv::HypercallMsr{old}.locked()) {
      HVK_FUZZ_CHECK(p.hypercall_msr() == old);
      HVK_FUZZ_CHECK(!a.install_hypercall_page);
      return;
    }
    std::uint64_t next = value & (hv::HypercallMsr::kGpaMask | hv::HypercallMsr::kLocked |
                                  hv::HypercallMsr::kEnable);
    if (os_id == 0) next &= ~hv::HypercallMsr::kEnable;
    HVK_FUZZ_CHECK(p.hypercall_msr() == next);
    HVK_FUZZ_CHECK(a.install_hypercall_page == hv::HypercallMsr{next}.enabled());
    if (a.install_hypercall_page) HVK_FUZZ_CHECK(a.hypercall_page_gpa == (next & hv::HypercallMsr::kGpaMask));
  }

  void init_op() {
    const std::size_t pi = pick_part();
    init(pi, pick_vp(pi));
  }

  void set_state_op() {
    const std::size_t pi = pick_part();
    const tlfs::VpIndex vi = pick_vp(pi);
    const tlfs::Vtl v = in_.ConsumeIntegralInRange<tlfs::Vtl>(0, tlfs::kMaxVtl);
    parts_[pi].states[vi]->set(v, context());
  }

  FuzzedDataProvider& in_;
  hv::Hypervisor hv_;
  std::unique_ptr<hv::Dispatcher> dispatcher_;
  FuzzTrace trace_;
  bool trace_enabled_ = false;
  std::vector<Part> parts_;
  bool started_[kMaxPartitions][kMaxVps][tlfs::kMaxVtl + 1] = {};
  std::vector<RecordedStart> starts_;
  bool in_call_ = false;
  bool init_on_refresh_ = false;
};

void FuzzBackend::start_vp(const hv::StartRequest& request) noexcept { h_.on_start(part_, request); }
void FuzzBackend::partition_state_changed(hv::PartitionState state) noexcept {
  h_.on_state(part_, state);
}
void FuzzBackend::refresh_vp_state(tlfs::VpIndex vp_index) noexcept { h_.on_refresh(part_, vp_index); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  Harness h(in);
  h.run();
  return 0;
}
