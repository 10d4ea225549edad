// The guest's RAM plan and the canary. After the image (and the root's AP blocks) comes the zone:
// [canary][named 0][canary][named 1]...[canary], then more canary, and canary again in the last
// MiB before the last page of RAM. Named pages are the only RAM the guest ever names as an output
// (or as a page hvk fills: hypercall code, the reference TSC page) besides the last page of RAM.
// Each canary page holds one 64-bit pattern derived from its address (a whole page is one
// `rep stosq` to fill and one `repe scasq` to check: guest instructions are expensive here).
#include "canary.h"

extern "C" std::uint8_t __image_end[];

namespace hostile {

namespace {

constexpr std::uint64_t kCanarySalt = 0x6E61'7279'6361'6E61ull;  // "anacyran"
constexpr std::uint64_t kTail = 1ull << 20;

std::uint64_t canary_word(std::uint64_t page) {
  return mix64(page ^ kCanarySalt);
}

// Canary page k of all of them (zone first, then the tail), or 0 for a named page.
std::uint64_t canary_page(std::uint64_t k) {
  const Env& e = env();
  const std::uint64_t front = (e.canary_end - e.zone) / kPage;
  if (k >= front) return e.tail_start + (k - front) * kPage;
  if ((k & 1) != 0 && (k - 1) / 2 < e.named) return 0;
  return e.zone + k * kPage;
}

std::uint64_t page_count() {
  const Env& e = env();
  return (e.canary_end - e.zone) / kPage + (last_page() - e.tail_start) / kPage;
}

}  // namespace

const char* layout_init(std::uint64_t first_free) {
  Env& e = env();
  e.ram_end = 0;
  for (unsigned i = 0; i < e820_count(); ++i) {
    const E820Entry m = e820_entry(i);
    if (m.type == 1 && m.addr + m.size > e.ram_end) e.ram_end = m.addr + m.size;
  }
  if (e.ram_end == 0 || e.ram_end % kPage != 0) return "no usable RAM in the e820 map";
  e.zone = (first_free + 0xFFFF) & ~0xFFFFull;
  e.named = named_count(e.workers);
  const std::uint64_t zone_bytes = (2 * e.named + 1) * kPage;
  const std::uint64_t want = e.canary_want > zone_bytes ? e.canary_want : zone_bytes;
  if (e.zone + zone_bytes + kPage > last_page()) {
    return "not enough RAM for the named pages and the canary (use more --mem)";
  }
  e.canary_end = e.zone + want < last_page() ? (e.zone + want) & ~(kPage - 1) : last_page();
  e.tail_start = last_page() - kTail > e.canary_end ? last_page() - kTail : e.canary_end;
  for (std::uint32_t w = 0; w < e.workers; ++w) {
    worker(w).in = reinterpret_cast<std::uint8_t*>(in_page(w));
    worker(w).out = reinterpret_cast<std::uint8_t*>(out_page(w));
    worker(w).ctx = reinterpret_cast<std::uint8_t*>(ctx_page(w));
  }
  return nullptr;
}

std::uint64_t first_free_after_image() {
  return reinterpret_cast<std::uint64_t>(__image_end);
}

std::uint64_t canary_bytes() {
  return (page_count() - env().named) * kPage;
}

void canary_fill(std::uint32_t part, std::uint32_t parts) {
  const std::uint64_t n = page_count();
  for (std::uint64_t k = n * part / parts; k < n * (part + 1) / parts; ++k) {
    if (const std::uint64_t p = canary_page(k)) {
      fill_qwords(reinterpret_cast<void*>(p), canary_word(p), kPage / 8);
    }
  }
}

std::uint64_t canary_check(std::uint32_t part, std::uint32_t parts) {
  const std::uint64_t n = page_count();
  std::uint64_t bad = 0;
  for (std::uint64_t k = n * part / parts; k < n * (part + 1) / parts; ++k) {
    const std::uint64_t p = canary_page(k);
    if (p == 0) continue;
    const auto* q = reinterpret_cast<const std::uint64_t*>(p);
    const std::uint64_t i = scan_qwords(q, canary_word(p), kPage / 8);
    if (i == kPage / 8) continue;
    if (++bad <= 4) {
      fail("canary: guest RAM at 0x%lx holds 0x%016lx, not 0x%016lx: hvk wrote RAM no call named",
           p + 8 * i, q[i], canary_word(p));
    }
  }
  return bad;
}

}  // namespace hostile
