// Random choices for one call (picks.cc) and its GPAs (gpas.cc).
#pragma once

#include <cstdint>

#include "calls.h"

namespace hostile {

// Picks an index by weight.
template <unsigned N>
unsigned weighted(Rng& r, const unsigned (&w)[N]) {
  unsigned total = 0;
  for (unsigned x : w) total += x;
  unsigned v = static_cast<unsigned>(r.below(total));
  for (unsigned i = 0; i < N; ++i) {
    if (v < w[i]) return i;
    v -= w[i];
  }
  return N - 1;
}

std::uint16_t pick_code(Rng& r);
std::uint64_t make_control(Rng& r, const Shape* s, std::uint16_t code, bool fast);
// Partition ids: SELF, the own id, 0, never created, SELF - 1, random, the parent, a child (only
// when allow_child).
std::uint64_t pick_pid(Rng& r, bool allow_child);
std::uint32_t pick_vp(Rng& r, const Worker& w);
std::uint8_t pick_vtl(Rng& r);
std::uint8_t pick_input_vtl(Rng& r);  // HV_INPUT_VTL
std::uint32_t pick_apic(Rng& r);
std::uint32_t pick_get_name(Rng& r);  // a GetVpRegisters element

struct Pick {
  std::uint64_t gpa;
  Where where;
  std::uint32_t off;
  const char* kind;
};

Pick pick_in(Rng& r, const std::uint8_t* page, std::uint64_t len);
Pick pick_out(Rng& r, const Worker& w, std::uint64_t len, const Call& c);
// Whether hvk may write [gpa, gpa + len): the VP's own input or output page, or the last page.
bool named_for(const Worker& w, std::uint64_t gpa, std::uint64_t len);

}  // namespace hostile
