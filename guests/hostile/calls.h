// Random hypercalls: their shapes (docs/conformance.md), how one is built, what the conformance
// table allows for it (model.cc), and how it is issued and checked (exec.cc).
#pragma once

#include <cstdint>

#include "hostile.h"

namespace hostile {

// The ABI shape of a call hvk implements (calls.cc in hvk has the same table; these numbers come
// from the TLFS input and output layouts).
struct Shape {
  std::uint16_t code;
  CodeClass cls;
  bool rep;
  bool mutating;  // may change partition or VP state: never given input bytes the guest did not
                  // write, and never aimed at a child partition outside the child events
  std::uint16_t in_size;   // simple input, or rep header
  std::uint16_t out_size;  // simple output
  std::uint16_t in_elem;   // rep input element
  std::uint16_t out_elem;  // rep output element
  StatusSet handler;       // every status the call's handler may answer (its rows)
  const char* name;
};
const Shape* shape_of(std::uint16_t code);
const Shape& shape_at(unsigned i);
unsigned shape_count();

// Where a GPA points, as far as the model is concerned.
enum class Where : std::uint8_t {
  kOwnIn,   // inside this VP's input page for the call (its in page, or its ctx page)
  kOwnOut,  // inside this VP's output page
  kOther,   // anything else (RAM the guest did not fill, or not RAM)
};

struct Call {
  std::uint64_t control = 0, input = 0, output = 0;  // RCX, RDX, R8
  bool via_page = false;
  std::uint64_t page = 0;
  const Shape* shape = nullptr;  // nullptr: a code hvk does not implement
  Where in_where = Where::kOther, out_where = Where::kOther;
  std::uint32_t in_off = 0, out_off = 0;  // offsets inside the own page
  const char* in_kind = "";               // the GPA generator's name for each operand
  const char* out_kind = "";
  // The input as hvk should read it (built in place in the VP's input page, or the fast register
  // block), or nullptr when the input is not the guest's own (the model then allows every status
  // the call's rows list).
  const std::uint8_t* bytes = nullptr;
  // A fast call's register block: RDX, R8, then XMM0-XMM5 (loaded before every fast call).
  alignas(16) std::uint8_t fast[112];
  bool bad_context = false;  // the 0x99/0x0F context breaks a rule of table R
  // The context page's qwords this call changed, restored after it.
  std::uint32_t undo_n = 0;
  std::uint32_t undo_off[4];
  std::uint64_t undo_val[4];
};

// What the conformance table allows for one call.
struct Expect {
  StatusSet allowed = 0;
  int reps = -1;         // exact reps completed, or -1 (then: start <= reps <= count)
  bool decided = false;  // the dispatcher decides (A4-A15): no handler ran, nothing written
  const char* rule = "";
};

// True when [gpa, gpa + len) passes the dispatcher's GPA rules (A13-A15) for this RAM.
bool gpa_ok(std::uint64_t gpa, std::uint64_t len);
std::uint64_t input_len(const Shape& s, tlfs::HypercallControl c);
std::uint64_t output_len(const Shape& s, tlfs::HypercallControl c);
// Whether the call's input is the guest's own bytes (fast, or wholly inside its input page).
bool content_known(const Call& c);

Expect predict(const Call& c, const Worker& w);

// Builds a random call into `c` and fills the worker's pages (generate.cc).
void generate(Worker& w, Call& c);
// Issues it and checks the status, reps, the result's reserved bits, the outputs and both own
// pages (exec.cc). Returns the result value.
std::uint64_t run_call(Worker& w, Call& c);

// Building blocks shared with the start storms and child events.
void make_context_bad(Rng& r, tlfs::InitialVpContext& c);
// Puts a StartVirtualProcessorInput with a valid 64-bit context at the VP's ctx page.
void ctx_page_init(Worker& w);
// Restores what generate() changed in the ctx page.
void ctx_page_undo(Worker& w, Call& c);
// Issues a memory-form call with `len` input bytes at this VP's input page (output at its
// kScratchOut), checks that the status is in `allowed` (and the usual result rules), and returns
// the result value.
inline constexpr std::uint32_t kScratchOut = 2048;
std::uint64_t call_expecting(Worker& w, std::uint64_t control, const void* input, std::uint32_t len,
                             StatusSet allowed, const char* what);

// General registers of SetVpRegisters (regs.cc): identity values read at start-up, and values
// table R refuses.
struct RegChoice {
  std::uint32_t name;
  tlfs::RegisterValue value;
  bool bad;
};
void regs_init(Worker& w);
// GetVpRegisters(SELF, SELF, `name`) through w's pages, at start-up: the value, or a failure.
tlfs::RegisterValue get_own_register(Worker& w, tlfs::RegisterName name);
RegChoice reg_choice(Worker& w);
bool reg_is_general(std::uint32_t name);
bool reg_is_vsm_readable(std::uint32_t name);
// Whether `v` is the identity value this VP recorded for `name` (a SetVpRegisters that changes
// nothing); false for names without one (RIP, RSP).
bool reg_is_identity(const Worker& w, std::uint32_t name, const tlfs::RegisterValue& v);
// Checks a GetVpRegisters output of this VP's own register `name` (VTL 0).
void reg_check_read(const Worker& w, std::uint32_t name, const tlfs::RegisterValue& v);

}  // namespace hostile
