// fuzz_dispatcher: the hypercall engine as a guest sees it, driven the way the machine drives it.
//
// Each input builds a Hypervisor (a root partition and up to two children, in random states, with
// random VP counts, privileges, VTLs, APIC IDs and guest memory, most with the SynIC option), then
// runs a script of steps: guest memory writes (raw bytes or well-formed inputs), hypercalls with
// random modes, CPLs, control words (biased toward hvk's call codes) and GPAs, VTL calls and
// returns, synthetic MSR reads and writes (the SynIC and timer MSRs with well-formed values too),
// INITs, host-made message and event connections (the engine API hyperv-testdev uses), a guest
// that takes messages out of its SIM slots and writes EOM, and a reference clock the harness
// moves before polling a VP's timers. After every step the invariants below are checked; a
// violation aborts, so libFuzzer reports the input.
//
//   - every call gets #UD exactly when it is made outside CPL 0 protected/long mode, and then no
//     register changes; otherwise a status the TLFS names, no reserved result bits, and the
//     result (or, for kRetry, the control word) in the registers the convention names;
//   - reps completed <= rep count; kRetry only for rep calls, with SUCCESS, progress past the
//     rep start and fewer reps than the count; a rep call that succeeds completes every rep;
//   - guest memory changes only inside the output the call named (and only what it completed),
//     in the one SIM slot a PostMessage SUCCESS targets or the one SIEF qword of a SignalEvent
//     SUCCESS, and, for a SynIC MSR write or a timer poll, in the SIM page of that VP's SynIC and
//     a SIM or SIEF page the write enabled; any other step changes no guest memory;
//   - a well-formed memory-form call is refused with INVALID_ALIGNMENT exactly when its input or
//     output range breaks a GPA rule (8-byte aligned, one page, all RAM), by an independent
//     reference (check_gpa_rules);
//   - PostMessage and SignalEvent return a status their conformance rows list, and exactly the
//     one an independent reference gives from the harness's own model of privileges,
//     connections and SynIC registers, in the documented order (A-rows for the control word,
//     fast fit and GPAs; then Y1, Y25 and Y10 for PostMessage, Y1 and Y27 for SignalEvent);
//   - messages are conserved (Y10, Y11): for each SINT of each SynIC, the PostMessage SUCCESSes
//     not yet taken by the harness's guest (which reads a slot, empties it and writes EOM) ==
//     the messages the engine holds queued + the one in the slot; never more than 16 queued;
//     the slot holds the oldest of them byte for byte (type, size, port id, payload); a free slot
//     behind which messages wait is filled by any step that retries the SINT, and MessagePending
//     is set while more wait (Y6, Y7); the engine writes no other message than these and timer
//     expiries (whose payload names a timer and times no later than the clock);
//   - a SignalEvent SUCCESS leaves its flag (the port's base + FlagNumber) set in the target's
//     SIEF page and raises the SINT exactly when the flag was clear (Y12); interrupts come only
//     from the SynIC a step touched, from unmasked SINTs with their vector and AutoEOI, at most
//     one per source per step; a host-signalled SINT is raised exactly when unmasked (Y14);
//   - the SynIC and timer MSRs are #GP exactly without SynicRegs / SyntheticTimerRegs (Y1, the
//     privileges computed by the harness), for SVERSION writes, unmasked SINT vectors below 16
//     (Y3) and SIM/SIEF pages outside RAM (Y5); the registers read back as written (Y2, Y3, Y4);
//     a newly enabled or moved page starts zeroed (Y5); timer CONFIG keeps no reserved bits and
//     is never enabled on SINT 0 outside direct mode (Y19, Y20), a COUNT of 0 disables it (Y18);
//     every timer write tells the machine the VP's next deadline, and no poll leaves a timer due
//     (Y16, Y17, Y23); TIME_REF_COUNT reads the clock the timers use (Y23);
//   - host connections follow Y28 (reserved id bits, SINT, flag range, VP and VTL, one id per
//     kind), checked against the harness's own list;
//   - the backend hears of a start only for a StartVirtualProcessor that returned SUCCESS, for
//     the VP and VTL it named, running the VP's highest enabled VTL;
//   - at most one successful start per (partition, VP, VTL) until that VP is reset to
//     wait-for-SIPI (INIT), counting the boot VP, VPs woken by INIT-SIPI and the VTL a start
//     runs first; the engine never forgets a start without such a reset;
//   - VtlCall/VtlReturn move only up/down to an enabled VTL and leave the VP alone on #UD;
//   - the synthetic MSRs follow their privilege bits, VP_INDEX is read-only, a locked hypercall
//     MSR ignores writes, and the hypercall page is installed exactly when enabled.
//
// The message bookkeeping of a SynIC stops (it is "tainted", logged) once something other than
// the engine's delivery could have changed its SIM page: a guest write or a call's output into
// the page, or the page shared with another enabled SIM or SIEF page (a guest may do that, and
// then loses or forges its own messages). Everything else is still checked for it.
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
#include "hv/reference_clock.h"
#include "hv/synic/synic_host.h"
#include "hv/synic/synic_msrs.h"
#include "hv/synthetic_msrs.h"
#include "hv/vp_registers.h"
#include "hv/vtl_switch.h"
#include "hvk/tlfs/bytes.h"
#include "hvk/tlfs/inputs.h"
#include "hvk/tlfs/registers.h"
#include "hvk/tlfs/synic.h"

namespace {

using hvk::fuzz::log_line;
namespace hv = hvk::hv;
namespace tlfs = hvk::tlfs;

constexpr std::size_t kMaxPartitions = 3;  // the root and up to two children
constexpr std::uint32_t kMaxVps = 8;
constexpr int kMaxSteps = 96;
constexpr int kMaxRetries = 64;  // re-executions of one paused rep call

// Call codes the control word is biased toward: every call hvk implements, the VTL switches
// (which are not table calls); random codes reach the unknown ones.
constexpr std::uint16_t kCodes[] = {0x000D, 0x000F, 0x0041, 0x0042, 0x0043, 0x0046,
                                    0x0047, 0x0050, 0x0051, 0x0099, 0x009A, 0x0011,
                                    0x0012, 0x0002, 0x0003, 0x005C, 0x005D, 0x000B, 0x0052,
                                    0x0013, 0x0014, 0x0015, 0x000C};
constexpr std::uint16_t kPostMessageCode = 0x005C;
constexpr std::uint16_t kSignalEventCode = 0x005D;

// Where the harness puts SIM and SIEF pages by default: a region of its own in each partition
// with the SynIC, one page per (VP, VTL the partition may enable, kind).
constexpr std::uint64_t kSynicRegionGpa = 0x40'0000;
std::size_t synic_region_pages(const hv::PartitionConfig& c) {
  return std::size_t{2} * c.vp_count * (std::min(c.max_vtl, tlfs::kMaxVtl) + 1u);
}

constexpr std::uint64_t kNoDeadline = ~std::uint64_t{0};

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
    case C::kPostMessage: return simple(sizeof(t::PostMessageInput), 0);
    case C::kSignalEvent: return simple(sizeof(t::SignalEventInput), 0);
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

// The memory the engine is given: the map itself, noting whether anything may have changed, so
// that the check after a step compares the shadow only then (every engine access goes through
// here: the engine has no other way to guest memory).
class WatchedMemory final : public hv::GuestMemory {
 public:
  explicit WatchedMemory(hv::MemoryMap& map) : map_(map) {}
  bool contains(std::uint64_t gpa, std::uint64_t len) const override { return map_.contains(gpa, len); }
  bool read(std::uint64_t gpa, std::span<std::byte> out) const override { return map_.read(gpa, out); }
  bool write(std::uint64_t gpa, std::span<const std::byte> in) override {
    dirty = true;
    return map_.write(gpa, in);
  }
  std::optional<bool> compare_exchange_u64(std::uint64_t gpa, std::uint64_t& expected,
                                           std::uint64_t desired) override {
    const std::uint64_t want = expected;
    const std::optional<bool> r = map_.compare_exchange_u64(gpa, expected, desired);
    if (r && *r && want != desired) dirty = true;
    return r;
  }
  bool dirty = false;

 private:
  hv::MemoryMap& map_;
};

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
  WatchedMemory watched{map};  // what the partition is attached to

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

  // A write made by the fuzzer itself (the guest writing its own memory); false if not all RAM.
  bool write(std::uint64_t gpa, std::span<const std::byte> bytes) {
    if (bytes.empty() || !map.write(gpa, bytes)) return false;
    for (Region& r : regions) {
      if (gpa >= r.gpa && gpa - r.gpa < r.ram.size()) {
        std::memcpy(r.shadow.data() + (gpa - r.gpa), bytes.data(), bytes.size());
      }
    }
    return true;
  }

  // The region holding all of [gpa, gpa + len), from the harness's own blocks (not the engine's
  // map), or null.
  const Region* region_of(std::uint64_t gpa, std::uint64_t len) const {
    for (const Region& r : regions) {
      const std::uint64_t size = r.ram.size();
      if (gpa >= r.gpa && gpa - r.gpa < size && len <= size - (gpa - r.gpa)) return &r;
    }
    return nullptr;
  }
  bool read(std::uint64_t gpa, std::span<std::byte> out) const {
    const Region* r = region_of(gpa, out.size());
    if (r == nullptr) return false;
    std::memcpy(out.data(), r->ram.data() + (gpa - r->gpa), out.size());
    return true;
  }
  std::optional<std::uint64_t> qword(std::uint64_t gpa) const {
    std::array<std::byte, 8> b{};
    if (!read(gpa, b)) return std::nullopt;
    return tlfs::load<std::uint64_t>(b);
  }

  // Every byte that changed since the last sync must lie in one of `allowed` (half-open GPA
  // ranges); then the shadow catches up.
  bool changed_only_within(std::span<const std::pair<std::uint64_t, std::uint64_t>> allowed) {
    if (!watched.dirty) return true;
    watched.dirty = false;
    bool ok = true;
    for (Region& r : regions) {
      if (std::memcmp(r.ram.data(), r.shadow.data(), r.ram.size()) == 0) continue;
      for (std::size_t i = 0; i < r.ram.size(); ++i) {
        if (r.ram[i] == r.shadow[i]) continue;
        const std::uint64_t gpa = r.gpa + i;
        const bool inside = std::any_of(allowed.begin(), allowed.end(), [&](const auto& a) {
          return gpa >= a.first && gpa < a.second;
        });
        if (!inside) {
          log_line("  memory changed at gpa %#llx outside the %zu allowed ranges\n",
              static_cast<unsigned long long>(gpa), allowed.size());
          ok = false;
        }
      }
      r.shadow = r.ram;
    }
    return ok;
  }
};

// The partition reference clock, moved only by the harness (as tests/unit's ManualClock).
class FuzzClock final : public hv::ReferenceClock {
 public:
  std::uint64_t now() const noexcept override { return t; }
  std::uint64_t t = 1000;
};

class Harness;

// The machine side of a partition: start requests and state changes go to the harness.
class FuzzBackend final : public hv::Backend {
 public:
  FuzzBackend(Harness& h, std::size_t part) : h_(h), part_(part) {}
  void start_vp(const hv::StartRequest& request) noexcept override;
  void partition_state_changed(hv::PartitionState state) noexcept override;
  void refresh_vp_state(tlfs::VpIndex vp_index) noexcept override;
  void assert_sint(const hv::SintInterrupt& irq) noexcept override;
  void timers_changed(tlfs::VpIndex vp_index, tlfs::Vtl vtl, std::uint64_t deadline) noexcept override;
  // HvCallSendSyntheticClusterIpi (I1-I4): only valid vectors, to VPs that have the VTL.
  void send_ipi(tlfs::VpIndex vp_index, tlfs::Vtl vtl, std::uint8_t vector) noexcept override;

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

  // XMM0-5: what the fuzz input put there, then what XMM fast calls wrote back.
  bool xmm(std::span<std::byte, kXmmBytes> out) override {
    std::memcpy(out.data(), xmm_.data(), out.size());
    return true;
  }
  bool set_xmm(std::span<const std::byte, kXmmBytes> in) override {
    std::memcpy(xmm_.data(), in.data(), in.size());
    ++xmm_writes;
    return true;
  }
  void load_xmm(const std::vector<std::uint8_t>& bytes) {
    xmm_.fill(std::byte{0});
    if (!bytes.empty()) std::memcpy(xmm_.data(), bytes.data(), std::min(bytes.size(), xmm_.size()));
  }
  unsigned xmm_writes = 0;

 private:
  std::array<std::byte, kXmmBytes> xmm_{};
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

// The harness's own view of one (partition, VP, VTL)'s SynIC: the registers as the guest wrote
// them (only writes the rules accept), and the messages posted to each SINT that the harness's
// guest has not taken yet, oldest first.
struct SynicModel {
  std::uint64_t scontrol = 0;
  std::uint64_t simp = 0;
  std::uint64_t siefp = 0;
  std::array<std::uint64_t, tlfs::kSintCount> sint{};
  std::array<std::uint64_t, tlfs::kStimerCount> count{};
  std::uint32_t queue_sints = 0;  // SINTs a message port targets: they have buffers (Y10)
  bool tainted = false;           // the message bookkeeping below no longer holds (header)
  std::array<std::vector<tlfs::Message>, tlfs::kSintCount> fifo;

  SynicModel() { sint.fill(tlfs::SintRegister::kMasked); }
  bool sim_on() const { return (simp & tlfs::kSynicEnable) != 0; }
  bool sief_on() const { return (siefp & tlfs::kSynicEnable) != 0; }
  std::uint64_t sim_gpa() const { return simp & tlfs::kSynicPageMask; }
  std::uint64_t sief_gpa() const { return siefp & tlfs::kSynicPageMask; }
  std::uint64_t slot_gpa(unsigned s) const { return sim_gpa() + std::uint64_t{s} * tlfs::kMessageSize; }
  bool deliverable() const { return (scontrol & tlfs::kSynicEnable) != 0 && sim_on(); }
  bool masked(unsigned s) const { return (sint[s] & tlfs::SintRegister::kMasked) != 0; }
};

// A connection the harness made on a partition (the caller side), as it asked for it.
struct HostConnection {
  std::uint32_t id;
  hv::PortKind kind;
  std::size_t target;  // the receiver partition's index
  hv::Port port;
};

struct Part {
  hv::Partition* p = nullptr;
  std::unique_ptr<Guest> guest;  // null: the partition has no memory attached
  std::unique_ptr<FuzzBackend> backend;  // null: no backend attached
  std::vector<std::unique_ptr<FuzzVpState>> states;
  tlfs::PrivilegeMask privileges{};   // what the partition should have, computed by the harness
  std::vector<SynicModel> synics;     // vp_count * (kMaxVtl + 1)
  std::vector<HostConnection> conns;  // this partition's connections
};

// The privileges conformance Y1 gives a partition: its configured mask, plus SynicRegs,
// SyntheticTimerRegs, PostMessages and SignalEvents with PartitionConfig::synic.
tlfs::PrivilegeMask expected_privileges(const hv::PartitionConfig& c) {
  std::uint64_t m = c.privileges.raw;
  if (c.synic) {
    for (tlfs::Privilege p : {tlfs::Privilege::kSynicRegs, tlfs::Privilege::kSyntheticTimerRegs,
                              tlfs::Privilege::kPostMessages, tlfs::Privilege::kSignalEvents}) {
      m |= tlfs::privilege_bit(p);
    }
  }
  return {m};
}

bool is_posted_type(std::uint32_t type) {
  return type != 0 && (type & tlfs::kMessageTypeHypervisorBit) == 0;
}

// The SynIC's view of a pending PostMessage or SignalEvent, taken before the call.
struct MessageCall {
  bool active = false;  // the call is PostMessage or SignalEvent
  bool post = false;
  std::optional<tlfs::Status> expect;  // the reference's status
  HostConnection conn{};               // on SUCCESS: the connection used
  tlfs::Message message{};             // PostMessage: what the receiver should get
  std::uint64_t slot_before = 0;       // PostMessage: the slot's first qword before the call
  std::uint64_t flag_gpa = 0;          // SignalEvent: the qword holding the flag...
  std::uint64_t flag_bit = 0;          // ...and its bit
  bool flag_was_set = false;
};

// The SynIC a step retried (its queued messages had the chance to move), if any.
struct Touch {
  std::size_t part;
  tlfs::VpIndex vp;
  tlfs::Vtl vtl;
  std::uint32_t sints;  // the SINTs retried
};

using Ranges = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

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
      touch_.reset();
      for (Ranges& r : allowed_) r.clear();
      switch (in_.ConsumeIntegralInRange<int>(0, 13)) {
        case 0: case 4: case 9: dispatch_op(); break;
        case 1: write_start_op(); break;
        case 2: write_header_op(); break;
        case 3: write_raw_op(); break;
        case 5: transfer_op(); break;
        case 6: msr_op(); break;
        case 7: init_op(); break;
        case 10: synic_msr_op(); break;
        case 11: host_op(); break;
        case 12: take_op(); break;
        case 13: clock_op(); break;
        default: set_state_op(); break;
      }
      check_started_model();
      // What a step may change, it named in allowed_; the interrupts and deadlines it expected,
      // it checked and consumed.
      check_memory(allowed_);
      HVK_FUZZ_CHECK(irqs_.empty());
      HVK_FUZZ_CHECK(timer_changes_.empty());
      check_messages();
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
  void on_irq(std::size_t part, const hv::SintInterrupt& irq) { irqs_.push_back({part, irq}); }
  void on_timers_changed(std::size_t part, tlfs::VpIndex vp, tlfs::Vtl vtl, std::uint64_t deadline) {
    timer_changes_.push_back({part, vp, vtl, deadline});
  }
  void on_ipi(std::size_t part, tlfs::VpIndex vp, tlfs::Vtl vtl, std::uint8_t vector) {
    HVK_FUZZ_CHECK(in_call_);
    HVK_FUZZ_CHECK(vector >= 0x10);
    const hv::Partition* p = parts_[part].p;
    HVK_FUZZ_CHECK(p != nullptr && vp < p->vp_count() && vp < 64);
    HVK_FUZZ_CHECK(p->vtl_enabled(vtl) && p->vp(vp)->vtl_enabled(vtl));
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
    c.synic = in_.ConsumeIntegralInRange<int>(0, 3) != 3;
    return c;
  }

  std::unique_ptr<Guest> guest(bool root, std::size_t synic_pages) {
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
    if (synic_pages != 0) g->add(kSynicRegionGpa, synic_pages);  // refused if it overlaps
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
      part.guest = guest(root, cfg.synic ? synic_region_pages(cfg) : 0);
      part.privileges = expected_privileges(cfg);
      part.synics.resize(std::size_t{cfg.vp_count} * (tlfs::kMaxVtl + 1));
      const bool backend = root || in_.ConsumeIntegralInRange<int>(0, 7) != 7;
      if (backend) part.backend = std::make_unique<FuzzBackend>(*this, i);
      // A child's parent: the root, or the previous child (a grandchild).
      hv::Partition* parent = root ? nullptr : parts_[i > 1 && in_.ConsumeBool() ? i - 1 : 0].p;
      parts_.push_back(std::move(part));
      Part& pt = parts_.back();
      pt.p = root ? &hv_.create_root(cfg) : &hv_.create_child(*parent, cfg);
      HVK_FUZZ_CHECK(pt.p->id() == i + 1);
      HVK_FUZZ_CHECK(pt.p->privileges().raw == pt.privileges.raw);  // Y1
      pt.p->set_reference_clock(&clock_);
      pt.p->attach(pt.backend.get(), pt.guest ? &pt.guest->watched : nullptr);
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
        p.write_vsm_config(v, in_.ConsumeIntegral<std::uint64_t>() & 0x1FFF);
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
    guest_write(pi, at, std::as_bytes(std::span(bytes)));
  }

  // The guest writes its own memory: a SIM page it reaches is tainted.
  void guest_write(std::size_t pi, std::uint64_t at, std::span<const std::byte> bytes) {
    if (parts_[pi].guest && parts_[pi].guest->write(at, bytes)) {
      taint_sim_writes(pi, at, at + bytes.size());
    }
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
    guest_write(pi, at, tlfs::as_bytes(in));
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
    const int kind = in_.ConsumeIntegralInRange<int>(0, 7);
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
      case 5: {
        tlfs::GetNextChildPartitionInput g{};
        g.parent_id = partition_id();
        g.previous_child_id = partition_id();
        append(out, g);
        break;
      }
      case 6: {  // PostMessage
        tlfs::PostMessageInput m{};
        m.connection_id.raw = connection_id(pi);
        if (in_.ConsumeIntegralInRange<int>(0, 7) == 7) m.reserved = in_.ConsumeIntegral<std::uint32_t>();
        switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
          case 0: case 1: m.message_type = in_.ConsumeIntegralInRange<std::uint32_t>(1, 0xFF); break;
          case 2: m.message_type = in_.ConsumeBool() ? 0 : 0x8000'0010u; break;
          default: m.message_type = in_.ConsumeIntegral<std::uint32_t>(); break;
        }
        switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
          case 0: case 1: m.payload_size = in_.ConsumeIntegralInRange<std::uint32_t>(0, 240); break;
          case 2: m.payload_size = in_.ConsumeIntegralInRange<std::uint32_t>(241, 256); break;
          default: m.payload_size = in_.ConsumeIntegral<std::uint32_t>(); break;
        }
        const std::vector<std::uint8_t> payload =
            in_.ConsumeBytes<std::uint8_t>(std::min<std::uint32_t>(m.payload_size, 240));
        if (!payload.empty()) std::memcpy(m.payload, payload.data(), payload.size());
        log_line("  write post message input at %#llx: connection %#x type %#x size %u\n",
            static_cast<unsigned long long>(at), m.connection_id.raw, m.message_type, m.payload_size);
        append(out, m);
        break;
      }
      default: {  // SignalEvent
        tlfs::SignalEventInput e{};
        e.connection_id.raw = connection_id(pi);
        e.flag_number = flag_number();
        if (in_.ConsumeIntegralInRange<int>(0, 7) == 7) e.reserved = in_.ConsumeIntegral<std::uint16_t>();
        append(out, e);
        break;
      }
    }
    guest_write(pi, at, out);
  }

  std::uint16_t flag_number() {
    return in_.ConsumeIntegralInRange<int>(0, 3) == 3 ? in_.ConsumeIntegral<std::uint16_t>()
                                                       : in_.ConsumeIntegralInRange<std::uint16_t>(0, 8);
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
    std::uint64_t in_gpa = gpa(pi);
    const std::uint64_t out_gpa = gpa(pi);
    if (c.fast() && c.code() == kSignalEventCode && in_.ConsumeBool()) {
      // A well-formed fast SignalEvent: the connection id and flag number in RDX.
      in_gpa = connection_id(pi) | std::uint64_t{flag_number()} << 32;
    }
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
    if (state != nullptr && c.fast()) {
      part.states[vi]->load_xmm(in_.ConsumeBytes<std::uint8_t>(hv::VpState::kXmmBytes));
    }
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

    // What a PostMessage or SignalEvent should do, from the harness's own models.
    const MessageCall mc = message_call(pi, regs);

    starts_.clear();
    trace_.count = 0;
    in_call_ = true;
    const unsigned xmm_writes = part.states[vi]->xmm_writes;
    const hv::Outcome o = dispatcher_->dispatch(*part.p, vp, st, state);
    in_call_ = false;
    // XMM registers are written only by a 64-bit XMM fast call with output (A27).
    if (part.states[vi]->xmm_writes != xmm_writes) {
      HVK_FUZZ_CHECK(state != nullptr && c.fast() && st.mode == hv::ExecMode::k64Bit);
      HVK_FUZZ_CHECK(call != nullptr && (call->rep ? call->out_element : call->output_size) != 0);
    }
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
    if (o.action == hv::Action::kSuspend) {
      // Only a flush aimed at a TLB a higher VTL locked (L5): nothing is written, and the machine
      // issues the same call again later.
      HVK_FUZZ_CHECK(call != nullptr &&
                     (call->code == tlfs::CallCode::kFlushVirtualAddressSpace ||
                      call->code == tlfs::CallCode::kFlushVirtualAddressList));
      HVK_FUZZ_CHECK(std::memcmp(&before, &st.regs, sizeof(before)) == 0);
      return false;
    }
    HVK_FUZZ_CHECK(tlfs::status_name(status) != nullptr);
    HVK_FUZZ_CHECK((o.result.raw & ~((std::uint64_t{tlfs::HypercallControl::kMaxRep} << 32) |
                                     0xFFFF)) == 0);
    if (call == nullptr) HVK_FUZZ_CHECK(status == tlfs::Status::kInvalidHypercallCode);
    if (mc.active) {
      log_line("  %s: reference status %#x\n", mc.post ? "post message" : "signal event",
          mc.expect ? static_cast<unsigned>(*mc.expect) : 0xFFFFu);
      HVK_FUZZ_CHECK(listed_status(mc.post, status));
      if (mc.expect) HVK_FUZZ_CHECK(status == *mc.expect);
    }

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
      // An XMM fast call with no input returns its output from RDX on.
      if (o.fast_output_in_gprs) {
        HVK_FUZZ_CHECK(c.fast() && call != nullptr && call->input_size == 0);
        expect.rdx = o.fast_gprs[0];
        expect.r8 = o.fast_gprs[1];
      }
    } else {
      HVK_FUZZ_CHECK(!o.fast_output_in_gprs);
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
    AllowedRanges allowed;
    if (lo < hi) {
      allowed[pi].push_back({lo, hi});
      taint_sim_writes(pi, lo, hi);  // an output may land in a SIM page
    }
    if (mc.active && status == tlfs::Status::kSuccess) {
      const SynicModel& t = model(mc.conn.target, mc.conn.port.vp, mc.conn.port.vtl);
      if (mc.post) {
        const std::uint64_t slot = t.slot_gpa(mc.conn.port.sint);
        allowed[mc.conn.target].push_back({slot, slot + tlfs::kMessageSize});
      } else {
        allowed[mc.conn.target].push_back({mc.flag_gpa, mc.flag_gpa + 8});
      }
    }
    check_memory(allowed);
    check_trace(pi, vi, o);
    if (mc.active) check_message_call(mc, status);

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

  using AllowedRanges = std::array<Ranges, kMaxPartitions>;

  // Every partition's memory changed only inside its allowed ranges.
  void check_memory(const AllowedRanges& allowed) {
    for (std::size_t i = 0; i < parts_.size(); ++i) {
      if (Guest* g = parts_[i].guest.get()) HVK_FUZZ_CHECK(g->changed_only_within(allowed[i]));
    }
  }
  void check_memory(std::size_t pi, std::uint64_t lo, std::uint64_t hi) {
    AllowedRanges a;
    if (lo < hi) a[pi].push_back({lo, hi});
    check_memory(a);
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
    if (index >= hv::msr::kScontrol && index < hv::msr::kScontrol + 0x40) {
      // The SynIC and timer MSRs (and the holes between them): the same value choices as below.
      std::uint64_t value = 0;
      if (write) {
        switch (in_.ConsumeIntegralInRange<int>(0, 2)) {
          case 0: value = (gpa(pi) & hv::HypercallMsr::kGpaMask) | in_.ConsumeIntegralInRange<std::uint64_t>(0, 3); break;
          case 1: value = in_.ConsumeIntegral<std::uint64_t>(); break;
          default: value = in_.ConsumeIntegralInRange<std::uint64_t>(0, 3); break;
        }
      }
      synic_msr(pi, vi, write, index, value);
      return;
    }
    const bool msr_priv = p.privileges().has(tlfs::Privilege::kHypercallMsrs);
    const bool vp_priv = p.privileges().has(tlfs::Privilege::kVpIndex);
    // The calling VP's VTL owns GUEST_OS_ID and HYPERCALL (TLFS vsm "Private State").
    const tlfs::Vtl vtl = vp.current_vtl();
    const std::uint64_t os_id = p.guest_os_id(vtl);
    const std::uint64_t old = p.hypercall_msr(vtl);
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
      } else if (index == hv::msr::kTimeRefCount) {
        // Y23: the clock the synthetic timers use.
        HVK_FUZZ_CHECK(a.gp == !parts_[pi].privileges.has(tlfs::Privilege::kPartitionReferenceCounter));
        if (!a.gp) HVK_FUZZ_CHECK(a.value == clock_.t);
      }
      HVK_FUZZ_CHECK(p.guest_os_id(vtl) == os_id && p.hypercall_msr(vtl) == old);
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
      HVK_FUZZ_CHECK(p.guest_os_id(vtl) == os_id && p.hypercall_msr(vtl) == old);
      return;
    }
    HVK_FUZZ_CHECK(a.gp == !msr_priv);
    if (a.gp) {
      HVK_FUZZ_CHECK(p.guest_os_id(vtl) == os_id && p.hypercall_msr(vtl) == old);
      return;
    }
    if (index == hv::msr::kGuestOsId) {
      HVK_FUZZ_CHECK(p.guest_os_id(vtl) == value && p.hypercall_msr(vtl) == old);
      HVK_FUZZ_CHECK(!a.install_hypercall_page);
      return;
    }
    if (hv::HypercallMsr{old}.locked()) {
      HVK_FUZZ_CHECK(p.hypercall_msr(vtl) == old);
      HVK_FUZZ_CHECK(!a.install_hypercall_page);
      return;
    }
    std::uint64_t next = value & (hv::HypercallMsr::kGpaMask | hv::HypercallMsr::kLocked |
                                  hv::HypercallMsr::kEnable);
    if (os_id == 0) next &= ~hv::HypercallMsr::kEnable;
    HVK_FUZZ_CHECK(p.hypercall_msr(vtl) == next);
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

  // --- the SynIC: models, references, steps ---------------------------------------------------

  SynicModel& model(std::size_t pi, tlfs::VpIndex vi, tlfs::Vtl v) {
    return parts_[pi].synics[std::size_t{vi} * (tlfs::kMaxVtl + 1) + v];
  }
  hv::VtlSynic& engine_synic(std::size_t pi, tlfs::VpIndex vi, tlfs::Vtl v) {
    return parts_[pi].p->vp(vi)->synic(v);
  }

  // The statuses docs/conformance.md lists for the two calls: the dispatcher's (A-rows: control
  // word, fast fit, GPAs), Y1's ACCESS_DENIED, and Y25 (with Y9, Y10) or Y27 (with Y13).
  static bool listed_status(bool post, tlfs::Status s) {
    using S = tlfs::Status;
    switch (s) {
      case S::kSuccess: case S::kInvalidHypercallInput: case S::kInvalidAlignment:
      case S::kAccessDenied: case S::kInvalidParameter: case S::kInvalidConnectionId:
      case S::kInvalidPortId: case S::kInvalidSynicState:
        return true;
      case S::kInsufficientBuffers: return post;
      default: return false;
    }
  }

  const HostConnection* find_conn(std::size_t pi, std::uint32_t id, hv::PortKind kind) const {
    for (const HostConnection& c : parts_[pi].conns) {
      if (c.id == id && c.kind == kind) return &c;
    }
    return nullptr;
  }

  // Y25/Y27's connection checks, shared by both calls: an id that no connection of either kind
  // has (or with bits 31:24 set) is INVALID_CONNECTION_ID; one of the other kind only, or whose
  // receiver is not active, is INVALID_PORT_ID. Returns the connection, or sets *refused.
  const HostConnection* resolve_conn(std::size_t pi, std::uint32_t id, hv::PortKind kind,
                                     hv::PortKind other_kind,
                                     std::optional<tlfs::Status>* refused) const {
    const HostConnection* c = (id >> 24) != 0 ? nullptr : find_conn(pi, id, kind);
    const HostConnection* other = (id >> 24) != 0 ? nullptr : find_conn(pi, id, other_kind);
    if (c == nullptr && other == nullptr) {
      *refused = tlfs::Status::kInvalidConnectionId;
      return nullptr;
    }
    if (c == nullptr || parts_[c->target].p->state() != hv::PartitionState::kActive) {
      *refused = tlfs::Status::kInvalidPortId;
      return nullptr;
    }
    return c;
  }

  // The reference for PostMessage and SignalEvent: the status the call must return, computed from
  // the control word's bits, the harness's regions, privileges, connections and SynIC registers,
  // in the order the rows give. Also what a SUCCESS must leave behind.
  MessageCall message_call(std::size_t pi, const hv::CallRegs& regs) {
    MessageCall m;
    const std::uint64_t raw = regs.control.raw;
    const std::uint16_t code = raw & 0xFFFF;
    if (code != kPostMessageCode && code != kSignalEventCode) return m;
    m.active = true;
    m.post = code == kPostMessageCode;
    using S = tlfs::Status;
    // A6-A10: reserved bits, nested, a variable header, a rep count or start on a simple call.
    constexpr std::uint64_t kMustBeZero = (0x7FFFull << 17) | (0xFull << 44) | (0xFull << 60);
    if ((raw & kMustBeZero) != 0 || ((raw >> 32) & 0xFFF) != 0 || ((raw >> 48) & 0xFFF) != 0) {
      m.expect = S::kInvalidHypercallInput;
      return m;
    }
    std::array<std::byte, sizeof(tlfs::PostMessageInput)> in{};
    const std::size_t len = m.post ? sizeof(tlfs::PostMessageInput) : sizeof(tlfs::SignalEventInput);
    if (((raw >> 16) & 1) != 0) {
      if (m.post) {  // Y26: 256 bytes do not fit two registers
        m.expect = S::kInvalidHypercallInput;
        return m;
      }
      tlfs::store(std::span(in), regs.input, 0);  // RDX (EBX:ECX): the 8-byte input
    } else {
      if (!gpa_ok(pi, regs.input, len)) {  // A13-A15
        m.expect = S::kInvalidAlignment;
        return m;
      }
      HVK_FUZZ_CHECK(parts_[pi].guest->read(regs.input, std::span(in).first(len)));
    }
    const Part& caller = parts_[pi];
    if (m.post) {
      const auto pm = tlfs::load<tlfs::PostMessageInput>(in);
      if (!caller.privileges.has(tlfs::Privilege::kPostMessages)) {  // Y1
        m.expect = S::kAccessDenied;
        return m;
      }
      if (pm.message_type == 0 || (pm.message_type & 0x8000'0000u) != 0 ||
          pm.payload_size > 240 || pm.reserved != 0) {  // Y25
        m.expect = S::kInvalidParameter;
        return m;
      }
      const std::uint32_t id = pm.connection_id.raw;
      const HostConnection* c =
          resolve_conn(pi, id, hv::PortKind::kMessage, hv::PortKind::kEvent, &m.expect);
      if (c == nullptr) return m;
      const SynicModel& t = model(c->target, c->port.vp, c->port.vtl);
      if (!t.deliverable()) {  // Y9
        m.expect = S::kInvalidSynicState;
        return m;
      }
      const std::size_t queued = engine_synic(c->target, c->port.vp, c->port.vtl).synic.queued(c->port.sint);
      HVK_FUZZ_CHECK(queued <= 16);
      if (queued == 16) {  // Y10
        m.expect = S::kInsufficientBuffers;
        return m;
      }
      m.expect = S::kSuccess;
      m.conn = *c;
      m.message.header.message_type = pm.message_type;
      m.message.header.payload_size = static_cast<std::uint8_t>(pm.payload_size);
      m.message.header.origination_id = c->port.port_id;  // Y24
      std::memcpy(m.message.payload, pm.payload, pm.payload_size);
      m.slot_before = parts_[c->target].guest->qword(t.slot_gpa(c->port.sint)).value_or(0);
      return m;
    }
    const auto se = tlfs::load<tlfs::SignalEventInput>(std::span(in).first(8));
    if (!caller.privileges.has(tlfs::Privilege::kSignalEvents)) {  // Y1
      m.expect = S::kAccessDenied;
      return m;
    }
    // Y27 does not say whether RsvdZ comes before the connection; the reference takes Y25's
    // order (what the input alone shows first).
    if (se.reserved != 0) {
      m.expect = S::kInvalidParameter;
      return m;
    }
    const std::uint32_t id = se.connection_id.raw;
    const HostConnection* c =
        resolve_conn(pi, id, hv::PortKind::kEvent, hv::PortKind::kMessage, &m.expect);
    if (c == nullptr) return m;
    if (se.flag_number >= c->port.flag_count) {  // needs the port, so after it
      m.expect = S::kInvalidParameter;
      return m;
    }
    const SynicModel& t = model(c->target, c->port.vp, c->port.vtl);
    if ((t.scontrol & 1) == 0 || !t.sief_on() || t.masked(c->port.sint)) {  // Y13
      m.expect = S::kInvalidSynicState;
      return m;
    }
    m.expect = S::kSuccess;
    m.conn = *c;
    const unsigned flag = unsigned{c->port.flag_base} + se.flag_number;
    m.flag_gpa = t.sief_gpa() + std::uint64_t{c->port.sint} * 256 + std::uint64_t{flag / 64} * 8;
    m.flag_bit = std::uint64_t{1} << (flag % 64);
    m.flag_was_set = (parts_[c->target].guest->qword(m.flag_gpa).value_or(0) & m.flag_bit) != 0;
    return m;
  }

  // After a PostMessage or SignalEvent (its status checked against the reference already).
  void check_message_call(const MessageCall& mc, tlfs::Status status) {
    if (status != tlfs::Status::kSuccess) {
      HVK_FUZZ_CHECK(irqs_.empty());
      return;
    }
    const std::size_t ti = mc.conn.target;
    const hv::Port& port = mc.conn.port;
    SynicModel& t = model(ti, port.vp, port.vtl);
    Guest& g = *parts_[ti].guest;
    const std::uint32_t seen = check_irqs_from(ti, port.vp, port.vtl);
    HVK_FUZZ_CHECK((seen & ~(1u << port.sint)) == 0);  // only the port's SINT
    const bool backend = parts_[ti].backend != nullptr;
    if (!mc.post) {
      // Y12: the flag is set; the SINT is raised exactly when the flag was clear.
      HVK_FUZZ_CHECK((g.qword(mc.flag_gpa).value_or(0) & mc.flag_bit) != 0);
      HVK_FUZZ_CHECK((seen != 0) == (!mc.flag_was_set && backend));
      return;
    }
    const std::uint64_t after = g.qword(t.slot_gpa(port.sint)).value_or(0);
    const bool delivered = tlfs::header_word_type(mc.slot_before) == 0 &&
                           tlfs::header_word_type(after) != 0;
    HVK_FUZZ_CHECK(seen == 0 || delivered);
    if (!t.tainted) {
      t.fifo[port.sint].push_back(mc.message);
      // A free slot gets the oldest message at once (Y6); a busy one its MessagePending flag
      // (Y7). check_messages() compares the slot with the oldest one.
      if (tlfs::header_word_type(mc.slot_before) == 0) {
        HVK_FUZZ_CHECK(delivered);
        HVK_FUZZ_CHECK((seen != 0) == (backend && !t.masked(port.sint)));  // Y8
      } else {
        HVK_FUZZ_CHECK(tlfs::header_word_type(after) == tlfs::header_word_type(mc.slot_before));
        HVK_FUZZ_CHECK((tlfs::header_word_flags(after) & tlfs::kMessagePending) != 0);
      }
    }
    touch_ = Touch{ti, port.vp, port.vtl, 1u << port.sint};
  }

  // The interrupts this step raised: all from SynIC (pi, vi, v), from unmasked SINTs with the
  // vector and AutoEOI the harness's model has, or its direct timers; one per source. Returns the
  // sources seen and consumes them.
  std::uint32_t check_irqs_from(std::size_t pi, tlfs::VpIndex vi, tlfs::Vtl v) {
    std::uint32_t seen = 0;
    const SynicModel& m = model(pi, vi, v);
    for (const auto& [part, irq] : irqs_) {
      log_line("  interrupt partition %zu vp %u vtl %u vector %u source %u\n", part + 1,
          irq.vp_index, irq.vtl, irq.vector, irq.source);
      HVK_FUZZ_CHECK(part == pi && irq.vp_index == vi && irq.vtl == v);
      HVK_FUZZ_CHECK(irq.source < hv::SintInterrupt::kDirectTimer + tlfs::kStimerCount);
      HVK_FUZZ_CHECK(((seen >> irq.source) & 1) == 0);
      seen |= 1u << irq.source;
      if (irq.source < tlfs::kSintCount) {
        HVK_FUZZ_CHECK(!m.masked(irq.source));
        HVK_FUZZ_CHECK(irq.vector == static_cast<std::uint8_t>(m.sint[irq.source]));
        HVK_FUZZ_CHECK(irq.vector >= tlfs::kFirstValidSintVector);
        HVK_FUZZ_CHECK(irq.auto_eoi == ((m.sint[irq.source] & tlfs::SintRegister::kAutoEoi) != 0));
      } else {
        HVK_FUZZ_CHECK(!irq.auto_eoi);
      }
    }
    irqs_.clear();
    return seen;
  }

  // A write into [lo, hi) of partition pi's memory by anything but the engine's delivery: the
  // SIM pages it reaches no longer follow the message bookkeeping.
  void taint_sim_writes(std::size_t pi, std::uint64_t lo, std::uint64_t hi) {
    for (SynicModel& m : parts_[pi].synics) {
      if (!m.tainted && m.sim_on() && lo < m.sim_gpa() + tlfs::kPageSize && m.sim_gpa() < hi) {
        log_line("  SIM page %#llx written by the guest or a call: its messages are no longer counted\n",
            static_cast<unsigned long long>(m.sim_gpa()));
        m.tainted = true;
      }
    }
  }

  // A SIM page that is also another enabled SIM or SIEF page (of any VP or VTL of the partition).
  void taint_shared_pages(std::size_t pi) {
    std::vector<SynicModel>& all = parts_[pi].synics;
    for (SynicModel& m : all) {
      if (m.tainted || !m.sim_on()) continue;
      for (const SynicModel& o : all) {
        if ((&o != &m && o.sim_on() && o.sim_gpa() == m.sim_gpa()) ||
            (o.sief_on() && o.sief_gpa() == m.sim_gpa())) {
          log_line("  SIM page %#llx shared: its messages are no longer counted\n",
              static_cast<unsigned long long>(m.sim_gpa()));
          m.tainted = true;
          break;
        }
      }
    }
  }

  bool page_shared(std::size_t pi, std::uint64_t page, int times) const {
    int n = 0;
    for (const SynicModel& o : parts_[pi].synics) {
      n += (o.sim_on() && o.sim_gpa() == page) + (o.sief_on() && o.sief_gpa() == page);
    }
    return n > times;
  }

  static bool same_message(const tlfs::Message& got, const tlfs::Message& want) {
    return got.header.message_type == want.header.message_type &&
           got.header.payload_size == want.header.payload_size &&
           got.header.origination_id == want.header.origination_id &&
           std::memcmp(got.payload, want.payload, want.header.payload_size) == 0;
  }

  std::optional<tlfs::Message> read_slot(std::size_t pi, const SynicModel& m, unsigned s) const {
    std::array<std::byte, sizeof(tlfs::Message)> b{};
    if (!m.sim_on() || parts_[pi].guest == nullptr || !parts_[pi].guest->read(m.slot_gpa(s), b)) {
      return std::nullopt;
    }
    return tlfs::load<tlfs::Message>(b);
  }

  // Message conservation (Y10, Y11) and delivery (Y6, Y7), after every step.
  void check_messages() {
    for (std::size_t pi = 0; pi < parts_.size(); ++pi) {
      for (std::uint32_t vi = 0; vi < parts_[pi].p->vp_count(); ++vi) {
        for (tlfs::Vtl v = 0; v <= tlfs::kMaxVtl; ++v) {
          const SynicModel& m = model(pi, vi, v);
          if (m.queue_sints == 0) continue;
          const hv::Synic& syn = engine_synic(pi, vi, v).synic;
          const bool touched = touch_ && touch_->part == pi && touch_->vp == vi && touch_->vtl == v;
          for (unsigned s = 0; s < tlfs::kSintCount; ++s) {
            if (((m.queue_sints >> s) & 1) == 0) continue;
            const std::size_t queued = syn.queued(s);
            HVK_FUZZ_CHECK(queued <= 16);
            if (m.tainted) continue;
            const std::optional<tlfs::Message> slot = read_slot(pi, m, s);
            const bool in_slot = slot && is_posted_type(slot->header.message_type);
            if (m.fifo[s].size() != queued + in_slot) {
              log_line("  partition %zu vp %u vtl %u sint %u: %zu posted, %zu queued, %d in the slot\n",
                  pi + 1, vi, v, s, m.fifo[s].size(), queued, in_slot);
            }
            HVK_FUZZ_CHECK(m.fifo[s].size() == queued + in_slot);
            if (in_slot) HVK_FUZZ_CHECK(same_message(*slot, m.fifo[s].front()));
            if (touched && ((touch_->sints >> s) & 1) != 0 && m.deliverable() && queued > 0) {
              // A retried SINT with messages waiting has a busy slot flagged MessagePending.
              HVK_FUZZ_CHECK(slot && slot->header.message_type != 0);
              HVK_FUZZ_CHECK((slot->header.message_flags & tlfs::kMessagePending) != 0);
            }
          }
        }
      }
    }
  }

  // A timer expiry in a slot (Y15): HvMessageTimerExpired, 24 bytes, a timer index, and an
  // expiration no later than the delivery, which is no later than the clock.
  void check_timer_message(const tlfs::Message& msg) {
    HVK_FUZZ_CHECK(msg.header.payload_size == sizeof(tlfs::TimerMessagePayload));
    HVK_FUZZ_CHECK(msg.header.origination_id == 0);
    tlfs::TimerMessagePayload t{};
    std::memcpy(&t, msg.payload, sizeof t);
    HVK_FUZZ_CHECK(t.timer_index < tlfs::kStimerCount);
    HVK_FUZZ_CHECK(t.expiration_time <= t.delivery_time);
    HVK_FUZZ_CHECK(t.delivery_time <= clock_.t);
  }

  // A connection id for partition pi's calls: one it has, a small one, junk, or one of its own
  // with reserved bits.
  std::uint32_t connection_id(std::size_t pi) {
    const std::vector<HostConnection>& conns = parts_[pi].conns;
    switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
      case 0:
        if (conns.empty()) return 0;
        return conns[in_.ConsumeIntegralInRange<std::size_t>(0, conns.size() - 1)].id;
      case 1: return in_.ConsumeIntegralInRange<std::uint32_t>(0, 7);
      case 2: return in_.ConsumeIntegral<std::uint32_t>();
      default:
        return (conns.empty() ? 0 : conns.front().id) |
               (in_.ConsumeIntegralInRange<std::uint32_t>(1, 255) << 24);
    }
  }

  // A SIM or SIEF page for (pi, vi, v): its own page in the SynIC region, a page of the first
  // region, any GPA around RAM, or anything.
  std::uint64_t synic_page(std::size_t pi, tlfs::VpIndex vi, tlfs::Vtl v, bool sief) {
    switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
      case 0:
        return kSynicRegionGpa +
               tlfs::kPageSize * ((std::uint64_t{v} * parts_[pi].p->vp_count() + vi) * 2 + (sief ? 1 : 0));
      case 1:  // any page of the region, or the one after it
        return kSynicRegionGpa + tlfs::kPageSize * in_.ConsumeIntegralInRange<std::uint64_t>(
                                     0, 2 * std::uint64_t{parts_[pi].p->vp_count()} * (tlfs::kMaxVtl + 1));
      case 2: return gpa(pi) & tlfs::kSynicPageMask;
      default: return in_.ConsumeIntegral<std::uint64_t>() & tlfs::kSynicPageMask;
    }
  }

  // The SynIC and timer MSRs with values a guest would write (and some it should not).
  void synic_msr_op() {
    const std::size_t pi = pick_part();
    const tlfs::VpIndex vi = pick_vp(pi);
    const tlfs::Vtl v = parts_[pi].p->vp(vi)->current_vtl();
    const bool write = in_.ConsumeIntegralInRange<int>(0, 3) != 3;
    std::uint32_t index = 0;
    std::uint64_t value = 0;
    switch (in_.ConsumeIntegralInRange<int>(0, 8)) {
      case 0:
        index = hv::msr::kScontrol;
        value = in_.ConsumeIntegralInRange<int>(0, 3) == 3 ? in_.ConsumeIntegral<std::uint64_t>()
                                                            : 1;
        break;
      case 1:
      case 2: {
        const bool sief = in_.ConsumeBool();
        index = sief ? hv::msr::kSiefp : hv::msr::kSimp;
        value = synic_page(pi, vi, v, sief);
        switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
          case 0: case 1: value |= 1; break;
          case 2: break;  // disabled
          default: value |= in_.ConsumeIntegralInRange<std::uint64_t>(0, 0xFFF); break;  // RsvdP
        }
        break;
      }
      case 3:
        index = hv::msr::kEom;
        value = in_.ConsumeBool() ? in_.ConsumeIntegral<std::uint64_t>() : 0;
        break;
      case 4: {
        index = hv::msr::kSint0 + in_.ConsumeIntegralInRange<std::uint32_t>(0, tlfs::kSintCount - 1);
        switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
          case 0: case 1: value = in_.ConsumeIntegralInRange<std::uint64_t>(16, 255); break;
          case 2: value = in_.ConsumeIntegralInRange<std::uint64_t>(0, 15); break;
          default: value = in_.ConsumeIntegral<std::uint64_t>(); break;
        }
        if (in_.ConsumeIntegralInRange<int>(0, 3) == 3) value |= tlfs::SintRegister::kMasked;
        if (in_.ConsumeBool()) value |= tlfs::SintRegister::kAutoEoi;
        break;
      }
      case 5: {
        index = hv::msr::kStimer0Config + 2 * in_.ConsumeIntegralInRange<std::uint32_t>(0, 3);
        if (in_.ConsumeIntegralInRange<int>(0, 3) == 3) {
          value = in_.ConsumeIntegral<std::uint64_t>();
        } else {
          value = in_.ConsumeIntegral<std::uint8_t>() & 0xF;  // Enable, Periodic, Lazy, AutoEnable
          value |= std::uint64_t{in_.ConsumeIntegralInRange<std::uint32_t>(0, 15)} << 16;  // SINTx
          if (in_.ConsumeIntegralInRange<int>(0, 3) == 3) {
            value |= tlfs::StimerConfig::kDirectMode |
                     std::uint64_t{in_.ConsumeIntegral<std::uint8_t>()} << 4;
          }
        }
        break;
      }
      case 6:
        index = hv::msr::kStimer0Count + 2 * in_.ConsumeIntegralInRange<std::uint32_t>(0, 3);
        switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
          case 0: value = clock_.t + in_.ConsumeIntegralInRange<std::uint64_t>(0, 100'000); break;
          case 1: value = in_.ConsumeIntegralInRange<std::uint64_t>(1, 100'000); break;
          case 2: value = 0; break;
          default: value = in_.ConsumeIntegral<std::uint64_t>(); break;
        }
        break;
      case 7:
        index = hv::msr::kSversion;
        value = in_.ConsumeIntegral<std::uint64_t>();
        break;
      default:
        index = hv::msr::kScontrol + in_.ConsumeIntegralInRange<std::uint32_t>(0, 0x3F);
        value = in_.ConsumeIntegral<std::uint64_t>();
        break;
    }
    synic_msr(pi, vi, write, index, value);
  }

  // One rdmsr or wrmsr of an index in 0x40000080-0x400000BF, against the harness's model.
  void synic_msr(std::size_t pi, tlfs::VpIndex vi, bool write, std::uint32_t index,
                 std::uint64_t value) {
    Part& part = parts_[pi];
    hv::Partition& p = *part.p;
    hv::Vp& vp = *p.vp(vi);
    const tlfs::Vtl v = vp.current_vtl();
    SynicModel& m = model(pi, vi, v);
    const bool timer = index >= hv::msr::kStimer0Config &&
                       index < hv::msr::kStimer0Config + 2 * tlfs::kStimerCount;
    const bool synic = (index >= hv::msr::kScontrol && index <= hv::msr::kEom) ||
                       (index >= hv::msr::kSint0 && index < hv::msr::kSint0 + tlfs::kSintCount);
    const bool priv = timer ? part.privileges.has(tlfs::Privilege::kSyntheticTimerRegs)
                            : part.privileges.has(tlfs::Privilege::kSynicRegs);
    const unsigned sint = index - hv::msr::kSint0;
    const unsigned t = (index - hv::msr::kStimer0Config) / 2;
    if (!write) {
      const hv::MsrAccess a = hv::read_synthetic_msr(p, vp, index);
      log_line("  rdmsr %#x partition %zu vp %u vtl %u -> gp %d value %#llx\n", index, pi + 1, vi,
          v, a.gp, static_cast<unsigned long long>(a.value));
      HVK_FUZZ_CHECK(a.gp == (!(timer || synic) || !priv));  // Y1; the others do not exist
      if (a.gp) return;
      if (timer && index % 2 == 0) {
        const tlfs::StimerConfig c{a.value};
        HVK_FUZZ_CHECK((a.value & ~tlfs::StimerConfig::kDefinedBits) == 0);  // Y20
        HVK_FUZZ_CHECK(!c.enabled() || c.direct() || c.sintx() != 0);       // Y19
      } else if (timer) {
        HVK_FUZZ_CHECK(a.value == m.count[t]);
      } else {
        HVK_FUZZ_CHECK(a.value == model_register(m, index));  // Y2, Y3, Y4
      }
      return;
    }

    // Expected #GP: no privilege (Y1), no such MSR, SVERSION (Y2), an unmasked vector below 16
    // (Y3), a SIM or SIEF page newly enabled or moved onto something that is not RAM (Y5).
    const bool page = index == hv::msr::kSimp || index == hv::msr::kSiefp;
    const std::uint64_t old_reg = index == hv::msr::kSimp ? m.simp : m.siefp;
    const bool page_new = page && (value & 1) != 0 &&
                          ((old_reg & 1) == 0 || (old_reg & tlfs::kSynicPageMask) !=
                                                     (value & tlfs::kSynicPageMask));
    bool expect_gp = !(timer || synic) || !priv || index == hv::msr::kSversion;
    if (!expect_gp && index >= hv::msr::kSint0 && !timer) {
      expect_gp = (value & tlfs::SintRegister::kMasked) == 0 &&
                  static_cast<std::uint8_t>(value) < tlfs::kFirstValidSintVector;
    }
    if (!expect_gp && page_new) {
      expect_gp = part.guest == nullptr ||
                  part.guest->region_of(value & tlfs::kSynicPageMask, tlfs::kPageSize) == nullptr;
    }
    // The messages in the SIM page the guest moves away from or disables leave the slots: the
    // harness's guest takes them as they are (the TLFS keeps nothing behind a page that moved).
    std::array<std::optional<tlfs::Message>, tlfs::kSintCount> old_slots{};
    const bool sim_leaves = index == hv::msr::kSimp && m.sim_on() &&
                            ((value & 1) == 0 || page_new);
    if (sim_leaves) {
      for (unsigned s = 0; s < tlfs::kSintCount; ++s) old_slots[s] = read_slot(pi, m, s);
    }

    const hv::MsrAccess a = hv::write_synthetic_msr(p, vp, index, value);
    log_line("  wrmsr %#x %#llx partition %zu vp %u vtl %u -> gp %d\n", index,
        static_cast<unsigned long long>(value), pi + 1, vi, v, a.gp);
    HVK_FUZZ_CHECK(a.gp == expect_gp);
    HVK_FUZZ_CHECK(!a.install_hypercall_page && !a.install_reference_tsc && !a.crash && !a.idle);
    if (a.gp) {
      HVK_FUZZ_CHECK(timer_changes_.empty());
      return;  // nothing changed: the model stays, no memory (allowed_ is empty), no interrupt
    }
    switch (index) {
      case hv::msr::kScontrol: m.scontrol = value; break;
      case hv::msr::kSimp: m.simp = value; break;
      case hv::msr::kSiefp: m.siefp = value; break;
      default:
        if (index >= hv::msr::kSint0 && !timer) m.sint[sint] = value;
        if (timer && index % 2 == 1) m.count[t] = value;
        break;
    }
    if (sim_leaves && !m.tainted) {
      for (unsigned s = 0; s < tlfs::kSintCount; ++s) {
        if (old_slots[s]) take_message(m, s, *old_slots[s]);
      }
    }
    if (page) taint_shared_pages(pi);
    if (!timer && index != hv::msr::kEom) {
      const hv::MsrAccess r = hv::read_synthetic_msr(p, vp, index);
      HVK_FUZZ_CHECK(!r.gp && r.value == model_register(m, index));  // read back as written
    }
    if (timer) {
      const hv::MsrAccess r = hv::read_synthetic_msr(p, vp, index - index % 2);
      HVK_FUZZ_CHECK(!r.gp);
      const tlfs::StimerConfig c{r.value};
      HVK_FUZZ_CHECK((r.value & ~tlfs::StimerConfig::kDefinedBits) == 0);  // Y20
      HVK_FUZZ_CHECK(!c.enabled() || c.direct() || c.sintx() != 0);       // Y19
      if (index % 2 == 1 && value == 0) HVK_FUZZ_CHECK(!c.enabled());     // Y18
    }

    // Memory: the page it enabled (zeroed, Y5) and the SIM page the poll after it may fill.
    if (page_new) {
      const std::uint64_t pg = value & tlfs::kSynicPageMask;
      allowed_[pi].push_back({pg, pg + tlfs::kPageSize});
      if (!page_shared(pi, pg, 1)) check_zeroed(pi, pg, index == hv::msr::kSimp);
    }
    if (m.sim_on()) allowed_[pi].push_back({m.sim_gpa(), m.sim_gpa() + tlfs::kPageSize});
    check_irqs_from(pi, vi, v);
    touch_ = Touch{pi, vi, v, 0xFFFF};

    // Y23: a timer write tells the machine the next deadline, and leaves none due.
    if (timer && part.backend) {
      HVK_FUZZ_CHECK(timer_changes_.size() == 1);
      const TimerChange& tc = timer_changes_.front();
      HVK_FUZZ_CHECK(tc.part == pi && tc.vp == vi && tc.vtl == v);
      HVK_FUZZ_CHECK(tc.deadline == hv::next_synic_deadline(p, vi, v));
      HVK_FUZZ_CHECK(tc.deadline == kNoDeadline || tc.deadline > clock_.t);
    }
    timer_changes_.clear();
  }

  std::uint64_t model_register(const SynicModel& m, std::uint32_t index) const {
    switch (index) {
      case hv::msr::kScontrol: return m.scontrol;
      case hv::msr::kSversion: return tlfs::kSynicVersion;
      case hv::msr::kSiefp: return m.siefp;
      case hv::msr::kSimp: return m.simp;
      case hv::msr::kEom: return 0;
      default: return m.sint[index - hv::msr::kSint0];
    }
  }

  // A page just enabled: all zero (SIEF), or every free slot all zero (SIM: the poll after the
  // write may have filled some).
  void check_zeroed(std::size_t pi, std::uint64_t page, bool sim) {
    std::array<std::byte, tlfs::kPageSize> b{};
    HVK_FUZZ_CHECK(parts_[pi].guest->read(page, b));
    for (unsigned s = 0; s < tlfs::kSintCount; ++s) {
      const auto slot = std::span(b).subspan(s * tlfs::kMessageSize, tlfs::kMessageSize);
      if (sim && tlfs::load<std::uint32_t>(slot) != 0) continue;
      HVK_FUZZ_CHECK(std::all_of(slot.begin(), slot.end(), [](std::byte x) { return x == std::byte{0}; }));
    }
  }

  // The harness's guest takes `msg` out of SINT s's slot: a posted message must be the oldest
  // one outstanding (Y11); a timer's is checked for its fields; nothing else is ever written.
  void take_message(SynicModel& m, unsigned s, const tlfs::Message& msg) {
    const std::uint32_t type = msg.header.message_type;
    if (type == 0 || m.tainted) return;
    if (type == static_cast<std::uint32_t>(tlfs::MessageType::kTimerExpired)) {
      check_timer_message(msg);
      return;
    }
    HVK_FUZZ_CHECK(is_posted_type(type));
    HVK_FUZZ_CHECK(!m.fifo[s].empty());
    HVK_FUZZ_CHECK(same_message(msg, m.fifo[s].front()));
    m.fifo[s].erase(m.fifo[s].begin());
  }

  // The guest's message handler: reads a slot, empties it (type back to None), writes EOM; or
  // only some of that.
  void take_op() {
    const std::size_t pi = pick_part();
    const tlfs::VpIndex vi = pick_vp(pi);
    const tlfs::Vtl v = parts_[pi].p->vp(vi)->current_vtl();
    const int how = in_.ConsumeIntegralInRange<int>(0, 3);  // 0 all, 1 no EOM, 2 EOM only, 3 every SINT
    const unsigned first = in_.ConsumeIntegralInRange<unsigned>(0, tlfs::kSintCount - 1);
    SynicModel& m = model(pi, vi, v);
    Guest* g = parts_[pi].guest.get();
    if (how != 2 && g != nullptr && m.sim_on()) {
      for (unsigned s = 0; s < tlfs::kSintCount; ++s) {
        if (how != 3 && s != first) continue;
        const std::optional<tlfs::Message> msg = read_slot(pi, m, s);
        if (!msg || msg->header.message_type == 0) continue;
        log_line("  take partition %zu vp %u vtl %u sint %u: type %#x size %u\n", pi + 1, vi, v, s,
            msg->header.message_type, msg->header.payload_size);
        take_message(m, s, *msg);
        const std::uint32_t none = 0;
        g->write(m.slot_gpa(s), tlfs::as_bytes(none));
      }
    }
    if (how != 1) synic_msr(pi, vi, true, hv::msr::kEom, 0);
  }

  // The host side (hyperv-testdev's engine calls): connect, disconnect, signal a SINT.
  void host_op() {
    const std::size_t pi = pick_part();
    const int what = in_.ConsumeIntegralInRange<int>(0, 3);
    if (what == 3) {
      const tlfs::VpIndex vi = in_.ConsumeIntegralInRange<tlfs::VpIndex>(0, kMaxVps);
      const tlfs::Vtl v = in_.ConsumeIntegralInRange<tlfs::Vtl>(0, tlfs::kMaxVtl + 1);
      const unsigned s = in_.ConsumeIntegralInRange<unsigned>(0, tlfs::kSintCount);
      const bool raised = hv::signal_sint(*parts_[pi].p, vi, v, s);
      const bool expect = vi < parts_[pi].p->vp_count() && v <= tlfs::kMaxVtl &&
                          s < tlfs::kSintCount && !model(pi, vi, v).masked(s);
      log_line("  host signals partition %zu vp %u vtl %u sint %u -> %d\n", pi + 1, vi, v, s, raised);
      HVK_FUZZ_CHECK(raised == expect);  // Y14
      if (expect) {
        const std::uint32_t seen = check_irqs_from(pi, vi, v);
        HVK_FUZZ_CHECK(seen == (parts_[pi].backend ? 1u << s : 0u));
      }
      return;
    }
    const hv::PortKind kind = in_.ConsumeBool() ? hv::PortKind::kEvent : hv::PortKind::kMessage;
    std::uint32_t id = 0;
    switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
      case 0: case 1: id = in_.ConsumeIntegralInRange<std::uint32_t>(0, 7); break;
      case 2: id = in_.ConsumeIntegral<std::uint32_t>(); break;
      default: id = in_.ConsumeIntegralInRange<std::uint32_t>(0, 7) | 0x0100'0000u; break;
    }
    std::vector<HostConnection>& conns = parts_[pi].conns;
    if (what == 2) {
      const bool gone = parts_[pi].p->connections().disconnect(id, kind);
      const auto it = std::find_if(conns.begin(), conns.end(), [&](const HostConnection& c) {
        return c.id == id && c.kind == kind;
      });
      log_line("  host disconnects partition %zu id %#x kind %d -> %d\n", pi + 1, id,
          static_cast<int>(kind), gone);
      HVK_FUZZ_CHECK(gone == (it != conns.end()));  // Y28
      if (gone) conns.erase(it);
      return;
    }
    const std::size_t ti = pick_part();
    const hv::Partition& target = *parts_[ti].p;
    hv::Port port;
    port.kind = kind;
    port.partition = parts_[ti].p;
    port.vp = in_.ConsumeIntegralInRange<int>(0, 7) == 7 ? in_.ConsumeIntegral<tlfs::VpIndex>()
                                                          : pick_vp(ti);
    port.vtl = in_.ConsumeIntegralInRange<int>(0, 7) == 7 ? in_.ConsumeIntegral<tlfs::Vtl>()
                                                           : in_.ConsumeIntegralInRange<tlfs::Vtl>(0, tlfs::kMaxVtl);
    port.sint = in_.ConsumeIntegralInRange<int>(0, 7) == 7 ? in_.ConsumeIntegral<std::uint8_t>()
                                                            : in_.ConsumeIntegralInRange<std::uint8_t>(0, 15);
    port.port_id = in_.ConsumeBool() ? in_.ConsumeIntegral<std::uint64_t>() : id;
    if (kind == hv::PortKind::kEvent) {
      if (in_.ConsumeIntegralInRange<int>(0, 3) == 3) {
        port.flag_base = in_.ConsumeIntegral<std::uint16_t>();
        port.flag_count = in_.ConsumeIntegral<std::uint16_t>();
      } else {
        port.flag_base = in_.ConsumeIntegralInRange<std::uint16_t>(0, 2047);
        port.flag_count = in_.ConsumeIntegralInRange<std::uint16_t>(1, 8);
      }
    }
    const tlfs::Status st = parts_[pi].p->connections().connect(id, port);
    log_line("  host connects partition %zu id %#x kind %d -> partition %zu vp %u vtl %u sint %u "
        "flags %u+%u: %#x\n", pi + 1, id, static_cast<int>(kind), ti + 1, port.vp, port.vtl,
        port.sint, port.flag_base, port.flag_count, static_cast<unsigned>(st));
    // Y28, rule by rule: the status is SUCCESS exactly when none is broken, else one of theirs.
    using S = tlfs::Status;
    std::vector<S> broken;
    if ((id >> 24) != 0 || find_conn(pi, id, kind) != nullptr) broken.push_back(S::kInvalidConnectionId);
    if (port.sint >= tlfs::kSintCount ||
        (kind == hv::PortKind::kEvent &&
         (port.flag_count == 0 || unsigned{port.flag_base} + port.flag_count > 2048))) {
      broken.push_back(S::kInvalidParameter);
    }
    if (port.vp >= target.vp_count() || port.vtl > tlfs::kMaxVtl) broken.push_back(S::kInvalidVpIndex);
    if (broken.empty()) {
      HVK_FUZZ_CHECK(st == S::kSuccess);
      conns.push_back({id, kind, ti, port});
      if (kind == hv::PortKind::kMessage) model(ti, port.vp, port.vtl).queue_sints |= 1u << port.sint;
    } else {
      HVK_FUZZ_CHECK(std::find(broken.begin(), broken.end(), st) != broken.end());
    }
  }

  // The reference clock moves on (never back), and one SynIC is polled as the machine's timer
  // thread does when a deadline passes.
  void clock_op() {
    switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
      case 0: clock_.t += in_.ConsumeIntegralInRange<std::uint64_t>(0, 1000); break;
      case 1: clock_.t += in_.ConsumeIntegralInRange<std::uint64_t>(0, 10'000'000); break;
      case 2: clock_.t += in_.ConsumeIntegral<std::uint32_t>(); break;
      default: break;
    }
    const std::size_t pi = pick_part();
    const tlfs::VpIndex vi = pick_vp(pi);
    const tlfs::Vtl v = in_.ConsumeIntegralInRange<tlfs::Vtl>(0, tlfs::kMaxVtl);
    const std::uint64_t next = hv::poll_synic(*parts_[pi].p, vi, v);
    log_line("  clock %llu, poll partition %zu vp %u vtl %u -> next %#llx\n",
        static_cast<unsigned long long>(clock_.t), pi + 1, vi, v,
        static_cast<unsigned long long>(next));
    HVK_FUZZ_CHECK(next == kNoDeadline || next > clock_.t);  // nothing left due (Y16, Y17)
    HVK_FUZZ_CHECK(next == hv::next_synic_deadline(*parts_[pi].p, vi, v));
    const SynicModel& m = model(pi, vi, v);
    if (m.sim_on()) allowed_[pi].push_back({m.sim_gpa(), m.sim_gpa() + tlfs::kPageSize});
    check_irqs_from(pi, vi, v);
    touch_ = Touch{pi, vi, v, 0xFFFF};
  }

  struct TimerChange {
    std::size_t part;
    tlfs::VpIndex vp;
    tlfs::Vtl vtl;
    std::uint64_t deadline;
  };

  FuzzedDataProvider& in_;
  FuzzClock clock_;  // outlives the partitions that read it
  hv::Hypervisor hv_;
  std::unique_ptr<hv::Dispatcher> dispatcher_;
  FuzzTrace trace_;
  bool trace_enabled_ = false;
  std::vector<Part> parts_;
  bool started_[kMaxPartitions][kMaxVps][tlfs::kMaxVtl + 1] = {};
  std::vector<RecordedStart> starts_;
  bool in_call_ = false;
  bool init_on_refresh_ = false;
  std::vector<std::pair<std::size_t, hv::SintInterrupt>> irqs_;  // raised during this step
  std::vector<TimerChange> timer_changes_;                         // told during this step
  AllowedRanges allowed_;      // what this step may change besides a call's checked ranges
  std::optional<Touch> touch_;  // the SynIC this step retried
};

void FuzzBackend::start_vp(const hv::StartRequest& request) noexcept { h_.on_start(part_, request); }
void FuzzBackend::partition_state_changed(hv::PartitionState state) noexcept {
  h_.on_state(part_, state);
}
void FuzzBackend::refresh_vp_state(tlfs::VpIndex vp_index) noexcept { h_.on_refresh(part_, vp_index); }
void FuzzBackend::assert_sint(const hv::SintInterrupt& irq) noexcept { h_.on_irq(part_, irq); }
void FuzzBackend::timers_changed(tlfs::VpIndex vp_index, tlfs::Vtl vtl,
                                 std::uint64_t deadline) noexcept {
  h_.on_timers_changed(part_, vp_index, vtl, deadline);
}

void FuzzBackend::send_ipi(tlfs::VpIndex vp_index, tlfs::Vtl vtl, std::uint8_t vector) noexcept {
  h_.on_ipi(part_, vp_index, vtl, vector);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  Harness h(in);
  h.run();
  return 0;
}
