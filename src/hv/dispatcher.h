// The one place that checks the hypercall ABI: mode and CPL, the control word, the GPAs. Handlers
// get typed, already-validated inputs. No heap allocation on this path.
#pragma once

#include <cstdint>

#include "hv/call_context.h"
#include "hv/call_table.h"

namespace hvk::hv {

class Hypervisor;

// Receives one record per completed dispatch when tracing is on.
struct TraceRecord {
  const Partition* partition;
  tlfs::VpIndex vp;
  tlfs::Vtl vtl;
  tlfs::HypercallControl control;
  const CallDescriptor* call;  // nullptr for an unknown code
  const char* input_text;      // the decoded input, or "" (valid during the callback only)
  Outcome outcome;
  std::uint64_t elapsed_ns;  // time in the dispatcher
};

class TraceSink {
 public:
  virtual ~TraceSink() = default;
  virtual void on_call(const TraceRecord& record) noexcept = 0;
};

struct DispatcherOptions {
  // A rep call handles at most this many elements before it returns to the guest to be
  // re-executed (the TLFS's time-slice rule, counted in elements).
  std::uint16_t max_reps_per_entry = tlfs::HypercallControl::kMaxRep;
};

class Dispatcher {
 public:
  explicit Dispatcher(Hypervisor& hv, DispatcherOptions options = {})
      : hv_(hv), options_(options) {}

  void set_trace(TraceSink* sink) { trace_ = sink; }

  // Handles the hypercall `vp` of `partition` made with `state`: validates, runs the handler and
  // writes the result (or, for kRetry, the new control value) into state.regs.
  // `registers` gives Get/SetVpRegisters the caller's own general registers (may be null).
  Outcome dispatch(Partition& partition, Vp& vp, VpCallState& state, VpState* registers = nullptr);

  // Same, with the registers already decoded (the machine and the tests use dispatch()).
  Outcome dispatch(Partition& partition, Vp& vp, ExecMode mode, std::uint8_t cpl,
                   const CallRegs& regs, VpState* registers = nullptr);

 private:
  Outcome run(CallContext& ctx, ExecMode mode, const CallDescriptor& call, const CallRegs& regs,
              char* text, std::size_t text_size);
  Hypervisor& hv_;
  DispatcherOptions options_;
  TraceSink* trace_ = nullptr;
};

// Register conventions, exposed for the machine and tests.
CallRegs decode_call_regs(ExecMode mode, const HypercallRegs& regs);
void write_result(ExecMode mode, HypercallRegs& regs, const Outcome& outcome,
                  tlfs::HypercallControl control);

}  // namespace hvk::hv
