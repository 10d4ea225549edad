#include "gdb/session.h"

#include <fmt/format.h>

#include <algorithm>
#include <variant>

#include "gdb/packet.h"

namespace hvk::gdb {

namespace {

constexpr std::string_view kError = "E01";
constexpr std::string_view kFault = "E14";  // EFAULT: memory that cannot be read or written
// The most memory bytes one 'm' answer carries: two hex digits each, inside the packet size.
constexpr std::uint64_t kMaxRead = (kPacketSize - 16) / 2;

template <class... F>
struct Overload : F... {
  using F::operator()...;
};
template <class... F>
Overload(F...) -> Overload<F...>;

std::string fmt_hex(std::uint64_t v) {
  return fmt::format("{:x}", v);
}

// What hvk serves beyond the basics (qSupported's answer).
std::string fmt_supported() {
  return fmt::format(
      "PacketSize={:x};qXfer:features:read+;swbreak+;hwbreak+;vContSupported+;QStartNoAckMode+",
      kPacketSize);
}

std::string hex_text(std::string_view text) {
  return hex_encode({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

}  // namespace

void Session::attach() {
  if (!target_.stop()) {
    last_stop_ = StopEvent{StopEvent::Kind::kExited, 0, 0, 0};
    return;
  }
  StopEvent ev;
  ev.kind = StopEvent::Kind::kStep;  // reported as a plain SIGTRAP, as gdb expects on attach
  ev.thread = current_thread();
  last_stop_ = ev;
}

void Session::on_packet(std::string_view payload) {
  if (running_) return;  // all-stop: gdb sends nothing but 0x03 until the stop reply
  handle(parse_command(payload));
}

void Session::on_interrupt() {
  if (running_) target_.interrupt();
}

void Session::on_event(const StopEvent& ev) {
  if (!running_) return;
  running_ = false;
  if (ev.kind != StopEvent::Kind::kExited) target_.stop();  // every VP, before gdb looks
  last_stop_ = ev;
  if (ev.thread != 0) g_thread_ = ev.thread;
  reply(stop_reply(ev));
  if (ev.kind == StopEvent::Kind::kExited) done_ = true;
}

void Session::on_disconnect() {
  if (!done_) target_.detach();
  done_ = true;
}

std::uint64_t Session::current_thread() {
  if (g_thread_ != 0 && thread_exists(g_thread_)) return g_thread_;
  if (last_stop_ && last_stop_->thread != 0 && thread_exists(last_stop_->thread)) {
    return last_stop_->thread;
  }
  // The first VP's running VTL, as a freshly attached gdb expects to be shown.
  const auto threads = target_.threads();
  auto active =
      std::find_if(threads.begin(), threads.end(), [](const ThreadInfo& t) { return t.active; });
  if (active != threads.end()) return active->number;
  return threads.empty() ? 0 : threads.front().number;
}

bool Session::thread_exists(std::uint64_t thread) {
  const auto threads = target_.threads();
  return std::any_of(threads.begin(), threads.end(),
                     [&](const ThreadInfo& t) { return t.number == thread; });
}

std::string Session::stop_reply(const StopEvent& ev) {
  StopReply r;
  r.thread = ev.thread;
  switch (ev.kind) {
    case StopEvent::Kind::kExited:
      r.kind = StopReply::Kind::kExited;
      r.exit_status = ev.exit_status;
      break;
    case StopEvent::Kind::kInterrupt:
      r.signal = 2;
      break;
    case StopEvent::Kind::kSoftwareBreak:
      r.swbreak = true;
      break;
    case StopEvent::Kind::kHardwareBreak:
      for (const Watch& w : watches_) {
        if (std::find(w.slots.begin(), w.slots.end(), ev.slot) == w.slots.end()) continue;
        if (w.type == 1) {
          r.hwbreak = true;
        } else {
          r.watch = std::pair{w.type == 2 ? 'w' : w.type == 3 ? 'r' : 'a', w.address};
        }
      }
      break;
    case StopEvent::Kind::kStep:
    case StopEvent::Kind::kVtlSwitch:
      break;
  }
  return format_stop_reply(r);
}

void Session::resume(std::optional<std::uint64_t> step) {
  running_ = true;
  target_.resume(step);
}

void Session::handle(const Command& c) {
  std::visit(
      Overload{
          [&](const cmd::Malformed&) { reply(kError); },
          [&](const cmd::Unsupported&) { reply(""); },
          [&](const cmd::MustReplyEmpty&) { reply(""); },
          [&](const cmd::Supported&) { reply(fmt_supported()); },
          [&](const cmd::StartNoAckMode&) {
            reply("OK");
            acks_ = false;
          },
          [&](const cmd::HaltReason&) {
            if (!last_stop_) attach();
            reply(stop_reply(*last_stop_));
          },
          [&](const cmd::ReadRegisters&) {
            X86Registers regs;
            if (!target_.read_registers(current_thread(), regs)) return reply(kError);
            reply(hex_encode(encode_registers(regs)));
          },
          [&](const cmd::WriteRegisters& w) {
            X86Registers regs;
            const std::uint64_t t = current_thread();
            if (!target_.read_registers(t, regs) || !decode_registers(w.bytes, regs) ||
                !target_.write_registers(t, regs)) {
              return reply(kError);
            }
            reply("OK");
          },
          [&](const cmd::ReadRegister& r) {
            X86Registers regs;
            if (!target_.read_registers(current_thread(), regs)) return reply(kError);
            const auto bytes = encode_register(regs, r.number);
            if (!bytes) return reply(kError);
            reply(hex_encode(*bytes));
          },
          [&](const cmd::WriteRegister& w) {
            X86Registers regs;
            const std::uint64_t t = current_thread();
            if (!target_.read_registers(t, regs) || !decode_register(w.number, w.bytes, regs) ||
                !target_.write_registers(t, regs)) {
              return reply(kError);
            }
            reply("OK");
          },
          [&](const cmd::ReadMemory& m) {
            std::vector<std::uint8_t> bytes(std::min(m.length, kMaxRead));
            const std::size_t got = target_.read_memory(current_thread(), m.address, bytes);
            if (got == 0 && !bytes.empty()) return reply(kFault);
            bytes.resize(got);
            reply(hex_encode(bytes));
          },
          [&](const cmd::WriteMemory& m) {
            if (m.bytes.empty()) return reply("OK");
            const std::size_t done = target_.write_memory(current_thread(), m.address, m.bytes);
            reply(done == m.bytes.size() ? "OK" : kFault);
          },
          [&](const cmd::SetThread& s) {
            std::uint64_t t = 0;
            if (s.thread.kind == ThreadId::Kind::kOne) {
              if (!thread_exists(s.thread.id)) return reply(kError);
              t = s.thread.id;
            }
            (s.op == 'g' ? g_thread_ : c_thread_) = t;
            reply("OK");
          },
          [&](const cmd::ThreadAlive& a) {
            const bool alive = a.thread.kind == ThreadId::Kind::kOne && thread_exists(a.thread.id);
            reply(alive ? "OK" : kError);
          },
          [&](const cmd::Continue& k) {
            if (k.address) return reply(kError);  // resuming elsewhere: set $pc instead
            resume(std::nullopt);
          },
          [&](const cmd::Step& s) {
            if (s.address) return reply(kError);
            resume(c_thread_ != 0 && thread_exists(c_thread_) ? c_thread_ : current_thread());
          },
          [&](const cmd::VContQuery&) { reply("vCont;c;C;s;S;t"); },
          [&](const cmd::VCont& v) {
            // All-stop: a step runs the stepping VP alone (docs/debugging.md); any continue
            // action resumes every VP; stop actions alone ask for nothing.
            for (const cmd::VContAction& a : v.actions) {
              if (a.action != 's') continue;
              std::uint64_t t = current_thread();
              if (a.thread && a.thread->kind == ThreadId::Kind::kOne) t = a.thread->id;
              if (!thread_exists(t)) return reply(kError);
              return resume(t);
            }
            for (const cmd::VContAction& a : v.actions) {
              if (a.action == 'c') return resume(std::nullopt);
            }
            reply("OK");
          },
          [&](const cmd::Breakpoint& b) { reply(breakpoint(b)); },
          [&](const cmd::ThreadList& l) {
            if (l.first) {
              thread_list_.clear();
              for (const ThreadInfo& t : target_.threads()) thread_list_.push_back(t.number);
              thread_list_next_ = 0;
            }
            if (thread_list_next_ >= thread_list_.size()) return reply("l");
            // Parts of at most 64 threads, so a 4,096-VP machine still fits the packet size.
            std::string out = "m";
            const std::size_t end = std::min(thread_list_.size(), thread_list_next_ + 64);
            for (std::size_t i = thread_list_next_; i < end; ++i) {
              if (i != thread_list_next_) out += ',';
              out += fmt_hex(thread_list_[i]);
            }
            thread_list_next_ = end;
            reply(out);
          },
          [&](const cmd::ThreadExtraInfo& e) {
            if (e.thread.kind != ThreadId::Kind::kOne) return reply(kError);
            for (const ThreadInfo& t : target_.threads()) {
              if (t.number == e.thread.id) return reply(hex_text(t.description));
            }
            reply(kError);
          },
          [&](const cmd::CurrentThread&) { reply("QC" + fmt_hex(current_thread())); },
          [&](const cmd::Attached&) { reply("1"); },  // gdb's quit detaches, never kills
          [&](const cmd::ReadFeatures& f) {
            const auto text = target_description(f.annex);
            if (!text) return reply("E00");
            if (f.offset >= text->size()) return reply("l");
            const std::string_view part = text->substr(f.offset, f.length);
            const bool last = f.offset + part.size() >= text->size();
            reply(std::string(last ? "l" : "m") + std::string(part));
          },
          [&](const cmd::Monitor& m) { reply(monitor(m.command)); },
          [&](const cmd::Detach&) {
            reply("OK");
            target_.detach();
            done_ = true;
          },
          [&](const cmd::Kill&) {
            reply("OK");
            target_.kill();
            done_ = true;
          },
      },
      c);
}

std::string Session::breakpoint(const cmd::Breakpoint& b) {
  if (b.type == 0) {
    const bool ok = b.insert ? target_.insert_breakpoint(current_thread(), b.address)
                             : target_.remove_breakpoint(current_thread(), b.address);
    return ok ? "OK" : std::string(kError);
  }
  if (b.type < 1 || b.type > 4) return "";
  const std::uint64_t length = b.type == 1 ? 1 : b.kind;
  auto same = [&](const Watch& w) {
    return w.type == b.type && w.address == b.address && w.length == length;
  };
  if (!b.insert) {
    auto it = std::find_if(watches_.begin(), watches_.end(), same);
    if (it == watches_.end()) return std::string(kError);
    for (int s : it->slots) hw_[static_cast<std::size_t>(s)].reset();
    watches_.erase(it);
    (void)target_.set_hw_breakpoints(current_thread(), hw_);
    return "OK";
  }
  if (std::any_of(watches_.begin(), watches_.end(), same)) return "OK";
  if (length == 0 || length > 32 || b.address + length < b.address) return std::string(kError);
  // Aligned pieces of 8, 4, 2 or 1 bytes cover the range, one debug register each.
  Watch w{b.type, b.address, length, {}};
  HwBreakpoints next = hw_;
  std::uint64_t at = b.address;
  const std::uint64_t end = b.address + length;
  while (at < end) {
    std::uint8_t size = 8;
    while (size > 1 && (at % size != 0 || at + size > end)) size /= 2;
    auto free = std::find_if(next.begin(), next.end(), [](const auto& s) { return !s; });
    if (free == next.end()) return std::string(kError);  // gdb says it cannot insert it
    HwBreakpoint hb;
    hb.kind = b.type == 1   ? HwBreakpoint::Kind::kExecute
              : b.type == 2 ? HwBreakpoint::Kind::kWrite
                            : HwBreakpoint::Kind::kAccess;
    hb.address = at;
    hb.length = b.type == 1 ? 1 : size;
    *free = hb;
    w.slots.push_back(static_cast<int>(free - next.begin()));
    at += b.type == 1 ? length : size;
  }
  if (!target_.set_hw_breakpoints(current_thread(), next)) {
    (void)target_.set_hw_breakpoints(current_thread(), hw_);
    return std::string(kError);
  }
  hw_ = next;
  watches_.push_back(std::move(w));
  return "OK";
}

std::string Session::monitor(std::string_view command) {
  std::string out;
  if (command == "vtl-switch stop") {
    target_.set_stop_on_vtl_switch(true);
    out = "A VP that switches VTL now stops (in the thread of the VTL it entered).\n";
  } else if (command == "vtl-switch run") {
    target_.set_stop_on_vtl_switch(false);
    out = "VTL switches no longer stop.\n";
  } else if (command == "threads") {
    for (const ThreadInfo& t : target_.threads()) {
      out += fmt::format("Thread {}: {}\n", t.number, t.description);  // decimal, as gdb shows it
    }
  } else if (command == "help" || command.empty()) {
    out =
        "hvk monitor commands:\n"
        "  monitor vtl-switch stop   stop every VP when one switches VTL\n"
        "  monitor vtl-switch run    do not (the default)\n"
        "  monitor threads           each gdb thread's VP, VTL and state\n";
  } else {
    out = "hvk: unknown monitor command (monitor help lists them)\n";
  }
  return hex_text(out);  // qRcmd's answer: the output, hex encoded
}

}  // namespace hvk::gdb
