// The hostile guest's shared pieces: the environment every VP reads, per-VP workers, the status
// sets the conformance table allows, failure reporting and the clock.
#pragma once

#include <cstdint>

#include "guest/guest.h"
#include "hvk/tlfs/privileges.h"

namespace hostile {

using namespace guest;
using tlfs::Status;

inline constexpr std::uint64_t kPage = 4096;
inline constexpr std::uint32_t kMaxVps = 64;
inline constexpr std::uint32_t kMaxChildren = 2;  // child partitions the root drives
inline constexpr std::uint32_t kMaxChildVps = 8;
inline constexpr std::uint32_t kZonePages = 4;  // hypercall-page candidates in the zone

// --- random numbers ---------------------------------------------------------------------------
// xorshift64*: a few instructions per number, which matters here: on this project's nested host
// guest code ran at about a microsecond per instruction (measured; docs/reliability.md).

struct Rng {
  std::uint64_t s;
  std::uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545'F491'4F6C'DD1Dull;
  }
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }
  bool percent(unsigned p) { return below(100) < p; }
};

// A well-mixed function of x (splitmix64's finalizer); never 0 for the seeds used here.
inline std::uint64_t mix64(std::uint64_t x) {
  std::uint64_t z = x + 0x9E37'79B9'7F4A'7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58'476D'1CE4'E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D0'49BB'1331'11EBull;
  return (z ^ (z >> 31)) | 1;
}

// --- status sets -------------------------------------------------------------------------------

// The statuses hvk's conformance table (docs/conformance.md) names, as bits of a StatusSet;
// kSlotOther collects anything else (never allowed).
enum Slot : unsigned {
  kSlotSuccess,
  kSlotInvalidHypercallCode,
  kSlotInvalidHypercallInput,
  kSlotInvalidAlignment,
  kSlotInvalidParameter,
  kSlotAccessDenied,
  kSlotInvalidPartitionState,
  kSlotInvalidPartitionId,
  kSlotInvalidVpIndex,
  kSlotInvalidVpState,
  kSlotInvalidRegisterValue,
  kSlotInvalidVtlState,
  kSlotVtlAlreadyEnabled,
  kSlotUnknownRegisterName,
  kSlotOther,
  kSlotCount
};
using StatusSet = std::uint32_t;

constexpr unsigned slot_of(std::uint16_t status) {
  switch (static_cast<Status>(status)) {
    case Status::kSuccess:
      return kSlotSuccess;
    case Status::kInvalidHypercallCode:
      return kSlotInvalidHypercallCode;
    case Status::kInvalidHypercallInput:
      return kSlotInvalidHypercallInput;
    case Status::kInvalidAlignment:
      return kSlotInvalidAlignment;
    case Status::kInvalidParameter:
      return kSlotInvalidParameter;
    case Status::kAccessDenied:
      return kSlotAccessDenied;
    case Status::kInvalidPartitionState:
      return kSlotInvalidPartitionState;
    case Status::kInvalidPartitionId:
      return kSlotInvalidPartitionId;
    case Status::kInvalidVpIndex:
      return kSlotInvalidVpIndex;
    case Status::kInvalidVpState:
      return kSlotInvalidVpState;
    case Status::kInvalidRegisterValue:
      return kSlotInvalidRegisterValue;
    case Status::kInvalidVtlState:
      return kSlotInvalidVtlState;
    case Status::kVtlAlreadyEnabled:
      return kSlotVtlAlreadyEnabled;
    case Status::kUnknownRegisterName:
      return kSlotUnknownRegisterName;
    default:
      return kSlotOther;
  }
}
const char* slot_name(unsigned slot);
constexpr StatusSet one(Status s) {
  const unsigned slot = slot_of(static_cast<std::uint16_t>(s));
  return slot == kSlotOther ? 0 : StatusSet{1} << slot;
}
template <typename... S>
constexpr StatusSet set_of(S... s) {
  return (StatusSet{0} | ... | one(s));
}
inline bool in_set(StatusSet s, std::uint16_t status) {
  const unsigned slot = slot_of(status);
  return slot != kSlotOther && ((s >> slot) & 1u) != 0;
}
// Prints the names in `s` into buf ("SUCCESS|INVALID_VP_STATE").
void format_set(StatusSet s, char* buf, std::size_t size);

// --- the environment ---------------------------------------------------------------------------

struct Child {
  std::uint64_t id;
  std::uint32_t vps;  // learnt in its start event (GetVpIndexFromApicId)
};

struct Env {
  bool child = false;         // this image runs as a child partition's VP 0
  std::uint32_t vps = 0;      // the partition's VP count (CPUID 0x40000005)
  std::uint32_t workers = 0;  // VPs that run the hostile loop: all in the root, VP 0 in a child
  std::uint64_t own_id = 0;
  std::uint64_t parent_id = 0;  // a child's parent (named only to be refused)
  tlfs::PrivilegeMask privs{};
  std::uint32_t max_vtl = 0;  // VsmPartitionStatus.MaximumVtl
  std::uint32_t children = 0;
  Child child_part[kMaxChildren]{};
  std::uint64_t ram_end = 0;  // guest RAM is [0, ram_end) (the e820 map's last usable byte + 1)
  std::uint64_t zone = 0;     // named pages, each between canary pages, from here
  std::uint64_t named = 0;    // named pages: zone + (2j + 1) * kPage for j < named
  std::uint64_t canary_want = 16ull << 20;  // bytes of canary asked for (canary-mib=)
  std::uint64_t canary_end = 0;  // the canary: [zone, canary_end) but the named pages, and
  std::uint64_t tail_start = 0;  // [tail_start, last page of RAM)
  std::uint64_t seed = 0;
  std::uint64_t tsc_hz = 0, apic_hz = 0;
  std::uint64_t code_page_offsets = 0;       // VsmCodePageOffsets as first read
  std::uint64_t hc_pages[kZonePages + 1]{};  // pages the hypercall code was installed at
  std::uint64_t start_ref = 0, end_ref = 0;  // TIME_REF_COUNT (100 ns units)
  bool all_started = false;        // every VP of the own partition runs (the root after its storm)
  std::uint32_t max_printed = 30;  // failures printed in full
};
Env& env();

// Named page j: [canary][named 0][canary][named 1]...[canary], so an overrun hits canary.
inline std::uint64_t named_page(std::uint64_t j) {
  return env().zone + (2 * j + 1) * kPage;
}
inline std::uint64_t in_page(std::uint32_t w) {
  return named_page(3 * w);
}
inline std::uint64_t out_page(std::uint32_t w) {
  return named_page(3 * w + 1);
}
// A VP's StartVirtualProcessor/EnableVpVtl input: a valid context kept in place, mutated per call.
inline std::uint64_t ctx_page(std::uint32_t w) {
  return named_page(3 * w + 2);
}
inline std::uint64_t hc_zone_page(std::uint32_t k) {
  return named_page(3 * env().workers + k);
}
inline std::uint64_t tsc_page() {
  return named_page(3 * env().workers + kZonePages);
}
inline std::uint64_t assist_page(std::uint32_t w) {
  return named_page(3 * env().workers + kZonePages + 1 + w);
}
inline std::uint64_t named_count(std::uint32_t workers) {
  return 4 * std::uint64_t{workers} + kZonePages + 1;
}
// The last page of RAM: an input and output page every VP may name (its contents are unknown).
inline std::uint64_t last_page() {
  return env().ram_end - kPage;
}

// --- per-VP counters ---------------------------------------------------------------------------

enum CodeClass : unsigned {
  kClsStartVp,
  kClsVpIndex,
  kClsInit,
  kClsFinalize,
  kClsDelete,
  kClsPartitionId,
  kClsNextChild,
  kClsEnablePartitionVtl,
  kClsEnableVpVtl,
  kClsGetRegs,
  kClsSetRegs,
  kClsUnknown,
  kClsCount
};

struct Stats {
  std::uint64_t calls, raw, page, fast, memory;
  std::uint64_t refused_at_dispatch;  // decided by the control word or a GPA (A4-A15)
  std::uint64_t by_code[kClsCount];
  std::uint64_t by_status[kSlotCount];
  std::uint64_t msr_reads, msr_writes, msr_gp, hc_writes, hc_locked_writes;
  std::uint64_t starts, events;
  std::uint64_t ref_begin, ref_end;
};

struct Worker {
  std::uint32_t index;  // the VP index (= worker index)
  Rng rng;
  std::uint8_t* in;   // in_page(index): scratch
  std::uint8_t* out;  // out_page(index): all kOutFill but where the last call wrote
  std::uint8_t* ctx;  // ctx_page(index): a StartVirtualProcessorInput with a valid context
  Stats st;
  std::uint64_t assist;  // VP_ASSIST_PAGE as last written (kept per VP)
  bool assist_known;
  std::uint64_t last_ref;         // TIME_REF_COUNT: must not go backwards
  tlfs::RegisterValue ident[24];  // identity values for SetVpRegisters (see regs.cc)
  std::uint64_t out_checks;       // calls since the output page was last scanned whole
};
Worker& worker(std::uint32_t index);
Worker& me();  // the calling VP's worker (from its VP index)

// --- bytes at any alignment ---------------------------------------------------------------------

template <typename T>
T load(const void* p) {
  T v;
  memcpy(&v, p, sizeof v);
  return v;
}
template <typename T>
void store(void* p, T v) {
  memcpy(p, &v, sizeof v);
}

// --- bulk memory (one string instruction each: cheap where every instruction costs) ------------

inline constexpr std::uint64_t kOutFill = 0xA5A5'A5A5'A5A5'A5A5ull;

inline void fill_qwords(void* p, std::uint64_t value, std::uint64_t n) {
  asm volatile("rep stosq" : "+D"(p), "+c"(n) : "a"(value) : "memory");
}
// The index of the first of the n qwords at p that is not `value`, or n.
inline std::uint64_t scan_qwords(const void* p, std::uint64_t value, std::uint64_t n) {
  if (n == 0) return 0;
  std::uint64_t left = n;
  bool differ;
  asm volatile("repe scasq" : "+D"(p), "+c"(left), "=@ccne"(differ) : "a"(value) : "memory");
  return differ ? n - left - 1 : n;
}

// --- failures ----------------------------------------------------------------------------------

// Counts a failure; the first env().max_printed are printed with the VP index.
[[gnu::format(printf, 1, 2)]] void fail(const char* fmt, ...);
std::uint64_t failures();

// --- the command line --------------------------------------------------------------------------

// `key=` of the command line into *out (`def` when absent); a value outside lo..hi or not a
// number prints "<who>: bad key= (want lo-hi)" and returns false.
bool option(const char* who, const char* key, std::uint64_t def, std::uint64_t lo, std::uint64_t hi,
            std::uint64_t* out);

// --- the clock ---------------------------------------------------------------------------------

inline constexpr std::uint64_t kRefPerMs = 10'000;  // TIME_REF_COUNT ticks (100 ns) per ms

inline std::uint64_t now_ref() {
  return rdmsr(kMsrTimeRefCount);
}
// Spins until `done()` or `ms` milliseconds passed; returns done().
template <typename F>
bool wait_until(F done, std::uint64_t ms) {
  const std::uint64_t end = now_ref() + ms * kRefPerMs;
  while (!done()) {
    if (now_ref() >= end) return done();
    for (int i = 0; i < 64; ++i) pause();
  }
  return true;
}

// --- hypercalls without the page ----------------------------------------------------------------

extern "C" {
// `out 0xf5` at a page offset none of hvk's hypercall-page entries uses (raw.S): the call does not
// depend on where the hypercall page is.
std::uint64_t hostile_raw_call(std::uint64_t control, std::uint64_t input, std::uint64_t output);
// `call page` with the TLFS registers.
std::uint64_t hostile_page_call(std::uint64_t control, std::uint64_t input, std::uint64_t output,
                                std::uint64_t page);
[[noreturn]] void hostile_triple_fault();
void hostile_child_entry();
void hostile_park();
}

}  // namespace hostile
