// The RAM plan (named pages, canary) and the canary's fill and check (canary.cc).
#pragma once

#include "hostile.h"

namespace hostile {

// Sets env().ram_end, the zone, the named pages and the canary's extent from the e820 map (the
// zone after `first_free`, about env().canary_want bytes of canary) and points each worker at
// its pages. Returns nullptr, or why the plan does not fit.
const char* layout_init(std::uint64_t first_free);
std::uint64_t first_free_after_image();
std::uint64_t canary_bytes();
// Part `part` of `parts` equal slices of the canary pages.
void canary_fill(std::uint32_t part, std::uint32_t parts);
// Returns how many pages differ (the first few are reported as failures).
std::uint64_t canary_check(std::uint32_t part, std::uint32_t parts);

}  // namespace hostile
