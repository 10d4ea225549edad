// The GDB remote protocol's requests hvk serves, decoded from a packet's payload into one typed
// shape each (the session never looks at packet text). Anything malformed decodes to Malformed
// (the session answers "E01"); anything hvk does not serve to Unsupported (answered with the empty
// packet, as the protocol asks). Pure; fuzzed together with the framing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hvk::gdb {

// A gdb thread id as sent in 'H', 'T', vCont and qThreadExtraInfo: a positive number, 0 ("any
// thread") or -1 ("all threads"). hvk does not offer multiprocess ids ("p1.2"): those are
// Malformed.
struct ThreadId {
  enum class Kind { kOne, kAny, kAll };
  Kind kind = Kind::kAny;
  std::uint64_t id = 0;  // kOne only; never 0
  friend bool operator==(const ThreadId&, const ThreadId&) = default;
};

namespace cmd {
struct Malformed {
  std::string why;  // for hvk's trace only
};
struct Unsupported {};
struct Supported {                    // qSupported[:feature;...]
  std::vector<std::string> features;  // as sent ("swbreak+", "xmlRegisters=i386", ...)
};
struct StartNoAckMode {};  // QStartNoAckMode
struct HaltReason {};      // ?
struct ReadRegisters {};   // g
struct WriteRegisters {    // G hex...
  std::vector<std::uint8_t> bytes;
};
struct ReadRegister {  // p n
  std::uint64_t number = 0;
};
struct WriteRegister {  // P n=hex
  std::uint64_t number = 0;
  std::vector<std::uint8_t> bytes;
};
struct ReadMemory {  // m addr,length
  std::uint64_t address = 0;
  std::uint64_t length = 0;  // as asked; the session clamps it
};
struct WriteMemory {  // M addr,length:hex and X addr,length:binary
  std::uint64_t address = 0;
  std::vector<std::uint8_t> bytes;  // exactly `length` bytes, else Malformed
};
struct SetThread {  // Hg tid / Hc tid
  char op = 'g';    // 'g' (registers, memory) or 'c' (old-style step/continue)
  ThreadId thread;
};
struct ThreadAlive {  // T tid
  ThreadId thread;
};
struct Continue {  // c [addr]
  std::optional<std::uint64_t> address;
};
struct Step {  // s [addr]
  std::optional<std::uint64_t> address;
};
struct VContQuery {};  // vCont?
struct VContAction {
  char action = 'c';  // 'c' continue, 's' step, 't' stop ('C'/'S' with a signal map to 'c'/'s')
  std::optional<ThreadId> thread;  // none: every thread without an action of its own
};
struct VCont {                       // vCont;action[:tid]...
  std::vector<VContAction> actions;  // at least one
};
struct Breakpoint {  // Z type,addr,kind / z type,addr,kind
  bool insert = true;
  int type = 0;  // 0 software, 1 hardware, 2 write watch, 3 read watch, 4 access watch
  std::uint64_t address = 0;
  std::uint64_t kind = 0;  // length for watchpoints; ignored for breakpoints
};
struct ThreadList {  // qfThreadInfo (first = true) / qsThreadInfo
  bool first = true;
};
struct ThreadExtraInfo {  // qThreadExtraInfo,tid
  ThreadId thread;
};
struct CurrentThread {};  // qC
struct Attached {};       // qAttached[:pid]
struct ReadFeatures {     // qXfer:features:read:annex:offset,length
  std::string annex;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};
struct Monitor {  // qRcmd,hex-encoded command
  std::string command;
};
struct Detach {};          // D[;pid]
struct Kill {};            // k and vKill[;pid]
struct MustReplyEmpty {};  // vMustReplyEmpty
}  // namespace cmd

using Command = std::variant<
    cmd::Malformed, cmd::Unsupported, cmd::Supported, cmd::StartNoAckMode, cmd::HaltReason,
    cmd::ReadRegisters, cmd::WriteRegisters, cmd::ReadRegister, cmd::WriteRegister, cmd::ReadMemory,
    cmd::WriteMemory, cmd::SetThread, cmd::ThreadAlive, cmd::Continue, cmd::Step, cmd::VContQuery,
    cmd::VCont, cmd::Breakpoint, cmd::ThreadList, cmd::ThreadExtraInfo, cmd::CurrentThread,
    cmd::Attached, cmd::ReadFeatures, cmd::Monitor, cmd::Detach, cmd::Kill, cmd::MustReplyEmpty>;

Command parse_command(std::string_view payload);

// hvk's gdb threads: one per (VP, VTL) pair, numbered VP * 16 + VTL + 1 (so never 0).
inline constexpr std::uint64_t thread_number(std::uint32_t vp, std::uint32_t vtl) {
  return std::uint64_t{vp} * 16 + vtl + 1;
}
struct VpVtl {
  std::uint32_t vp = 0;
  std::uint32_t vtl = 0;
  friend bool operator==(const VpVtl&, const VpVtl&) = default;
};
// The pair a thread number names; nullopt for 0, a VTL above 15, or a VP index past 32 bits.
std::optional<VpVtl> vp_vtl(std::uint64_t thread);

// Stop replies (gdb's "Stop Reply Packets").
struct StopReply {
  enum class Kind { kSignal, kExited };
  Kind kind = Kind::kSignal;
  int signal = 5;            // SIGTRAP 5, SIGINT 2 (kSignal)
  std::uint64_t thread = 0;  // kSignal: the thread that stopped (0: none named)
  bool swbreak = false;      // a software breakpoint hvk inserted (RIP is its address)
  bool hwbreak = false;      // a hardware breakpoint
  // A watchpoint: 'w' write, 'r' read, 'a' access, with the address watched.
  std::optional<std::pair<char, std::uint64_t>> watch;
  int exit_status = 0;  // kExited
};
// "T05thread:11;swbreak:;", "T05thread:1;watch:1000;", "T02thread:1;", "W00".
std::string format_stop_reply(const StopReply& reply);

}  // namespace hvk::gdb
