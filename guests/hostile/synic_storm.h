// The hostile guest's SynIC storm (`synic=1` on the command line; docs/reliability.md, "The SynIC
// storm"): every VP posts to every SINT of every VP, signals every event connection and runs its
// four synthetic timers at their fastest period into the same SINTs, and every receiver counts
// what arrives. synic_storm.cc runs the phases, synic_send.cc posts and signals, synic_recv.cc
// takes messages and flags in the SINT handlers.
#pragma once

#include <cstdint>

#include "guest/synic.h"
#include "hostile.h"

namespace hostile::synic_storm {

// hyperv-testdev carries 8 bits of a connection id, and the id of (VP v, SINT s) is v * 16 + s.
inline constexpr std::uint32_t kMaxVps = 16;
inline constexpr unsigned kSints = tlfs::kSintCount;
inline constexpr unsigned kTimers = tlfs::kStimerCount;
inline constexpr unsigned kPolledSint = 0;  // masked: no interrupt, read by polling
// The SINT each timer sends its messages to: two with AutoEOI (odd), two with an APIC EOI.
inline constexpr unsigned kTimerSint[kTimers] = {1, 2, 7, 10};
// The posted messages' type (a guest's: bit 31 clear) and payload.
inline constexpr std::uint32_t kMessageType = 0x0053'594E;
struct Payload {
  std::uint32_t sender;  // VP index
  std::uint32_t target;  // VP index << 8 | SINT
  std::uint64_t seq;     // per (sender, target VP, SINT): 0, 1, 2, ...
  std::uint64_t check;   // payload_check() of the above
};
static_assert(sizeof(Payload) == 24);

inline std::uint64_t payload_check(std::uint32_t sender, std::uint32_t target, std::uint64_t seq) {
  return mix64((std::uint64_t{sender} << 48) ^ (std::uint64_t{target} << 32) ^ seq);
}
inline std::uint8_t connection_id(std::uint32_t vp, unsigned sint) {
  return static_cast<std::uint8_t>(vp * kSints + sint);
}
// Distinct vectors in nine priority classes: 0x30, 0x39, ..., 0xB7.
inline std::uint8_t sint_vector(unsigned sint) {
  return static_cast<std::uint8_t>(0x30 + 9 * sint);
}
extern bool g_auto_eoi;  // auto-eoi=0 on the command line: every SINT ends with an APIC EOI
inline bool sint_auto_eoi(unsigned sint) {
  return g_auto_eoi && sint % 2 == 1;
}

// Per-VP counters; each written by its own VP only (handlers with locked adds, as the VP's main
// loop may be interrupted in the middle of an update).
struct VpCounts {
  std::uint64_t posts;           // PostMessage calls
  std::uint64_t posted;          // ... that returned SUCCESS
  std::uint64_t retries;         // ... INSUFFICIENT_BUFFERS (the same sequence number goes later)
  std::uint64_t signals;         // SignalEvent calls
  std::uint64_t signalled;       // ... SUCCESS
  std::uint64_t signals_masked;  // ... INVALID_SYNIC_STATE from the masked SINT (Y13)
  std::uint64_t received;        // storm messages taken (all SINTs)
  std::uint64_t polled;          // ... of them from the masked SINT, by polling
  std::uint64_t timer_messages;  // timer-expired messages taken
  std::uint64_t flags_seen;      // event flags found set and cleared
  std::uint64_t interrupts;      // SINT handler runs
  std::uint64_t empty;           // ... that found neither a message nor a flag
  std::uint64_t eoms;            // EOM writes (MessagePending was set)
};

// The storm's shared state (all VPs read it; each array row is written by one VP).
struct State {
  std::uint32_t vps = 0;
  std::uint64_t period = 0;  // the timers' COUNT (100 ns units)
  std::uint32_t burst = 0;   // posts in a row to one (VP, SINT), until INSUFFICIENT_BUFFERS
  tlfs::MessagePage* sim[kMaxVps]{};
  tlfs::EventFlagsPage* sief[kMaxVps]{};
  // sent[u][v][s]: sender u's SUCCESS posts to (v, s) = the next sequence number it posts.
  std::uint64_t sent[kMaxVps][kMaxVps][kSints]{};
  // next[v][u][s]: receiver v's next expected sequence number from sender u on SINT s.
  std::uint64_t next[kMaxVps][kMaxVps][kSints]{};
  std::uint64_t lost[kMaxVps]{}, duplicated[kMaxVps]{};  // by receiver
  // seen[v][s]: times receiver v found its flag of SINT s set; must_see[u][v][s]: sender u's last
  // successful signal of (v, s) happened while seen[v][s] < must_see, so seen must reach it.
  std::uint64_t seen[kMaxVps][kSints]{};
  std::uint64_t must_see[kMaxVps][kMaxVps][kSints]{};
  // Timer-expired messages per (VP, timer): the last expiration time and how many.
  std::uint64_t timer_last[kMaxVps][kTimers]{};
  std::uint64_t timer_count[kMaxVps][kTimers]{};
  VpCounts counts[kMaxVps]{};
};
State& state();

inline void count(std::uint64_t& counter, std::uint64_t n = 1) {
  __atomic_add_fetch(&counter, n, __ATOMIC_RELAXED);
}
inline std::uint64_t load(const std::uint64_t& v) {
  return __atomic_load_n(&v, __ATOMIC_ACQUIRE);
}
inline void publish(std::uint64_t& v, std::uint64_t value) {
  __atomic_store_n(&v, value, __ATOMIC_RELEASE);
}

// --- synic_recv.cc -------------------------------------------------------------------------------

// The calling VP: SIM/SIEF pages, SINT 0 masked (polling), SINTs 1-15 unmasked on their vectors
// (AutoEOI on the odd ones), the handlers (set once, by VP 0), the APIC software-enabled.
void receiver_init(std::uint32_t vp);
void install_handlers();
// Takes what SINT `sint`'s slot of the calling VP holds and checks it; false if it was empty.
bool take_slot(std::uint32_t vp, unsigned sint);
// Whether (v, s)'s slot holds no message and its event flag is clear (any VP may ask).
bool slot_and_flag_empty(std::uint32_t v, unsigned s);
// At the end, interrupts off: every slot empty, every event flag clear. Returns the problems.
std::uint64_t final_check(std::uint32_t vp);

// --- synic_send.cc -------------------------------------------------------------------------------

// One PostMessage from the calling VP `u` to (v, s) with its next sequence number, checked;
// true for SUCCESS.
bool post(std::uint32_t u, std::uint32_t v, unsigned s);
// One SignalEvent of (v, s)'s event connection, `fast` or from memory, checked.
void signal(std::uint32_t u, std::uint32_t v, unsigned s, bool fast);

// --- synic_storm.cc ------------------------------------------------------------------------------

// The whole storm on VP 0; returns the exit status.
int run();

}  // namespace hostile::synic_storm
