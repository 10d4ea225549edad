#include "hv/dispatcher.h"

#include <algorithm>
#include <array>
#include <chrono>

#include "hv/hypervisor.h"

namespace hvk::hv {

using tlfs::HypercallControl;
using tlfs::HypercallResult;
using tlfs::Status;

namespace {

constexpr std::uint64_t kFastInputBytes = 16;  // RDX:R8 (EBX:ECX, EDI:ESI)
constexpr std::uint64_t kFastBlockBytes = kFastInputBytes + VpState::kXmmBytes;  // and XMM0-5

Outcome complete(Status s, std::uint16_t reps = 0) {
  return {Action::kComplete, HypercallResult::make(s, reps)};
}

// GPA rules for one memory operand (notes §1 decisions): 8-byte aligned, inside one page, all of
// it guest RAM; each failure is HV_STATUS_INVALID_ALIGNMENT.
bool gpa_ok(const GuestMemory* mem, std::uint64_t gpa, std::uint64_t len) {
  if (gpa % 8 != 0) return false;
  if ((gpa % tlfs::kPageSize) + len > tlfs::kPageSize) return false;
  return mem != nullptr && mem->contains(gpa, len);
}

}  // namespace

CallRegs decode_call_regs(ExecMode mode, const HypercallRegs& r) {
  auto pair = [](std::uint64_t hi, std::uint64_t lo) { return (hi << 32) | (lo & 0xFFFF'FFFFull); };
  if (mode == ExecMode::k64Bit) return {{r.rcx}, r.rdx, r.r8};
  return {{pair(r.rdx, r.rax)}, pair(r.rbx, r.rcx), pair(r.rdi, r.rsi)};
}

void write_result(ExecMode mode, HypercallRegs& r, const Outcome& o, HypercallControl control) {
  if (o.action == Action::kInjectUd || o.action == Action::kSuspend) return;
  const std::uint64_t value = o.action == Action::kRetry
                                  ? control.with_rep_start(o.result.reps_completed()).raw
                                  : o.result.raw;
  if (mode == ExecMode::k64Bit) {
    (o.action == Action::kRetry ? r.rcx : r.rax) = value;
    if (o.fast_output_in_gprs) {
      r.rdx = o.fast_gprs[0];
      r.r8 = o.fast_gprs[1];
    }
  } else {
    r.rax = value & 0xFFFF'FFFFull;
    r.rdx = value >> 32;
  }
}

Outcome Dispatcher::dispatch(Partition& partition, Vp& vp, VpCallState& state, VpState* registers) {
  const CallRegs regs = decode_call_regs(state.mode, state.regs);
  const Outcome o = dispatch(partition, vp, state.mode, state.cpl, regs, registers);
  write_result(state.mode, state.regs, o, regs.control);
  return o;
}

Outcome Dispatcher::dispatch(Partition& partition, Vp& vp, ExecMode mode, std::uint8_t cpl,
                             const CallRegs& regs, VpState* registers) {
  const auto t0 = trace_ != nullptr ? std::chrono::steady_clock::now()
                                    : std::chrono::steady_clock::time_point{};
  CallContext ctx{hv_, partition, vp, vp.current_vtl(), registers};
  const CallDescriptor* call = nullptr;
  Outcome o;
  std::array<char, 512> text{};
  if (mode == ExecMode::kReal || mode == ExecMode::kVirtual8086 || cpl != 0) {
    o = {Action::kInjectUd, {}};
  } else if ((call = find_call(regs.control.code())) == nullptr) {
    o = complete(Status::kInvalidHypercallCode);
  } else {
    o = run(ctx, mode, *call, regs, trace_ != nullptr ? text.data() : nullptr, text.size());
  }
  if (trace_ != nullptr) {
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    trace_->on_call({&partition, vp.index(), ctx.vtl, regs.control, call, text.data(), o,
                     static_cast<std::uint64_t>(ns)});
  }
  return o;
}

Outcome Dispatcher::run(CallContext& ctx, ExecMode mode, const CallDescriptor& call,
                        const CallRegs& regs, char* text, std::size_t text_size) {
  const HypercallControl c = regs.control;
  // The control word: reserved bits, nested calls (hvk offers none), a variable header only for
  // the calls that take one, and the simple or rep shape.
  if (c.reserved_bits() != 0 || c.nested() || (c.var_header_qwords() != 0 && !call.var_header)) {
    return complete(Status::kInvalidHypercallInput);
  }
  const std::uint16_t count = c.rep_count();
  const std::uint16_t start = c.rep_start();
  if (call.rep ? (count == 0 || start >= count) : (count != 0 || start != 0)) {
    return complete(Status::kInvalidHypercallInput);
  }
  // The header: the fixed part, then the variable part; rep elements follow it.
  const std::size_t var_bytes = std::size_t{c.var_header_qwords()} * 8;
  const std::size_t header_len = call.input_size + var_bytes;
  const std::uint64_t in_len = header_len + std::uint64_t{call.rep ? count : 0u} * call.in_element;
  const std::uint64_t out_len =
      call.rep ? std::uint64_t{count} * call.out_element : call.output_size;
  const std::uint16_t done_before = call.rep ? start : 0;
  const std::size_t skip = std::size_t{start} * call.in_element;

  // Not zeroed: only the bytes read from the guest (or the fast registers) are ever looked at.
  alignas(16) std::array<std::byte, tlfs::kPageSize> in;
  alignas(16) std::array<std::byte, tlfs::kPageSize> out;
  // A fast call's register block: RDX, R8, then XMM0-XMM5 (EBX:ECX, EDI:ESI from 32-bit code).
  alignas(16) std::array<std::byte, kFastBlockBytes> block;
  // XMM fast calls: output starts at the first 16-byte chunk the input leaves free.
  const std::uint64_t out_at = (in_len + 15) / 16 * 16;
  const bool xmm = c.fast() && (in_len > kFastInputBytes || out_len != 0);
  GuestMemory* mem = ctx.partition.memory();
  if (c.fast()) {
    // XMM output is for 64-bit callers only; the input and the output must fit the block.
    if (xmm && ((out_len != 0 && mode != ExecMode::k64Bit) || in_len > kFastBlockBytes ||
                out_at + out_len > kFastBlockBytes || ctx.state == nullptr)) {
      return complete(Status::kInvalidHypercallInput);
    }
    tlfs::store(std::span(block), regs.input, 0);
    tlfs::store(std::span(block), regs.output, 8);
    if (xmm && !ctx.state->xmm(std::span(block).subspan<kFastInputBytes, VpState::kXmmBytes>())) {
      return complete(Status::kInvalidHypercallInput);
    }
    // The header, then the elements still to do.
    std::copy_n(block.begin(), header_len, in.begin());
    std::copy(block.begin() + static_cast<std::ptrdiff_t>(header_len + skip),
              block.begin() + static_cast<std::ptrdiff_t>(in_len),
              in.begin() + static_cast<std::ptrdiff_t>(header_len));
  } else {
    if (in_len != 0 && !gpa_ok(mem, regs.input, in_len)) {
      return complete(Status::kInvalidAlignment, done_before);
    }
    if (out_len != 0 && !gpa_ok(mem, regs.output, out_len)) {
      return complete(Status::kInvalidAlignment, done_before);
    }
    // Read all input before any output is written: input and output may overlap (notes §1).
    // Two reads, the header and the elements still to do; either may be empty.
    if (!mem->read(regs.input, std::span(in).first(header_len)) ||
        !mem->read(regs.input + header_len + skip,
                   std::span(in).subspan(header_len, in_len - header_len - skip))) {
      return complete(Status::kInvalidAlignment, done_before);
    }
  }

  std::uint16_t batch = 0;
  if (call.rep)
    batch = std::min<std::uint16_t>(static_cast<std::uint16_t>(count - start),
                                    std::max<std::uint16_t>(options_.max_reps_per_entry, 1));
  const std::size_t in_now = header_len + std::size_t{batch} * call.in_element;
  const std::size_t out_now = call.rep ? std::size_t{batch} * call.out_element : call.output_size;
  if (text != nullptr) {
    call.describe(std::span(in).first(in_now), var_bytes, text, text_size);
  }

  const RepResult r =
      call.invoke(ctx, std::span<const std::byte>(in).first(in_now), var_bytes,
                  std::span(out).first(out_now));
  if (ctx.suspend) return {Action::kSuspend, {}};
  // The output bytes to store, and where they go in the output (memory or register block).
  std::size_t out_bytes = 0;
  std::uint64_t out_offset = 0;
  if (call.rep) {
    out_bytes = std::size_t{r.completed} * call.out_element;
    out_offset = std::uint64_t{start} * call.out_element;
  } else if (r.status == Status::kSuccess) {
    out_bytes = call.output_size;
  }
  Outcome o;
  if (out_bytes != 0) {
    if (c.fast()) {
      std::copy_n(out.begin(), out_bytes,
                  block.begin() + static_cast<std::ptrdiff_t>(out_at + out_offset));
      if (!ctx.state->set_xmm(std::span<const std::byte>(block)
                                  .subspan<kFastInputBytes, VpState::kXmmBytes>())) {
        return complete(Status::kInvalidHypercallInput, done_before);
      }
      if (out_at < kFastInputBytes) {
        o.fast_output_in_gprs = true;
        o.fast_gprs = {tlfs::load<std::uint64_t>(std::span(block), 0),
                       tlfs::load<std::uint64_t>(std::span(block), 8)};
      }
    } else if (!mem->write(regs.output + out_offset, std::span(out).first(out_bytes))) {
      return complete(Status::kInvalidAlignment, done_before);
    }
  }
  if (call.rep) {
    const std::uint16_t done = static_cast<std::uint16_t>(start + r.completed);
    if (r.status == Status::kSuccess && done < count) {
      o.action = Action::kRetry;
      o.result = HypercallResult::make(Status::kSuccess, done);
      return o;
    }
    o.result = HypercallResult::make(r.status, done);
    return o;
  }
  o.result = HypercallResult::make(r.status);
  return o;
}

}  // namespace hvk::hv
