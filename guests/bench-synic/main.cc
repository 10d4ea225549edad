// bench-synic: the guest half of `hvk bench`'s SynIC rows. Runs under
//   hvk run bench-synic.elf --vps 2 --synic --hyperv-testdev --cmdline "n=N"
// and measures, N times each (after a few unrecorded warm-up rounds), in guest TSC cycles:
//   post_self_auto_eoi   HvCallPostMessage to a message connection on this VP's own AutoEOI SINT,
//                        from just before the call to the first instruction of the SINT handler
//   post_self_eoi        the same on a SINT without AutoEOI (the handler writes the APIC's EOI)
//   signal_other         HvCallSignalEvent from VP 0 to an event connection on an AutoEOI SINT of
//                        VP 1, idle in `sti; hlt`, to VP 1's handler (KVM keeps the VPs' TSCs in
//                        step; a negative difference ends the run)
//   signal_other_eoi     the same on a SINT of VP 1 without AutoEOI
//   stimer_oneshot       a one-shot synthetic timer in message mode (AutoEOI SINT), armed at
//                        reference time + 1 ms, VP 0 idle in `sti; hlt`: the handler's reference
//                        time minus the expiration time
//   stimer_direct        the same in direct mode (when CPUID 0x40000003 EDX bit 19 offers it)
// Message handlers clear the slot and write EOM only when MessagePending was set (TLFS). The timer
// rows read the reference time from the reference TSC page (clock=page) or, when the page is
// invalid (sequence 0), from TIME_REF_COUNT (clock=msr). An invalid page means hvk found KVM's
// guest TSC unreliable (e.g. KVM nested on a host with an unstable TSC), so the signal rows then
// read TIME_REF_COUNT on both VPs too (clock=msr, including an exit on each side) instead of the
// TSC (clock=tsc). Reference time's 100 ns units are converted to cycles with the TSC frequency,
// so every row is in cycles.
//
// Command line: n=N (default 2000, at most kMaxSamples), timer_n=N (the timer rows; default
// min(n, 500): each takes over a millisecond), idle_us=U (how long VP 1 idles before each signal,
// default 100). Output, one line per row:
//   bench-synic: <row> n=<N> median=<cycles> p99=<cycles> max=<cycles> tsc_hz=<hz> clock=<clock>
//   bench-synic: stimer_direct skipped=1 (why)
// Exit status 0 when every row was printed, else 1 after one line saying why.
#include <cstdint>

#include "guest/guest.h"
#include "guest/synic.h"

namespace {

using namespace guest;

constexpr std::uint32_t kMaxSamples = 20000;
constexpr std::uint32_t kWarmup = 8;
constexpr std::uint64_t kTimerDelay = 10000;   // 1 ms in 100 ns units
constexpr std::uint64_t kWatchdogSeconds = 5;  // a timer that never fires

// SINTs, vectors and connections. VP 0: the two message connections, the timers' SINTs; VP 1: the
// two event connections. Connection ids double as the event flag numbers (hyperv-testdev).
constexpr unsigned kSintPostAuto = 1, kSintPostEoi = 2, kSintTimer = 3;
constexpr unsigned kSintSignalAuto = 5, kSintSignalEoi = 6;
constexpr std::uint8_t kVecPostAuto = 0xB0, kVecPostEoi = 0xB1, kVecTimer = 0xB2;
constexpr std::uint8_t kVecWatchdog = 0xB3, kVecDirect = 0xB4;
constexpr std::uint8_t kVecSignalAuto = 0xC0, kVecSignalEoi = 0xC1;
constexpr std::uint8_t kConnPostAuto = 1, kConnPostEoi = 2, kConnSignalAuto = 5, kConnSignalEoi = 6;
constexpr unsigned kTimerMessage = 0, kTimerDirect = 1;
// The watchdog is the local APIC's timer (one-shot, divide by 128), not a second synthetic timer:
// the measured timer is the VP's only one.
constexpr std::uint32_t kApicRegLvtTimer = 0x320, kApicRegTimerInitial = 0x380;
constexpr std::uint32_t kApicRegTimerDivide = 0x3E0, kApicTimerDivide128 = 0xA;
constexpr std::uint32_t kMessageType = 0x1234;  // a guest's type: bit 31 clear

// The two VPs' SIM and SIEF pages, and the reference TSC page.
alignas(4096) tlfs::MessagePage g_message_pages[2];
alignas(4096) tlfs::EventFlagsPage g_event_pages[2];
ReferenceTscPage g_reference_page;

std::uint64_t rdtsc() {
  std::uint32_t lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi)::"memory");
  return (std::uint64_t{hi} << 32) | lo;
}

std::uint64_t g_tsc_hz = 0;
std::uint64_t g_apic_hz = 0;
std::uint64_t g_samples[kMaxSamples];

// What the last handler saw: its TSC (or reference time) and a count of handler runs.
volatile std::uint64_t g_hit_tsc = 0;
volatile std::uint64_t g_hit_time = 0;
volatile std::uint32_t g_hits = 0;
volatile std::uint32_t g_watchdog = 0;
volatile std::uint32_t g_empty = 0;  // signal handler runs that found no flag set (none expected)
// The cross-VP rows' clock: the TSC, or TIME_REF_COUNT where hvk's reference TSC page is invalid
// (hvk found KVM's guest TSC unreliable: then the VPs' TSCs may also disagree).
bool g_cross_vp_tsc = true;
volatile std::uint32_t g_vp1_ready = 0;

int fail(const char* why) {
  printf("bench-synic: %s\n", why);
  return 1;
}

int fail_call(const char* call, std::uint64_t result) {
  printf("bench-synic: %s failed: %s (is hyperv-testdev on? hvk run --hyperv-testdev)\n", call,
         hv_status_name(hv_status(result)));
  return 1;
}

void record_hit(std::uint64_t tsc, std::uint64_t time) {
  g_hit_tsc = tsc;
  g_hit_time = time;
  __atomic_fetch_add(&g_hits, 1, __ATOMIC_RELEASE);
}

// The handlers: the TSC (or the reference time) first, then the TLFS's end of a message.
void on_post_auto(ExceptionFrame*) {
  const std::uint64_t t = rdtsc();
  take_message(&g_message_pages[0], kSintPostAuto);
  record_hit(t, 0);
}
void on_post_eoi(ExceptionFrame*) {
  const std::uint64_t t = rdtsc();
  take_message(&g_message_pages[0], kSintPostEoi);
  record_hit(t, 0);
  apic_eoi();
}
std::uint64_t cross_vp_clock() {
  return g_cross_vp_tsc ? rdtsc() : rdmsr(kMsrTimeRefCount);
}

void on_signal_auto(ExceptionFrame*) {
  const std::uint64_t t = cross_vp_clock();
  if (take_event_flag(&g_event_pages[1], kSintSignalAuto, kConnSignalAuto)) {
    record_hit(t, 0);
  } else {
    g_empty = g_empty + 1;
  }
}
void on_signal_eoi(ExceptionFrame*) {
  const std::uint64_t t = cross_vp_clock();
  if (take_event_flag(&g_event_pages[1], kSintSignalEoi, kConnSignalEoi)) {
    record_hit(t, 0);
  } else {
    g_empty = g_empty + 1;
  }
  apic_eoi();
}
void on_timer_message(ExceptionFrame*) {
  const std::uint64_t time = reference_time();
  take_message(&g_message_pages[0], kSintTimer);
  record_hit(0, time);
}
void on_timer_direct(ExceptionFrame*) {
  const std::uint64_t time = reference_time();
  record_hit(0, time);
  apic_eoi();
}
void on_watchdog(ExceptionFrame*) {
  g_watchdog = 1;
  apic_eoi();
}

// Spins (interrupts as they are) until g_hits passes `before`; false after about 10 s.
bool wait_hit(std::uint32_t before) {
  const std::uint64_t start = rdtsc();
  while (__atomic_load_n(&g_hits, __ATOMIC_ACQUIRE) == before) {
    if (rdtsc() - start > 10 * g_tsc_hz) return false;
    pause();
  }
  return true;
}

// Reference time (100 ns units) as TSC cycles; 64 bits suffice for the seconds measured here.
std::uint64_t ticks_to_cycles(std::int64_t ticks) {
  return static_cast<std::uint64_t>(ticks) * g_tsc_hz / 10'000'000;
}

void spin_cycles(std::uint64_t cycles) {
  const std::uint64_t start = rdtsc();
  while (rdtsc() - start < cycles) pause();
}

// Sorts the samples (Shell sort, Ciura's gaps) and prints the row's line.
void report(const char* row, std::uint32_t n, const char* extra) {
  static constexpr std::uint32_t kGaps[] = {701, 301, 132, 57, 23, 10, 4, 1};
  for (std::uint32_t gap : kGaps) {
    for (std::uint32_t i = gap; i < n; ++i) {
      const std::uint64_t v = g_samples[i];
      std::uint32_t j = i;
      for (; j >= gap && g_samples[j - gap] > v; j -= gap) g_samples[j] = g_samples[j - gap];
      g_samples[j] = v;
    }
  }
  const std::uint32_t p99 = (n * 99 + 99) / 100 - 1;  // ceil(0.99 n) - 1
  printf("bench-synic: %s n=%u median=%lu p99=%lu max=%lu tsc_hz=%lu%s\n", row, n, g_samples[n / 2],
         g_samples[p99 < n ? p99 : n - 1], g_samples[n - 1], g_tsc_hz, extra);
}

int post_self(const char* row, std::uint8_t connection, std::uint32_t n) {
  auto* in = static_cast<tlfs::PostMessageInput*>(hv_input_page());
  memset(in, 0, sizeof *in);
  in->connection_id.raw = connection;
  in->message_type = kMessageType;
  in->payload_size = 8;
  const std::uint64_t control = hv_control(tlfs::CallCode::kPostMessage);
  for (std::uint32_t i = 0; i < n + kWarmup; ++i) {
    in->payload[0] = static_cast<std::uint8_t>(i);
    const std::uint32_t before = g_hits;
    const std::uint64_t t0 = rdtsc();
    const std::uint64_t r = hv_call(control, in, nullptr);
    if (hv_status(r) != 0) return fail_call("HvCallPostMessage", r);
    if (!wait_hit(before)) {
      printf("bench-synic: %s: the SINT handler did not run within 10 s\n", row);
      return 1;
    }
    if (i >= kWarmup) g_samples[i - kWarmup] = g_hit_tsc - t0;
  }
  report(row, n, " clock=tsc");
  return 0;
}

int signal_other(const char* row, std::uint8_t connection, std::uint32_t n,
                 std::uint64_t idle_cycles) {
  // Fast call: the 8-byte input (connection id, flag number 0) in RDX.
  const std::uint64_t control =
      tlfs::HypercallControl::make(tlfs::CallCode::kSignalEvent, true).raw;
  for (std::uint32_t i = 0; i < n + kWarmup; ++i) {
    spin_cycles(idle_cycles);  // VP 1 went back to `sti; hlt` after its last handler
    const std::uint32_t before = g_hits;
    const std::uint64_t t0 = cross_vp_clock();
    const std::uint64_t r = hv_call(control, std::uint64_t{connection}, 0);
    if (hv_status(r) != 0) return fail_call("HvCallSignalEvent", r);
    if (!wait_hit(before)) {
      printf("bench-synic: %s: VP 1's SINT handler did not run within 10 s\n", row);
      return 1;
    }
    const auto d = static_cast<std::int64_t>(g_hit_tsc - t0);
    if (d < 0) {
      printf(
          "bench-synic: %s: VP 1's handler read TSC %ld cycles before VP 0's call: the VPs' "
          "TSCs are not in sync (KVM on a host with an unstable TSC?)\n",
          row, -d);
      return 1;
    }
    if (i >= kWarmup) g_samples[i - kWarmup] = g_cross_vp_tsc ? d : ticks_to_cycles(d);
  }
  if (g_empty != 0) {
    printf("bench-synic: %s: VP 1's handler ran %u times without its event flag\n", row, g_empty);
    return 1;
  }
  report(row, n, g_cross_vp_tsc ? " clock=tsc" : " clock=msr");
  return 0;
}

void watchdog_arm() {
  const std::uint64_t count = kWatchdogSeconds * g_apic_hz / 128;
  apic_write(kApicRegTimerDivide, kApicTimerDivide128);
  apic_write(kApicRegLvtTimer, kVecWatchdog);  // one-shot, unmasked
  apic_write(kApicRegTimerInitial,
             count > 0xFFFF'FFFF ? 0xFFFF'FFFF : static_cast<std::uint32_t>(count));
}
void watchdog_disarm() {
  apic_write(kApicRegTimerInitial, 0);
}

// One-shot expiry at reference time + 1 ms, VP 0 halted until a handler runs; the APIC timer ends
// the wait if the synthetic timer never fires.
int stimer(const char* row, unsigned timer, std::uint64_t config, std::uint32_t n) {
  for (std::uint32_t i = 0; i < n + kWarmup; ++i) {
    const std::uint32_t before = g_hits;
    watchdog_arm();
    const std::uint64_t expiry = reference_time() + kTimerDelay;
    // COUNT first: CONFIG's Enable with a stale COUNT in the past would fire at once.
    wrmsr(stimer_count_msr(timer), expiry);
    wrmsr(stimer_config_msr(timer), config);
    cli();
    while (g_hits == before && g_watchdog == 0) asm volatile("sti; hlt; cli" ::: "memory");
    asm volatile("sti" ::: "memory");
    watchdog_disarm();
    if (g_watchdog != 0) {
      printf("bench-synic: %s: the timer did not fire within %lu s of its expiration\n", row,
             kWatchdogSeconds);
      return 1;
    }
    const auto late = static_cast<std::int64_t>(g_hit_time - expiry);
    if (late < 0) {
      printf("bench-synic: %s: the handler ran %ld00 ns before the expiration time\n", row, -late);
      return 1;
    }
    if (i >= kWarmup) g_samples[i - kWarmup] = ticks_to_cycles(late);
  }
  report(row, n, reference_page_valid() ? " clock=page" : " clock=msr");
  return 0;
}

void ap_main() {
  synic_enable(&g_message_pages[1], &g_event_pages[1]);
  sint_set(kSintSignalAuto, kVecSignalAuto, true);
  sint_set(kSintSignalEoi, kVecSignalEoi, false);
  apic_sw_enable();
  g_vp1_ready = 1;
  for (;;) asm volatile("sti; hlt; cli" ::: "memory");
}

bool option(const char* key, std::uint64_t* value) {
  const char* v = cmdline_value(key);
  return v == nullptr || parse_u64(v, value);
}

const char* setup() {
  if (const char* err = hv_init()) return err;
  const Cpuid f = cpuid(kCpuidHvFeatures);
  if ((f.eax & (1u << 2)) == 0 || (f.eax & (1u << 3)) == 0 || (f.ebx & (1u << 4)) == 0 ||
      (f.ebx & (1u << 5)) == 0) {
    return "no SynIC, synthetic timers, PostMessage or SignalEvent (hvk run --synic)";
  }
  if (vp_count() < 2) return "needs 2 VPs (hvk run --vps 2)";
  if (rdmsr_safe(kMsrTscFrequency, &g_tsc_hz) >= 0 || g_tsc_hz == 0 ||
      rdmsr_safe(kMsrApicFrequency, &g_apic_hz) >= 0 || g_apic_hz == 0) {
    return "no TSC or APIC frequency in MSRs 0x40000022-0x40000023";
  }
  if ((f.eax & (1u << 9)) != 0) reference_clock_init(&g_reference_page);
  g_cross_vp_tsc = reference_page_valid();
  set_interrupt_handler(kVecPostAuto, on_post_auto);
  set_interrupt_handler(kVecPostEoi, on_post_eoi);
  set_interrupt_handler(kVecTimer, on_timer_message);
  set_interrupt_handler(kVecWatchdog, on_watchdog);
  set_interrupt_handler(kVecDirect, on_timer_direct);
  set_interrupt_handler(kVecSignalAuto, on_signal_auto);
  set_interrupt_handler(kVecSignalEoi, on_signal_eoi);
  synic_enable(&g_message_pages[0], &g_event_pages[0]);
  sint_set(kSintPostAuto, kVecPostAuto, true);
  sint_set(kSintPostEoi, kVecPostEoi, false);
  sint_set(kSintTimer, kVecTimer, true);
  apic_sw_enable();
  testdev_message_connection(kConnPostAuto, 0, kSintPostAuto);
  testdev_message_connection(kConnPostEoi, 0, kSintPostEoi);
  testdev_event_connection(kConnSignalAuto, 1, kSintSignalAuto);
  testdev_event_connection(kConnSignalEoi, 1, kSintSignalEoi);

  if (const char* err = vp_blocks_init(2)) return err;
  set_ap_main(ap_main);
  const auto ctx =
      vp_context_64(reinterpret_cast<std::uint64_t>(&guest_ap_entry64), vp_stack_top(1));
  if (hv_status(hv_start_virtual_processor(1, 0, ctx)) != 0) {
    return "HvCallStartVirtualProcessor(VP 1) failed";
  }
  const std::uint64_t start = rdtsc();
  while (g_vp1_ready == 0) {
    if (rdtsc() - start > 10 * g_tsc_hz) return "VP 1 did not come up within 10 s";
    pause();
  }
  return nullptr;
}

}  // namespace

extern "C" int guest_main(const void*) {
  std::uint64_t n = 2000, timer_n = 0, idle_us = 100;
  if (!option("n", &n) || !option("timer_n", &timer_n) || !option("idle_us", &idle_us) || n == 0 ||
      n > kMaxSamples || timer_n > kMaxSamples) {
    return fail("bad n=, timer_n= or idle_us= (n: 1..20000)");
  }
  if (timer_n == 0) timer_n = n < 500 ? n : 500;
  if (const char* err = setup()) return fail(err);
  const auto count = static_cast<std::uint32_t>(n);
  const auto timer_count = static_cast<std::uint32_t>(timer_n);
  const std::uint64_t idle = idle_us * g_tsc_hz / 1'000'000;

  asm volatile("sti" ::: "memory");
  if (post_self("post_self_auto_eoi", kConnPostAuto, count) != 0 ||
      post_self("post_self_eoi", kConnPostEoi, count) != 0 ||
      signal_other("signal_other", kConnSignalAuto, count, idle) != 0 ||
      signal_other("signal_other_eoi", kConnSignalEoi, count, idle) != 0 ||
      stimer("stimer_oneshot", kTimerMessage,
             tlfs::StimerConfig::kEnable | (std::uint64_t{kSintTimer} << 16), timer_count) != 0) {
    return 1;
  }
  if ((cpuid(kCpuidHvFeatures).edx & (1u << 19)) == 0) {
    puts("bench-synic: stimer_direct skipped=1 (CPUID 0x40000003 EDX bit 19: no direct mode)");
    return 0;
  }
  return stimer("stimer_direct", kTimerDirect,
                tlfs::StimerConfig::kEnable | tlfs::StimerConfig::kDirectMode |
                    (std::uint64_t{kVecDirect} << 4),
                timer_count);
}
