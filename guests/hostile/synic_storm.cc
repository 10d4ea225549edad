// The SynIC storm's phases, on every VP:
//   set-up     VP 0 makes a message and an event connection for every (VP, SINT) through
//              hyperv-testdev and starts the APs; each VP enables its SynIC (receiver_init)
//   storm      until `seconds` have passed: the four synthetic timers periodic at `period`, and
//              for every (VP, SINT) in turn a burst of up to `burst` PostMessages (until one
//              meets a full queue) and one SignalEvent, polling the masked SINT in between
//   drain      the timers stop; once every VP has stopped sending, VP 0 waits until every
//              (sender, VP, SINT) has received exactly what was posted, every flag signalled
//              has been seen and every slot is empty, then `settle-ms` more for anything late
//   final      interrupts off: every slot empty, every flag clear; VP 0 prints the counts
#include "synic_storm.h"

namespace hostile::synic_storm {

namespace {

ReferenceTscPage g_reference_page;
std::uint32_t g_phase = 0;  // 1: storm, 2: VP 0 drains, 3: final checks
std::uint32_t g_ready = 0, g_stopped = 0, g_finished = 0;
std::uint64_t g_end = 0;  // reference time the storm ends
std::uint64_t g_problems = 0;

constexpr std::uint64_t kRefPerSecond = 10'000'000;

std::uint32_t phase() {
  return __atomic_load_n(&g_phase, __ATOMIC_ACQUIRE);
}
void arrive(std::uint32_t& counter) {
  __atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST);
}
std::uint32_t arrived(const std::uint32_t& counter) {
  return __atomic_load_n(&counter, __ATOMIC_SEQ_CST);
}

void poll_masked(std::uint32_t v) {
  if (take_slot(v, kPolledSint)) count(state().counts[v].polled);
}

// Spins with interrupts on, polling the masked SINT, until done() or `ms` passed.
template <typename F>
bool serve_until(std::uint32_t v, F done, std::uint64_t ms) {
  const std::uint64_t end = reference_time() + ms * kRefPerMs;
  while (!done()) {
    if (reference_time() >= end) return done();
    poll_masked(v);
    for (int i = 0; i < 16; ++i) pause();
  }
  return true;
}

void timers_start() {
  for (unsigned t = 0; t < kTimers; ++t) {
    // COUNT first: without AutoEnable it does not start the timer; CONFIG's Enable does (Y17).
    wrmsr(stimer_count_msr(t), state().period);
    wrmsr(stimer_config_msr(t), tlfs::StimerConfig::kEnable | tlfs::StimerConfig::kPeriodic |
                                    (std::uint64_t{kTimerSint[t]} << 16));
  }
}

void timers_stop() {
  for (unsigned t = 0; t < kTimers; ++t) wrmsr(stimer_config_msr(t), 0);
}

void storm(std::uint32_t u) {
  const std::uint32_t pairs = state().vps * kSints;
  std::uint32_t i = (u * 37) % pairs;  // each sender starts somewhere else
  for (std::uint64_t n = 0; reference_time() < g_end; ++n) {
    const std::uint32_t v = i / kSints;
    const unsigned s = i % kSints;
    // A burst longer than the queue (Y10: 16 behind the slot) meets INSUFFICIENT_BUFFERS.
    for (std::uint32_t b = 0; b < state().burst && post(u, v, s); ++b) {
    }
    signal(u, v, s, (n & 1) != 0);
    poll_masked(u);
    if (++i == pairs) i = 0;
  }
}

// Every VP, VP 0 included, after receiver_init: the storm, then serving until the final checks.
void vp_storm(std::uint32_t v) {
  timers_start();
  storm(v);
  timers_stop();
  arrive(g_stopped);
  serve_until(
      v, [] { return phase() >= 3; }, ~std::uint64_t{0} / kRefPerMs / 2);
  cli();
  __atomic_add_fetch(&g_problems, final_check(v), __ATOMIC_SEQ_CST);
  arrive(g_finished);
}

void ap_main() {
  const std::uint32_t v = this_cpu()->vp_index;
  if (v >= state().vps || v == 0) {
    printf("hostile-synic: an AP with VP index %u started\n", v);
    halt_forever();
  }
  receiver_init(v);
  asm volatile("sti" ::: "memory");
  arrive(g_ready);
  serve_until(
      v, [] { return phase() >= 1; }, 600'000);
  vp_storm(v);
  halt_forever();
}

// Every (sender, VP, SINT) received what was posted, every flag signalled was seen, and every
// slot and flag is empty (the timers' last messages taken too).
bool drained() {
  const State& st = state();
  for (std::uint32_t v = 0; v < st.vps; ++v) {
    for (unsigned s = 0; s < kSints; ++s) {
      if (!slot_and_flag_empty(v, s)) return false;
    }
  }
  for (std::uint32_t u = 0; u < st.vps; ++u) {
    for (std::uint32_t v = 0; v < st.vps; ++v) {
      for (unsigned s = 0; s < kSints; ++s) {
        if (load(st.next[v][u][s]) != load(st.sent[u][v][s])) return false;
        if (load(st.seen[v][s]) < load(st.must_see[u][v][s])) return false;
      }
    }
  }
  return true;
}

// After the drain: each pair's count, with the first few that differ.
void compare_counts() {
  const State& st = state();
  for (std::uint32_t u = 0; u < st.vps; ++u) {
    for (std::uint32_t v = 0; v < st.vps; ++v) {
      for (unsigned s = 0; s < kSints; ++s) {
        const std::uint64_t sent = load(st.sent[u][v][s]), got = load(st.next[v][u][s]);
        if (got != sent) {
          fail("SynIC: VP %u -> VP %u SINT %u: %lu posted with SUCCESS, %lu received in order", u,
               v, s, sent, got);
        }
        const std::uint64_t seen = load(st.seen[v][s]), want = load(st.must_see[u][v][s]);
        if (seen < want) {
          fail(
              "SynIC: VP %u -> VP %u SINT %u: the flag of a successful SignalEvent was never "
              "seen set afterwards (the receiver saw it %lu times, at least %lu needed; Y12)",
              u, v, s, seen, want);
        }
      }
    }
  }
}

const char* check_interface() {
  const Cpuid f = cpuid(kCpuidHvFeatures);
  tlfs::PrivilegeMask privs{};
  privs.raw = f.eax | std::uint64_t{f.ebx} << 32;
  if (!privs.has(tlfs::Privilege::kSynicRegs) || !privs.has(tlfs::Privilege::kSyntheticTimerRegs) ||
      !privs.has(tlfs::Privilege::kPostMessages) || !privs.has(tlfs::Privilege::kSignalEvents)) {
    return "no SynIC, synthetic timers, PostMessage or SignalEvent (hvk run --synic)";
  }
  if (privs.has(tlfs::Privilege::kPartitionReferenceTsc)) reference_clock_init(&g_reference_page);
  return nullptr;
}

// Before any SynIC is enabled, a post and a signal through the new connections find the
// connection and then the disabled SynIC (Y25's order; Y9, Y13): proof that hyperv-testdev made
// them.
bool connections_made() {
  auto* in = static_cast<tlfs::PostMessageInput*>(hv_input_page());
  memset(in, 0, sizeof *in);
  in->connection_id.raw = connection_id(0, 1);
  in->message_type = kMessageType;
  in->payload_size = sizeof(Payload);
  const std::uint64_t p = hv_call(hv_control(tlfs::CallCode::kPostMessage), in, nullptr);
  const std::uint64_t e =
      hv_call(tlfs::HypercallControl::make(tlfs::CallCode::kSignalEvent, true).raw,
              std::uint64_t{connection_id(0, 1)}, 0);
  const auto want = static_cast<std::uint64_t>(Status::kInvalidSynicState);
  if (p == want && e == want) return true;
  printf(
      "hostile-synic: before any SynIC is enabled, PostMessage and SignalEvent on connection %u "
      "gave %s and %s, not INVALID_SYNIC_STATE (is hyperv-testdev on? hvk run --hyperv-testdev)\n",
      connection_id(0, 1), hv_status_name(hv_status(p)), hv_status_name(hv_status(e)));
  return false;
}

void report(std::uint64_t storm_ms, std::uint64_t drain_ms) {
  const State& st = state();
  VpCounts sum{};
  std::uint64_t lost = 0, duplicated = 0;
  for (std::uint32_t v = 0; v < st.vps; ++v) {
    const VpCounts& c = st.counts[v];
    printf(
        "hostile-synic: VP %u: %lu posts (%lu SUCCESS, %lu INSUFFICIENT_BUFFERS), %lu signals; "
        "took %lu messages (%lu polled from SINT 0), %lu timer messages, %lu flags; %lu "
        "interrupts (%lu empty), %lu EOMs\n",
        v, c.posts, c.posted, c.retries, c.signals, c.received, c.polled, c.timer_messages,
        c.flags_seen, c.interrupts, c.empty, c.eoms);
    sum.posts += c.posts;
    sum.posted += c.posted;
    sum.retries += c.retries;
    sum.signals += c.signals;
    sum.signalled += c.signalled;
    sum.signals_masked += c.signals_masked;
    sum.received += c.received;
    sum.polled += c.polled;
    sum.timer_messages += c.timer_messages;
    sum.flags_seen += c.flags_seen;
    sum.interrupts += c.interrupts;
    sum.empty += c.empty;
    sum.eoms += c.eoms;
    lost += st.lost[v];
    duplicated += st.duplicated[v];
  }
  std::uint64_t timer_min = ~std::uint64_t{0}, timer_max = 0;
  for (std::uint32_t v = 0; v < st.vps; ++v) {
    for (unsigned t = 0; t < kTimers; ++t) {
      const std::uint64_t n = st.timer_count[v][t];
      if (n < timer_min) timer_min = n;
      if (n > timer_max) timer_max = n;
    }
  }
  printf("hostile-synic: storm %lu ms, drain %lu ms; %lu lost, %lu duplicated\n", storm_ms,
         drain_ms, lost, duplicated);
  printf(
      "hostile-synic: counts: posted=%lu received=%lu retries=%lu events=%lu events_masked=%lu "
      "flags_seen=%lu timer_messages=%lu (per timer %lu-%lu) interrupts=%lu\n",
      sum.posted, sum.received, sum.retries, sum.signalled, sum.signals_masked, sum.flags_seen,
      sum.timer_messages, timer_min, timer_max, sum.interrupts);
  if (failures() != 0) return;
  printf(
      "hostile-synic: PASS: hvk survived %lu ms of SynIC storm from %u VPs: %lu messages posted, "
      "%lu received in order (none lost or duplicated), %lu INSUFFICIENT_BUFFERS retries, %lu "
      "events signalled (%lu refused on masked SINTs), %lu timer messages (period %lu)\n",
      storm_ms, st.vps, sum.posted, sum.received, sum.retries, sum.signalled, sum.signals_masked,
      sum.timer_messages, st.period);
}

// A double fault on a stack of its own (IST1 of the one TSS the VPs share), so that a broken
// stack is printed as exception 8 instead of ending in a triple fault with nothing said.
extern "C" std::uint8_t guest_idt[];
alignas(16) std::uint8_t g_df_stack[16384];
void double_fault_stack() {
  const auto top = reinterpret_cast<std::uint64_t>(g_df_stack + sizeof g_df_stack);
  memcpy(guest_tss + 0x24, &top, sizeof top);
  guest_idt[8 * 16 + 4] = 1;
}

}  // namespace

int run() {
  State& st = state();
  if (const char* err = hv_init()) {
    printf("hostile-synic: no Hyper-V interface: %s\n", err);
    return 1;
  }
  std::uint64_t seconds, period, burst, drain_s, settle_ms, max_print, auto_eoi;
  if (!option("hostile-synic", "seconds", 10, 1, 3600, &seconds) ||
      !option("hostile-synic", "period", 1, 1, 100'000'000, &period) ||
      !option("hostile-synic", "burst", 20, 1, 1000, &burst) ||
      !option("hostile-synic", "auto-eoi", 1, 0, 1, &auto_eoi) ||
      !option("hostile-synic", "drain-s", 120, 1, 3600, &drain_s) ||
      !option("hostile-synic", "settle-ms", 500, 0, 60'000, &settle_ms) ||
      !option("hostile-synic", "max-print", 30, 0, 100'000, &max_print)) {
    return 1;
  }
  env().max_printed = static_cast<std::uint32_t>(max_print);
  g_auto_eoi = auto_eoi != 0;
  st.period = period;
  st.burst = static_cast<std::uint32_t>(burst);
  st.vps = vp_count();
  if (st.vps == 0 || st.vps > kMaxVps) {
    printf("hostile-synic: %u VPs: the storm handles 1-%u (hyperv-testdev's 8-bit ids)\n", st.vps,
           kMaxVps);
    return 1;
  }
  if (const char* err = check_interface()) {
    printf("hostile-synic: %s\n", err);
    return 1;
  }
  for (std::uint32_t v = 0; v < st.vps; ++v) {
    for (unsigned s = 0; s < kSints; ++s) {
      testdev_message_connection(connection_id(v, s), v, s);
      testdev_event_connection(connection_id(v, s), v, s);
    }
  }
  if (!connections_made()) return 1;
  install_handlers();
  double_fault_stack();
  if (st.vps > 1) {
    if (const char* err = vp_blocks_init(st.vps)) {
      printf("hostile-synic: %s\n", err);
      return 1;
    }
  }
  set_ap_main(ap_main);
  for (std::uint32_t v = 1; v < st.vps; ++v) {
    const auto ctx =
        vp_context_64(reinterpret_cast<std::uint64_t>(&guest_ap_entry64), vp_stack_top(v));
    const std::uint64_t r = hv_start_virtual_processor(v, 0, ctx);
    if (r != 0) {
      printf("hostile-synic: StartVirtualProcessor(VP %u) -> %s\n", v,
             hv_status_name(hv_status(r)));
      return 1;
    }
  }
  receiver_init(0);
  asm volatile("sti" ::: "memory");
  arrive(g_ready);
  if (!serve_until(
          0, [&] { return arrived(g_ready) == st.vps; }, 120'000)) {
    printf("hostile-synic: FAIL: only %u of %u VPs came up\n", arrived(g_ready), st.vps);
    return 1;
  }
  printf(
      "hostile-synic: %u VPs, %lu s, bursts of %u posts; %u message and %u event connections "
      "(hyperv-testdev), SINT %u "
      "masked and polled, SINTs 1-15 on vectors 0x%x-0x%x (%s), timers "
      "periodic every %lu00 ns on SINTs %u %u %u %u; reference time from %s\n",
      st.vps, seconds, st.burst, st.vps * kSints, st.vps * kSints, kPolledSint, sint_vector(1),
      sint_vector(kSints - 1), g_auto_eoi ? "AutoEOI on the odd ones" : "no AutoEOI", period,
      kTimerSint[0], kTimerSint[1], kTimerSint[2], kTimerSint[3],
      reference_page_valid() ? "the reference TSC page" : "TIME_REF_COUNT");

  const std::uint64_t start = reference_time();
  g_end = start + seconds * kRefPerSecond;
  __atomic_store_n(&g_phase, 1, __ATOMIC_RELEASE);
  timers_start();
  storm(0);
  timers_stop();
  arrive(g_stopped);
  const std::uint64_t stopped = reference_time();
  if (!serve_until(
          0, [&] { return arrived(g_stopped) == st.vps; }, 120'000)) {
    fail("SynIC: only %u of %u VPs stopped sending within 120 s of the end (a hypercall hangs?)",
         arrived(g_stopped), st.vps);
  }
  __atomic_store_n(&g_phase, 2, __ATOMIC_RELEASE);
  const bool done = serve_until(0, drained, drain_s * 1000);
  const std::uint64_t drain_ms = (reference_time() - stopped) / kRefPerMs;
  if (!done) fail("SynIC: not drained %lu s after the storm", drain_s);
  serve_until(
      0, [] { return false; }, settle_ms);  // anything late shows as a duplicate
  compare_counts();

  __atomic_store_n(&g_phase, 3, __ATOMIC_RELEASE);
  cli();
  __atomic_add_fetch(&g_problems, final_check(0), __ATOMIC_SEQ_CST);
  arrive(g_finished);
  if (!wait_until([&] { return arrived(g_finished) == st.vps; }, 60'000)) {
    fail("SynIC: only %u of %u VPs finished their final checks", arrived(g_finished), st.vps);
  }
  report((stopped - start) / kRefPerMs, drain_ms);
  if (failures() != 0) {
    printf("hostile-synic: FAIL: %lu failures\n", failures());
    return 1;
  }
  return 0;
}

}  // namespace hostile::synic_storm
