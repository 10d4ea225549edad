// The SynIC from a guest (docs/guest-abi.md, "The SynIC"): its MSRs, enabling it on the calling
// VP with the message (SIM) and event-flag (SIEF) pages the caller owns, taking messages and event
// flags as the TLFS says, the hyperv-testdev commands that make connections, and the partition
// reference time. Include it explicitly (guest.h does not).
#pragma once

#include <cstdint>

#include "hvk/tlfs/synic.h"

namespace guest {

namespace tlfs = hvk::tlfs;

inline constexpr std::uint32_t kMsrScontrol = 0x40000080;
inline constexpr std::uint32_t kMsrSiefp = 0x40000082;
inline constexpr std::uint32_t kMsrSimp = 0x40000083;
inline constexpr std::uint32_t kMsrEom = 0x40000084;
inline constexpr std::uint32_t kMsrSint0 = 0x40000090;
inline constexpr std::uint32_t kMsrStimer0Config = 0x400000B0;  // STIMERn: + 2n; COUNT: + 1

inline std::uint32_t stimer_config_msr(unsigned timer) {
  return kMsrStimer0Config + 2 * timer;
}
inline std::uint32_t stimer_count_msr(unsigned timer) {
  return kMsrStimer0Config + 2 * timer + 1;
}

// The calling VP's SIM and SIEF pages (zeroed here, 4 KiB aligned, identity-mapped), enabled
// with SCONTROL; the SINTs stay as they are (masked at reset).
void synic_enable(tlfs::MessagePage* sim, tlfs::EventFlagsPage* sief);
// SINTx of the calling VP: `vector`, unmasked, with or without AutoEOI.
void sint_set(unsigned sint, std::uint8_t vector, bool auto_eoi);

// The message in `sint`'s slot of `sim` is taken as the TLFS says: its type cleared, then EOM
// written only if MessagePending was set (one locked operation does both reads). Read what the
// slot holds before. Returns the old type (0: the slot was empty); `eom`, when given, says
// whether EOM was written.
std::uint32_t take_message(tlfs::MessagePage* sim, unsigned sint, bool* eom = nullptr);
// Clears event flag `flag` of `sint` in `sief`; returns whether it was set.
bool take_event_flag(tlfs::EventFlagsPage* sief, unsigned sint, unsigned flag);

// hyperv-testdev (port 0x3000): message and event connection `id` aimed at (VP, SINT). The
// device carries 8 bits of the id; an event connection's one flag is flag number `id`.
void testdev_message_connection(std::uint8_t id, std::uint32_t vp, unsigned sint);
void testdev_event_connection(std::uint8_t id, std::uint32_t vp, unsigned sint);

// HV_REFERENCE_TSC_PAGE: time = ((tsc * scale) >> 64) + offset while the sequence is not 0.
struct alignas(4096) ReferenceTscPage {
  std::uint32_t sequence;
  std::uint32_t reserved;
  std::uint64_t scale;
  std::int64_t offset;
};
// Partition reference time (100 ns units). reference_clock_init() enables the reference TSC page
// at `page` (the caller's); reference_time() reads it while its sequence is not 0 and
// TIME_REF_COUNT otherwise (also before reference_clock_init).
void reference_clock_init(ReferenceTscPage* page);
bool reference_page_valid();
std::uint64_t reference_time();

}  // namespace guest
