// Synthetic MSRs and the hypercall page (msrs.cc).
#pragma once

#include "hostile.h"

namespace hostile {

// One random read or write in 0x40000000-0x400000FF, checked.
void msr_op(Worker& w);
// Installs the hypercall code at the candidate pages (env().hc_pages) one after the other and
// checks each with a call through it; leaves it at the runtime's page, unlocked.
bool hc_pages_init();
// VP 0, half-way through: moves the page to a candidate and sets the lock bit.
void hc_lock(Worker& w);
// HYPERCALL as read back after the lock, or 0 before.
std::uint64_t hc_locked();
// At the end: HYPERCALL still reads the locked value and the page there works.
void hc_final_check(Worker& w);
// A call through `page` (code 0: INVALID_HYPERCALL_CODE) that survives a fault.
bool page_works(std::uint64_t page, const char* what);

}  // namespace hostile
