// What a handler is given about its caller, and what the dispatcher gives back to the machine.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "hv/partition.h"
#include "hvk/tlfs/control.h"
#include "hvk/tlfs/vp_context.h"

namespace hvk::hv {

class Hypervisor;

// The execution mode of the calling VP. Hypercalls are legal only at CPL 0 in protected mode
// (which includes compatibility mode: the 32-bit register convention) or 64-bit mode.
enum class ExecMode : std::uint8_t { kReal, kVirtual8086, kProtected, k64Bit };

// The registers a hypercall reads and writes. 64-bit mode: RCX control, RDX input GPA,
// R8 output GPA, RAX result. 32-bit: EDX:EAX control and result, EBX:ECX input, EDI:ESI output.
struct HypercallRegs {
  std::uint64_t rax = 0, rbx = 0, rcx = 0, rdx = 0, rsi = 0, rdi = 0, r8 = 0;
};

struct VpCallState {
  ExecMode mode = ExecMode::k64Bit;
  std::uint8_t cpl = 0;
  HypercallRegs regs;
};

// The decoded register inputs of one call, independent of the caller's register convention.
struct CallRegs {
  tlfs::HypercallControl control;
  std::uint64_t input;   // input GPA, or the first fast input qword
  std::uint64_t output;  // output GPA, or the second fast input qword
};

// The calling VP's own architectural state, per VTL, as the machine holds it during the call (the
// running VTL in the vCPU, the others saved). Get/SetVpRegisters of the general registers use it:
// they are exactly the fields of HV_INITIAL_VP_CONTEXT.
class VpState {
 public:
  virtual ~VpState() = default;
  virtual tlfs::InitialVpContext context(tlfs::Vtl vtl) = 0;
  virtual void set_context(tlfs::Vtl vtl, const tlfs::InitialVpContext& context) = 0;

  // XMM0-XMM5 of the running VTL, low byte of XMM0 first: the XMM fast hypercall registers (TLFS
  // "XMM Fast Hypercall Input/Output"). False where the caller's XMM state cannot be reached.
  static constexpr std::size_t kXmmBytes = 96;
  virtual bool xmm(std::span<std::byte, kXmmBytes> /*out*/) { return false; }
  virtual bool set_xmm(std::span<const std::byte, kXmmBytes> /*in*/) { return false; }
};

// The caller as handlers see it.
struct CallContext {
  Hypervisor& hv;
  Partition& partition;
  Vp& vp;
  tlfs::Vtl vtl;             // the caller's VTL at the time of the call
  VpState* state = nullptr;  // the caller's registers; null where the machine offers none
  // Set by a handler that cannot go on yet (a flush aimed at a locked TLB): the dispatcher then
  // returns Action::kSuspend and writes nothing.
  bool suspend = false;
};

enum class Action : std::uint8_t {
  kComplete,  // result written; the machine resumes after the hypercall instruction
  kRetry,     // rep call paused: control written back with the new rep start; re-execute it
  kInjectUd,  // no result: the machine injects #UD
  // No result, nothing changed: the VP is suspended until the TLB locks it waits on change
  // (Backend::tlb_locks_released), then re-executes the same call (TLFS: "the hypercall will be
  // reissued").
  kSuspend,
};

struct Outcome {
  Action action = Action::kComplete;
  tlfs::HypercallResult result{};
  // An XMM fast call whose output starts in RDX:R8 (a call with no input): their new values.
  bool fast_output_in_gprs = false;
  std::array<std::uint64_t, 2> fast_gprs{};
};

}  // namespace hvk::hv
