// The hypercall input value (control word) and result value codecs (TLFS "Hypercall Interface").
#pragma once

#include <cstdint>

#include "hvk/tlfs/call_codes.h"
#include "hvk/tlfs/status.h"

namespace hvk::tlfs {

// Input value, bit layout (notes §1):
//   15:0 call code · 16 fast · 26:17 variable header size (8-byte units) · 30:27 reserved ·
//   31 nested · 43:32 rep count · 47:44 reserved · 59:48 rep start index · 63:60 reserved.
struct HypercallControl {
  static constexpr std::uint64_t kReservedMask = (0xFull << 27) | (0xFull << 44) | (0xFull << 60);
  static constexpr std::uint16_t kMaxRep = 0xFFF;

  std::uint64_t raw = 0;

  constexpr std::uint16_t code() const { return static_cast<std::uint16_t>(raw & 0xFFFF); }
  constexpr bool fast() const { return (raw >> 16) & 1; }
  constexpr std::uint16_t var_header_qwords() const {
    return static_cast<std::uint16_t>((raw >> 17) & 0x3FF);
  }
  constexpr bool nested() const { return (raw >> 31) & 1; }
  constexpr std::uint16_t rep_count() const {
    return static_cast<std::uint16_t>((raw >> 32) & kMaxRep);
  }
  constexpr std::uint16_t rep_start() const {
    return static_cast<std::uint16_t>((raw >> 48) & kMaxRep);
  }
  constexpr std::uint64_t reserved_bits() const { return raw & kReservedMask; }

  constexpr HypercallControl with_rep_start(std::uint16_t start) const {
    return {(raw & ~(std::uint64_t{kMaxRep} << 48)) | ((std::uint64_t{start} & kMaxRep) << 48)};
  }

  static constexpr HypercallControl make(CallCode code, bool fast = false,
                                         std::uint16_t rep_count = 0, std::uint16_t rep_start = 0,
                                         std::uint16_t var_header_qwords = 0) {
    return {std::uint64_t{static_cast<std::uint16_t>(code)} | (std::uint64_t{fast} << 16) |
            ((std::uint64_t{var_header_qwords} & 0x3FFu) << 17) |
            ((std::uint64_t{rep_count} & kMaxRep) << 32) |
            ((std::uint64_t{rep_start} & kMaxRep) << 48)};
  }
};

// Result value: 15:0 status · 31:16 reserved · 43:32 reps completed · 63:44 reserved.
struct HypercallResult {
  std::uint64_t raw = 0;

  constexpr Status status() const { return static_cast<Status>(raw & 0xFFFF); }
  constexpr std::uint16_t reps_completed() const {
    return static_cast<std::uint16_t>((raw >> 32) & HypercallControl::kMaxRep);
  }

  static constexpr HypercallResult make(Status s, std::uint16_t reps_completed = 0) {
    return {std::uint64_t{static_cast<std::uint16_t>(s)} |
            ((std::uint64_t{reps_completed} & HypercallControl::kMaxRep) << 32)};
  }
};

static_assert(HypercallControl::make(CallCode::kGetVpIndexFromApicId, false, 1).raw ==
              0x0000'0001'0000'009Aull);
static_assert(HypercallControl{0x0FFF'0FFF'0001'FFFFull}.rep_start() == 0xFFF);
static_assert(HypercallResult::make(Status::kInvalidParameter, 3).raw == 0x0000'0003'0000'0005ull);

}  // namespace hvk::tlfs
