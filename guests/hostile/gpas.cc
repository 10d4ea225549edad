// GPAs for a call's input and output: the VP's own pages (at offset 0, at other offsets,
// unaligned, straddling the page end), the last page of RAM, RAM end - 8, RAM end and past it,
// the last page below 2^64, 2^64 - 8, the local APIC, 4 GiB, random ones.
#include "picks.h"

namespace hostile {

namespace {

// An offset in a page where `len` bytes straddle the page end, 8-byte aligned when possible.
std::uint32_t straddle_offset(Rng& r, std::uint64_t len) {
  if (len <= 8) return static_cast<std::uint32_t>(kPage - 4);  // unaligned (and crossing)
  std::uint64_t max_k = (len - 1) / 8;                         // 8k < len: the end crosses
  if (max_k > 64) max_k = 64;
  return static_cast<std::uint32_t>(kPage - 8 * (1 + r.below(max_k)));
}

std::uint32_t fitting_offset(Rng& r, std::uint64_t len) {
  const std::uint64_t room = len >= kPage ? 0 : (kPage - len) / 8;
  return static_cast<std::uint32_t>(8 * r.below(room + 1));
}

Pick pick_common(Rng& r, std::uint64_t len, unsigned choice) {
  const std::uint64_t end = env().ram_end;
  switch (choice) {
    case 0:
      return {last_page() + fitting_offset(r, len), Where::kOther, 0, "last RAM page"};
    case 1:
      return {end - 8, Where::kOther, 0, "RAM end - 8"};
    case 2:
      return {end, Where::kOther, 0, "RAM end"};
    case 3:
      return {end + kPage * (1 + r.below(64)) + 8 * r.below(512), Where::kOther, 0, "past RAM end"};
    case 4:
      return {~0ull - kPage + 1 + 8 * r.below(512), Where::kOther, 0, "last page of 2^64"};
    case 5:
      return {~0ull - 7, Where::kOther, 0, "2^64 - 8"};
    case 6:
      return {0xFEE0'0000ull + 8 * r.below(512), Where::kOther, 0, "local APIC page"};
    case 7:
      return {1ull << 32, Where::kOther, 0, "4 GiB"};
    case 8:
      return {r.next(), Where::kOther, 0, "random"};
    default:
      return {8 * r.below(end / 8), Where::kOther, 0, "random RAM"};
  }
}

}  // namespace

// Where hvk may write: this VP's own pages and the shared last page of RAM.
bool named_for(const Worker& w, std::uint64_t gpa, std::uint64_t len) {
  const std::uint64_t pages[] = {reinterpret_cast<std::uint64_t>(w.in),
                                 reinterpret_cast<std::uint64_t>(w.out), last_page()};
  // (The ctx page is an input only: an output there would garble the template.)
  for (std::uint64_t p : pages) {
    if (gpa >= p && gpa - p < kPage && len <= kPage - (gpa - p)) return true;
  }
  return false;
}

Pick pick_in(Rng& r, const std::uint8_t* page, std::uint64_t len) {
  const auto base = reinterpret_cast<std::uint64_t>(page);
  static constexpr unsigned kWeights[] = {65, 8, 4, 4, 2, 2, 2, 2, 1, 2, 1, 1, 1, 2, 2};
  const unsigned i = weighted(r, kWeights);
  std::uint32_t off = 0;
  const char* kind = "own input page";
  switch (i) {
    case 0:
      break;
    case 1:
      off = fitting_offset(r, len);
      kind = "own input page + offset";
      break;
    case 2:
      off = static_cast<std::uint32_t>(r.below(kPage)) | static_cast<std::uint32_t>(1 + r.below(7));
      off = off >= kPage ? kPage - 3 : off;
      kind = "own input page, unaligned";
      break;
    case 3:
      off = straddle_offset(r, len);
      kind = "own input page, straddling";
      break;
    case 4:
      return {0x0 + 8 * r.below(64), Where::kOther, 0, "page 0"};
    default:
      return pick_common(r, len, i - 5);
  }
  return {base + off, Where::kOwnIn, off, kind};
}

Pick pick_out(Rng& r, const Worker& w, std::uint64_t len, const Call& c) {
  const auto base = reinterpret_cast<std::uint64_t>(w.out);
  static constexpr unsigned kWeights[] = {62, 6, 4, 4, 5, 4, 2, 2, 1, 2, 1, 1, 1, 2, 2};
  const unsigned i = weighted(r, kWeights);
  std::uint32_t off = 0;
  const char* kind = "own output page";
  switch (i) {
    case 0:
      break;
    case 1:
      off = fitting_offset(r, len);
      kind = "own output page + offset";
      break;
    case 2:
      off = static_cast<std::uint32_t>(r.below(kPage - 8)) | 1u;
      kind = "own output page, unaligned";
      break;
    case 3:
      off = straddle_offset(r, len);
      kind = "own output page, straddling";
      break;
    case 4:
      if (c.in_where == Where::kOwnIn) {
        return {c.input, Where::kOwnIn, c.in_off, "the input itself (A17)"};
      }
      break;
    default:
      return pick_common(r, len, i - 5);
  }
  return {base + off, Where::kOwnOut, off, kind};
}

}  // namespace hostile
