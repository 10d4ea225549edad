// The SynIC storm's receivers: each VP's SIM and SIEF pages, the SINT handlers, and the checks on
// every message taken: per (sender, SINT), sequence numbers arrive exactly in order; per timer,
// expiration times strictly increase.
#include "synic_storm.h"

namespace hostile::synic_storm {

bool g_auto_eoi = true;

namespace {

State g_state;
alignas(4096) tlfs::MessagePage g_sim[kMaxVps];
alignas(4096) tlfs::EventFlagsPage g_sief[kMaxVps];

constexpr std::uint8_t kSpuriousVector = 0xFF;  // apic_sw_enable's

// What a slot held, copied out before the slot is given back.
struct Taken {
  std::uint32_t type;
  std::uint32_t size;
  std::uint64_t origin;
  std::uint8_t payload[sizeof(Payload)];
};

void check_storm_message(std::uint32_t v, unsigned s, const Taken& m) {
  State& st = state();
  Payload p;
  memcpy(&p, m.payload, sizeof p);
  const std::uint32_t target = v << 8 | s;
  if (m.size != sizeof(Payload) || m.origin != connection_id(v, s) || p.sender >= st.vps ||
      p.target != target || p.check != payload_check(p.sender, p.target, p.seq)) {
    fail(
        "SynIC: VP %u SINT %u took a damaged message: payload size %u (want %lu), origination "
        "id %lu (want %u), sender %u, target 0x%x (want 0x%x), seq %lu, check 0x%lx",
        v, s, m.size, sizeof(Payload), m.origin, connection_id(v, s), p.sender, p.target, target,
        p.seq, p.check);
    return;
  }
  count(st.counts[v].received);
  std::uint64_t& next = st.next[v][p.sender][s];
  const std::uint64_t want = next;
  if (p.seq == want) {
    publish(next, want + 1);
  } else if (p.seq < want) {
    count(st.duplicated[v]);
    fail("SynIC: duplicate: VP %u SINT %u took seq %lu from VP %u again (the next expected: %lu)",
         v, s, p.seq, p.sender, want);
  } else {
    count(st.lost[v], p.seq - want);
    fail("SynIC: lost: VP %u SINT %u took seq %lu from VP %u, expected %lu: %lu messages lost", v,
         s, p.seq, p.sender, want, p.seq - want);
    publish(next, p.seq + 1);
  }
}

void check_timer_message(std::uint32_t v, unsigned s, const Taken& m) {
  State& st = state();
  tlfs::TimerMessagePayload t;
  memcpy(&t, m.payload, sizeof t);
  if (m.size != sizeof t || m.origin != 0 || t.timer_index >= kTimers ||
      kTimerSint[t.timer_index] != s || t.reserved != 0) {
    fail(
        "SynIC: VP %u SINT %u took a damaged timer message: payload size %u, origination id %lu, "
        "timer %u, reserved %u (Y15)",
        v, s, m.size, m.origin, t.timer_index, t.reserved);
    return;
  }
  std::uint64_t& last = st.timer_last[v][t.timer_index];
  if (t.expiration_time <= last) {
    fail(
        "SynIC: VP %u timer %u: expiration time %lu is not after the last one, %lu (a duplicate "
        "or out of order; Y17)",
        v, t.timer_index, t.expiration_time, last);
  }
  if (t.delivery_time < t.expiration_time) {
    fail("SynIC: VP %u timer %u: delivered at %lu, before its expiration time %lu (Y15)", v,
         t.timer_index, t.delivery_time, t.expiration_time);
  }
  if (t.expiration_time > last) publish(last, t.expiration_time);
  count(st.timer_count[v][t.timer_index]);
  count(st.counts[v].timer_messages);
}

constexpr std::uint64_t kRflagsIf = 1u << 9;

// An interrupt may arrive only where the interrupted code had interrupts enabled (the handlers
// run with them disabled, so this also catches one delivered inside a handler).
bool interruptible(const ExceptionFrame* f, std::uint32_t v) {
  if ((f->rflags & kRflagsIf) != 0) return true;
  fail("SynIC: VP %u: vector 0x%lx arrived with interrupts disabled (RFLAGS 0x%lx at RIP 0x%lx)", v,
       f->vector, f->rflags, f->rip);
  return false;
}

void on_sint(ExceptionFrame* f) {
  const std::uint32_t v = this_cpu()->vp_index;
  const auto s = static_cast<unsigned>((f->vector - sint_vector(0)) / 9);
  VpCounts& c = state().counts[v];
  count(c.interrupts);
  interruptible(f, v);
  if (s == kPolledSint) {
    fail("SynIC: VP %u: an interrupt on vector 0x%lx of the masked SINT %u (Y8)", v, f->vector,
         kPolledSint);
    return;
  }
  bool any = take_slot(v, s);
  if (take_event_flag(&g_sief[v], s, connection_id(v, s))) {
    count(state().seen[v][s]);
    count(c.flags_seen);
    any = true;
  }
  if (!any) count(c.empty);
  if (!sint_auto_eoi(s)) apic_eoi();
}

void on_spurious(ExceptionFrame* f) {  // no EOI for the spurious vector
  interruptible(f, this_cpu()->vp_index);
}

}  // namespace

State& state() {
  return g_state;
}

void install_handlers() {
  for (unsigned s = 0; s < kSints; ++s) set_interrupt_handler(sint_vector(s), on_sint);
  set_interrupt_handler(kSpuriousVector, on_spurious);
}

void receiver_init(std::uint32_t vp) {
  State& st = state();
  st.sim[vp] = &g_sim[vp];
  st.sief[vp] = &g_sief[vp];
  synic_enable(&g_sim[vp], &g_sief[vp]);
  const std::uint64_t polled =
      sint_vector(kPolledSint) | tlfs::SintRegister::kMasked | tlfs::SintRegister::kPolling;
  wrmsr(kMsrSint0 + kPolledSint, polled);
  for (unsigned s = 0; s < kSints; ++s) {
    if (s != kPolledSint) sint_set(s, sint_vector(s), sint_auto_eoi(s));
    const std::uint64_t want =
        s == kPolledSint ? polled
                         : sint_vector(s) | (sint_auto_eoi(s) ? tlfs::SintRegister::kAutoEoi : 0);
    const std::uint64_t got = rdmsr(kMsrSint0 + s);
    if (got != want) fail("SynIC: VP %u SINT%u reads 0x%lx, written 0x%lx (Y3)", vp, s, got, want);
  }
  apic_sw_enable();
}

bool take_slot(std::uint32_t v, unsigned s) {
  tlfs::Message* slot = &g_sim[v].slots[s];
  auto* word = reinterpret_cast<std::uint64_t*>(&slot->header);
  const std::uint64_t w = __atomic_load_n(word, __ATOMIC_ACQUIRE);
  Taken m;
  m.type = tlfs::header_word_type(w);
  if (m.type == 0) return false;
  m.size = static_cast<std::uint32_t>((w >> 32) & 0xFF);
  m.origin = __atomic_load_n(&slot->header.origination_id, __ATOMIC_RELAXED);
  memcpy(m.payload, slot->payload, sizeof m.payload);
  bool eom = false;
  const std::uint32_t type = take_message(&g_sim[v], s, &eom);
  if (eom) count(state().counts[v].eoms);
  if (type != m.type) {
    fail("SynIC: VP %u SINT %u: the slot's type changed from 0x%x to 0x%x while it was full (Y6)",
         v, s, m.type, type);
  }
  if (m.type == kMessageType) {
    check_storm_message(v, s, m);
  } else if (m.type == static_cast<std::uint32_t>(tlfs::MessageType::kTimerExpired)) {
    check_timer_message(v, s, m);
  } else {
    fail("SynIC: VP %u SINT %u took a message of type 0x%x, neither the storm's nor a timer's", v,
         s, m.type);
  }
  return true;
}

bool slot_and_flag_empty(std::uint32_t v, unsigned s) {
  const auto* word = reinterpret_cast<const std::uint64_t*>(&g_sim[v].slots[s].header);
  const unsigned flag = connection_id(v, s);
  const std::uint8_t bits = __atomic_load_n(&g_sief[v].sints[s].bits[flag / 8], __ATOMIC_ACQUIRE);
  return tlfs::header_word_type(__atomic_load_n(word, __ATOMIC_ACQUIRE)) == 0 &&
         (bits & (1u << (flag % 8))) == 0;
}

std::uint64_t final_check(std::uint32_t v) {
  std::uint64_t problems = 0;
  for (unsigned s = 0; s < kSints; ++s) {
    const std::uint64_t w = __atomic_load_n(
        reinterpret_cast<std::uint64_t*>(&g_sim[v].slots[s].header), __ATOMIC_ACQUIRE);
    if (tlfs::header_word_type(w) != 0) {
      ++problems;
      fail(
          "SynIC: VP %u SINT %u still holds a message (type 0x%x, flags 0x%x) after the drain: "
          "its interrupt never came",
          v, s, tlfs::header_word_type(w), tlfs::header_word_flags(w));
    }
    const tlfs::EventFlags& flags = g_sief[v].sints[s];
    for (unsigned byte = 0; byte < sizeof flags.bits; ++byte) {
      if (flags.bits[byte] == 0) continue;
      ++problems;
      fail("SynIC: VP %u SINT %u: event flags 0x%02x at flag %u still set after the drain%s", v, s,
           flags.bits[byte], byte * 8,
           s == kPolledSint ? " (signals to the masked SINT must set nothing: Y13)" : "");
    }
  }
  return problems;
}

}  // namespace hostile::synic_storm
