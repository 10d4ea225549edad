// highmem: guest RAM above 4 GiB (issue 17; hvk run --mem 6G). From inside the VM it checks what
// hvk promised: the e820 map has RAM below the 32-bit hole and from 4 GiB on; a pattern written at
// the last page below the hole, the first page at 4 GiB, 5 GiB (when there) and the last page of
// RAM reads back; the hole itself is not RAM (it reads as all ones, writes vanish); and a
// hypercall whose input and output pages are above 4 GiB works (hvk's own bounds checks follow
// the split). With "no-high" on the command line (--mem of 3 GiB or less) it checks instead that
// there is no RAM above 4 GiB and that the last page of RAM reads back. Ends with the number of
// failed checks (0: all passed).
#include <cstdint>

#include "guest/guest.h"

namespace {

constexpr std::uint64_t kGiB = 1ull << 30;
constexpr std::uint64_t kPage = 4096;
int g_failures = 0;

void check(bool ok, const char* what, std::uint64_t at) {
  guest::printf("highmem: %s %s at %#lx\n", ok ? "ok" : "FAIL:", what,
                static_cast<unsigned long>(at));
  if (!ok) ++g_failures;
}

// Writes a pattern made of each qword's address over the page at `at`, then reads it back.
bool pattern(std::uint64_t at) {
  auto* q = reinterpret_cast<volatile std::uint64_t*>(at);
  for (std::uint64_t i = 0; i < kPage / 8; ++i) q[i] = (at + i * 8) ^ 0x5a5a'a5a5'0f0f'f0f0ull;
  for (std::uint64_t i = 0; i < kPage / 8; ++i) {
    if (q[i] != ((at + i * 8) ^ 0x5a5a'a5a5'0f0f'f0f0ull)) return false;
  }
  return true;
}

}  // namespace

extern "C" int guest_main(const void*) {
  std::uint64_t low_end = 0, high_start = 0, high_end = 0;
  for (unsigned i = 0; i < guest::e820_count(); ++i) {
    const guest::E820Entry e = guest::e820_entry(i);
    guest::printf("highmem: e820 [%#lx, %#lx) type %u\n", static_cast<unsigned long>(e.addr),
                  static_cast<unsigned long>(e.addr + e.size), e.type);
    if (e.type != 1) continue;
    if (e.addr < 4 * kGiB) low_end = e.addr + e.size;
    if (e.addr >= 4 * kGiB) high_start = e.addr, high_end = e.addr + e.size;
  }
  check(low_end != 0 && low_end <= 3 * kGiB, "RAM below the hole ends at or below 3 GiB", low_end);
  if (guest::cmdline_has("no-high")) {
    check(high_start == 0, "no RAM above the hole", high_start);
    check(pattern(low_end - kPage), "a pattern reads back in the last page of RAM",
          low_end - kPage);
    guest::printf("highmem: %d failed\n", g_failures);
    return g_failures;
  }
  check(high_start == 4 * kGiB, "RAM above the hole starts at 4 GiB", high_start);
  if (high_start == 0) return g_failures;
  check(pattern(low_end - kPage), "a pattern reads back in the last page below the hole",
        low_end - kPage);
  check(pattern(high_start), "a pattern reads back in the first page at 4 GiB", high_start);
  if (high_end > 5 * kGiB) {
    check(pattern(5 * kGiB), "a pattern reads back at 5 GiB", 5 * kGiB);
  }
  check(pattern(high_end - kPage), "a pattern reads back in the last page of RAM",
        high_end - kPage);
  // The hole: no RAM behind it (hvk reads unbacked addresses as all ones and drops writes).
  auto* hole = reinterpret_cast<volatile std::uint64_t*>(3 * kGiB + 512 * 1024 * 1024);
  *hole = 0;
  check(*hole == ~0ull, "the 32-bit hole is not RAM (reads all ones after a write of 0)",
        3 * kGiB + 512 * 1024 * 1024);
  // A hypercall with its input page at 4 GiB and its output page in the last page of RAM.
  if (const char* why = guest::hv_init()) {
    guest::printf("highmem: FAIL: hv_init: %s\n", why);
    return g_failures + 1;
  }
  auto* in = reinterpret_cast<std::uint8_t*>(high_start);
  auto* out = reinterpret_cast<std::uint32_t*>(high_end - kPage);
  for (std::uint64_t i = 0; i < 24; ++i) in[i] = 0;
  *reinterpret_cast<std::uint64_t*>(in) = hvk::tlfs::kPartitionIdSelf;
  in[8] = hvk::tlfs::InputVtl::current().raw;
  *out = 0xFFFF'FFFF;
  const std::uint64_t r =
      guest::hv_call(guest::hv_control(hvk::tlfs::CallCode::kGetVpIndexFromApicId, 1), high_start,
                     high_end - kPage);
  check(guest::hv_status(r) == 0 && *out == 0,
        "HvCallGetVpIndexFromApicId with its pages above 4 GiB succeeds (APIC ID 0 is VP 0)",
        high_start);
  guest::printf("highmem: %d failed\n", g_failures);
  return g_failures;
}
