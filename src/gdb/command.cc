// Requests decoded from packet text into typed commands, and stop replies formatted back. Every
// parser here takes untrusted text: it checks each field and never throws.
#include "gdb/command.h"

#include <fmt/format.h>

#include <utility>

#include "gdb/packet.h"

namespace hvk::gdb {
namespace {

using std::string_view;

Command malformed(string_view why) {
  return cmd::Malformed{std::string(why)};
}

// `text` cut at the first `sep`: nullopt when there is none.
std::optional<std::pair<string_view, string_view>> split(string_view text, char sep) {
  const std::size_t at = text.find(sep);
  if (at == string_view::npos) return std::nullopt;
  return std::pair{text.substr(0, at), text.substr(at + 1)};
}

// "-1" all, "0" any, else a positive hex number. Multiprocess ids ("p1.2") fail as non-hex.
std::optional<ThreadId> parse_thread(string_view text) {
  if (text == "-1") return ThreadId{ThreadId::Kind::kAll, 0};
  const auto v = parse_hex(text);
  if (!v) return std::nullopt;
  if (*v == 0) return ThreadId{ThreadId::Kind::kAny, 0};
  return ThreadId{ThreadId::Kind::kOne, *v};
}

// "addr,length".
std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_range(string_view text) {
  const auto parts = split(text, ',');
  if (!parts) return std::nullopt;
  const auto address = parse_hex(parts->first);
  const auto length = parse_hex(parts->second);
  if (!address || !length) return std::nullopt;
  return std::pair{*address, *length};
}

// 'c' and 's': nothing, or the address to resume at.
template <class T>
Command resume(string_view rest, string_view what) {
  if (rest.empty()) return T{};
  const auto address = parse_hex(rest);
  if (!address) return malformed(fmt::format("{}: bad address", what));
  return T{*address};
}

// "M addr,length:hex" (hex data) and "X addr,length:binary" (raw bytes, already unescaped).
Command write_memory(string_view rest, bool binary) {
  const auto parts = split(rest, ':');
  const auto range = parts ? parse_range(parts->first) : std::nullopt;
  if (!range) return malformed("memory write: bad address or length");
  std::vector<std::uint8_t> bytes;
  if (binary) {
    bytes.assign(parts->second.begin(), parts->second.end());
  } else {
    auto decoded = hex_decode(parts->second);
    if (!decoded) return malformed("memory write: bad hex data");
    bytes = std::move(*decoded);
  }
  if (bytes.size() != range->second) return malformed("memory write: length does not match");
  return cmd::WriteMemory{range->first, std::move(bytes)};
}

// "Ztype,addr,kind[;cond...]" and the same with 'z'.
Command breakpoint(string_view rest, bool insert) {
  const auto type_rest = split(rest, ',');
  if (!type_rest) return malformed("breakpoint: no address");
  const auto type = parse_hex(type_rest->first);
  if (!type) return malformed("breakpoint: bad type");
  // Conditions and commands after the kind are gdb's business, not the stub's.
  string_view spec = type_rest->second;
  spec = spec.substr(0, spec.find(';'));
  const auto range = parse_range(spec);
  if (!range) return malformed("breakpoint: bad address or kind");
  if (*type > 4) return cmd::Unsupported{};  // a type the protocol may add later
  return cmd::Breakpoint{insert, static_cast<int>(*type), range->first, range->second};
}

// "vCont;action[:tid];...": 'c', 's', 't', and 'C'/'S' with a signal hvk drops.
Command vcont(string_view rest) {
  if (rest.empty() || rest.front() != ';') return malformed("vCont: no actions");
  rest.remove_prefix(1);
  cmd::VCont out;
  for (;;) {
    const std::size_t end = rest.find(';');
    string_view item = rest.substr(0, end);
    if (item.empty()) return malformed("vCont: empty action");
    cmd::VContAction action;
    const char letter = item.front();
    item.remove_prefix(1);
    if (letter == 'C' || letter == 'S') {
      if (item.size() < 2 || !parse_hex(item.substr(0, 2))) return malformed("vCont: bad signal");
      item.remove_prefix(2);
      action.action = letter == 'C' ? 'c' : 's';
    } else if (letter == 'c' || letter == 's' || letter == 't') {
      action.action = letter;
    } else {
      return malformed("vCont: unknown action");
    }
    if (!item.empty()) {
      if (item.front() != ':') return malformed("vCont: junk after the action");
      action.thread = parse_thread(item.substr(1));
      if (!action.thread) return malformed("vCont: bad thread id");
    }
    out.actions.push_back(action);
    if (end == string_view::npos) break;
    rest.remove_prefix(end + 1);
  }
  return out;
}

// An optional ";pid" after 'D' and vKill: hvk has one process, so the pid is only checked.
template <class T>
Command with_pid(string_view rest, char sep, string_view what) {
  if (rest.empty()) return T{};
  if (rest.front() != sep || !parse_hex(rest.substr(1))) {
    return malformed(fmt::format("{}: bad process id", what));
  }
  return T{};
}

// "qXfer:object:read:annex:offset,length": only the target description is served.
Command xfer(string_view rest) {
  constexpr string_view kFeatures = "features:read:";
  if (!rest.starts_with(kFeatures)) return cmd::Unsupported{};
  const auto annex_range = split(rest.substr(kFeatures.size()), ':');
  const auto range = annex_range ? parse_range(annex_range->second) : std::nullopt;
  if (!range) return malformed("qXfer: bad annex, offset or length");
  return cmd::ReadFeatures{std::string(annex_range->first), range->first, range->second};
}

// Named packets: the name runs to the first ':', ',' or ';' (or to '?', "vCont?").
Command named(string_view p) {
  const std::size_t cut = p.find_first_of(":,;?");
  const string_view name = p.substr(0, cut);
  const string_view rest = cut == string_view::npos ? string_view{} : p.substr(cut);
  const char sep = rest.empty() ? '\0' : rest.front();
  const string_view args = rest.empty() ? rest : rest.substr(1);

  if (name == "qSupported") {
    if (!rest.empty() && sep != ':') return malformed("qSupported: bad separator");
    cmd::Supported out;
    for (string_view list = args; !list.empty();) {
      const std::size_t end = list.find(';');
      if (end != 0) out.features.emplace_back(list.substr(0, end));
      if (end == string_view::npos) break;
      list.remove_prefix(end + 1);
    }
    return out;
  }
  if (name == "qAttached") {
    return with_pid<cmd::Attached>(rest, ':', "qAttached");
  }
  if (name == "qC") return rest.empty() ? Command{cmd::CurrentThread{}} : malformed("qC: junk");
  if (name == "qfThreadInfo" || name == "qsThreadInfo") {
    if (!rest.empty()) return malformed("thread list: junk");
    return cmd::ThreadList{name[1] == 'f'};
  }
  if (name == "qThreadExtraInfo") {
    const auto thread = sep == ',' ? parse_thread(args) : std::nullopt;
    if (!thread) return malformed("qThreadExtraInfo: bad thread id");
    return cmd::ThreadExtraInfo{*thread};
  }
  if (name == "qXfer") return sep == ':' ? xfer(args) : malformed("qXfer: bad separator");
  if (name == "qRcmd") {
    const auto text = sep == ',' ? hex_decode(args) : std::nullopt;
    if (!text) return malformed("qRcmd: bad hex command");
    return cmd::Monitor{std::string(text->begin(), text->end())};
  }
  if (name == "QStartNoAckMode") {
    return rest.empty() ? Command{cmd::StartNoAckMode{}} : malformed("QStartNoAckMode: junk");
  }
  if (name == "vCont") {
    if (rest == "?") return cmd::VContQuery{};
    return vcont(rest);
  }
  if (name == "vKill") return with_pid<cmd::Kill>(rest, ';', "vKill");
  if (name == "vMustReplyEmpty") {
    return rest.empty() ? Command{cmd::MustReplyEmpty{}} : malformed("vMustReplyEmpty: junk");
  }
  return cmd::Unsupported{};
}

}  // namespace

Command parse_command(string_view p) {
  if (p.empty()) return cmd::Unsupported{};
  const char letter = p.front();
  const string_view rest = p.substr(1);
  switch (letter) {
    case '?':
      return rest.empty() ? Command{cmd::HaltReason{}} : malformed("?: junk");
    case 'g':
      return rest.empty() ? Command{cmd::ReadRegisters{}} : malformed("g: junk");
    case 'G': {
      auto bytes = hex_decode(rest);
      if (!bytes || bytes->empty()) return malformed("G: bad hex data");
      return cmd::WriteRegisters{std::move(*bytes)};
    }
    case 'p': {
      const auto number = parse_hex(rest);
      if (!number) return malformed("p: bad register number");
      return cmd::ReadRegister{*number};
    }
    case 'P': {
      const auto parts = split(rest, '=');
      const auto number = parts ? parse_hex(parts->first) : std::nullopt;
      auto bytes = parts ? hex_decode(parts->second) : std::nullopt;
      if (!number || !bytes || bytes->empty()) return malformed("P: bad register or value");
      return cmd::WriteRegister{*number, std::move(*bytes)};
    }
    case 'm': {
      const auto range = parse_range(rest);
      if (!range) return malformed("m: bad address or length");
      return cmd::ReadMemory{range->first, range->second};
    }
    case 'M':
      return write_memory(rest, false);
    case 'X':
      return write_memory(rest, true);
    case 'H': {
      if (rest.empty() || (rest.front() != 'g' && rest.front() != 'c')) {
        return malformed("H: bad operation");
      }
      const auto thread = parse_thread(rest.substr(1));
      if (!thread) return malformed("H: bad thread id");
      return cmd::SetThread{rest.front(), *thread};
    }
    case 'T': {
      const auto thread = parse_thread(rest);
      if (!thread) return malformed("T: bad thread id");
      return cmd::ThreadAlive{*thread};
    }
    case 'c':
      return resume<cmd::Continue>(rest, "c");
    case 's':
      return resume<cmd::Step>(rest, "s");
    case 'Z':
    case 'z':
      return breakpoint(rest, letter == 'Z');
    case 'D':
      return with_pid<cmd::Detach>(rest, ';', "D");
    case 'k':
      return cmd::Kill{};  // gdb sends nothing after it; nothing to check
    case 'q':
    case 'Q':
    case 'v':
      return named(p);
    default:
      return cmd::Unsupported{};
  }
}

std::optional<VpVtl> vp_vtl(std::uint64_t thread) {
  if (thread == 0) return std::nullopt;
  const std::uint64_t vp = (thread - 1) / 16;
  if (vp > UINT32_MAX) return std::nullopt;
  // The VTL is the remainder, so never above 15.
  return VpVtl{static_cast<std::uint32_t>(vp), static_cast<std::uint32_t>((thread - 1) % 16)};
}

std::string format_stop_reply(const StopReply& reply) {
  if (reply.kind == StopReply::Kind::kExited) {
    return fmt::format("W{:02x}", static_cast<unsigned>(reply.exit_status) & 0xffU);
  }
  std::string out = fmt::format("T{:02x}", static_cast<unsigned>(reply.signal) & 0xffU);
  if (reply.thread != 0) out += fmt::format("thread:{:x};", reply.thread);
  if (reply.swbreak) out += "swbreak:;";
  if (reply.hwbreak) out += "hwbreak:;";
  if (reply.watch) {
    const auto [kind, address] = *reply.watch;
    const char* name = kind == 'r' ? "rwatch" : kind == 'a' ? "awatch" : "watch";
    out += fmt::format("{}:{:x};", name, address);
  }
  return out;
}

}  // namespace hvk::gdb
