#include "kvm/exit.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

namespace hvk::kvm {
namespace {

constexpr std::size_t kMaxData = 16;  // kvm_run's internal and system_event data arrays

exits::InternalError internal_error(kvm_run& run) {
  const auto& in = run.internal;
  exits::InternalError e{in.suberror, {in.data, std::min<std::size_t>(in.ndata, kMaxData)}, {}};
  const auto& emu = run.emulation_failure;
  // The flags word and the instruction bytes count toward ndata.
  if (in.suberror == KVM_INTERNAL_ERROR_EMULATION && in.ndata >= 3 &&
      (emu.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) != 0) {
    e.instruction = {emu.insn_bytes, std::min<std::size_t>(emu.insn_size, sizeof emu.insn_bytes)};
  }
  return e;
}

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%#" PRIx64, v);
  return buf;
}

std::string bytes(std::span<const std::uint8_t> data) {
  std::string s;
  char buf[4];
  for (auto b : data) {
    std::snprintf(buf, sizeof buf, "%02x", b);
    s += buf;
  }
  return s;
}

std::string words(std::span<const __u64> data) {
  std::string s;
  for (auto w : data) {
    s += ' ';
    s += hex(w);  // not `" " + hex(w)`: GCC 12 -O3 warns falsely about it (-Wrestrict)
  }
  return s;
}

template <class... F>
struct Overload : F... {
  using F::operator()...;
};
template <class... F>
Overload(F...) -> Overload<F...>;

}  // namespace

Exit decode_exit(kvm_run& run) {
  switch (run.exit_reason) {
    case KVM_EXIT_IO: {
      auto* base = reinterpret_cast<std::uint8_t*>(&run);
      return exits::Io{run.io.port,
                       static_cast<exits::Io::Direction>(run.io.direction),
                       run.io.size,
                       run.io.count,
                       {base + run.io.data_offset, std::size_t{run.io.size} * run.io.count}};
    }
    case KVM_EXIT_MMIO:
      return exits::Mmio{run.mmio.phys_addr,
                         {run.mmio.data, std::min<std::size_t>(run.mmio.len, sizeof run.mmio.data)},
                         run.mmio.is_write != 0};
    case KVM_EXIT_X86_RDMSR:
      return exits::MsrRead(run.msr);
    case KVM_EXIT_X86_WRMSR:
      return exits::MsrWrite(run.msr);
    case KVM_EXIT_HLT:
      return exits::Hlt{};
    case KVM_EXIT_DEBUG:
      return exits::Debug{run.debug.arch.exception, run.debug.arch.pc, run.debug.arch.dr6,
                          run.debug.arch.dr7};
    case KVM_EXIT_SHUTDOWN:
      return exits::Shutdown{};
    case KVM_EXIT_INTERNAL_ERROR:
      return internal_error(run);
    case KVM_EXIT_FAIL_ENTRY:
      return exits::FailEntry{run.fail_entry.hardware_entry_failure_reason, run.fail_entry.cpu};
    case KVM_EXIT_SYSTEM_EVENT:
      return exits::SystemEvent{
          run.system_event.type,
          {run.system_event.data, std::min<std::size_t>(run.system_event.ndata, kMaxData)}};
    case KVM_EXIT_INTR:
      return exits::Intr{};
    case KVM_EXIT_UNKNOWN:
      return exits::Unknown{run.exit_reason, run.hw.hardware_exit_reason};
    default:
      return exits::Unknown{run.exit_reason, 0};
  }
}

std::string describe(const Exit& exit) {
  return std::visit(
      Overload{
          [](const exits::Io& e) {
            return std::string("io ") + (e.is_out() ? "out" : "in") + " port " + hex(e.port) +
                   " size " + std::to_string(e.size) + " count " + std::to_string(e.count) +
                   (e.is_out() ? " data " + bytes(e.data) : "");
          },
          [](const exits::Mmio& e) {
            return std::string("mmio ") + (e.is_write ? "write " : "read ") + hex(e.addr) +
                   " len " + std::to_string(e.data.size()) +
                   (e.is_write ? " data " + bytes(e.data) : "");
          },
          [](const exits::MsrRead& e) {
            return "rdmsr " + hex(e.index) + " reason " + hex(e.reason);
          },
          [](const exits::MsrWrite& e) {
            return "wrmsr " + hex(e.index) + " data " + hex(e.data) + " reason " + hex(e.reason);
          },
          [](const exits::Hlt&) { return std::string("hlt"); },
          [](const exits::Shutdown&) { return std::string("shutdown (triple fault)"); },
          [](const exits::InternalError& e) {
            return "internal error suberror " + std::to_string(e.suberror) + " data" +
                   words(e.data) +
                   (e.instruction.empty() ? "" : " instruction " + bytes(e.instruction));
          },
          [](const exits::FailEntry& e) {
            return "entry failed reason " + hex(e.reason) + " cpu " + std::to_string(e.cpu);
          },
          [](const exits::SystemEvent& e) {
            return "system event " + std::to_string(e.type) + " data" + words(e.data);
          },
          [](const exits::Intr&) { return std::string("interrupted"); },
          [](const exits::Again&) { return std::string("again (INIT/SIPI state change)"); },
          [](const exits::Debug& e) {
            return "debug exception " + std::to_string(e.exception) + " at " + hex(e.pc);
          },
          [](const exits::MemoryFault& e) {
            return e.gpa_known ? "memory fault gpa " + hex(e.gpa) + " size " + hex(e.size)
                               : std::string("memory fault (EFAULT)");
          },
          [](const exits::Unknown& e) {
            return "exit reason " + std::to_string(e.exit_reason) + " hardware reason " +
                   hex(e.hardware_exit_reason);
          },
      },
      exit);
}

}  // namespace hvk::kvm
