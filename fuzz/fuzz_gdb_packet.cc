// fuzz_gdb_packet: the GDB remote protocol layer on the bytes a debugger (or anyone who reaches
// the port) could send: PacketReader's framing, parse_command on every packet, and the register
// codec behind 'g', 'G', 'p' and 'P'.
//
//   - the reader gives the same events whether the input arrives in one feed or in two (split at
//     a point the input's last byte chooses);
//   - a packet's payload never passes the limit; kBadChecksum and kOversized carry no payload;
//   - frame(P) of every payload P, fed to a fresh reader, is exactly one kPacket with payload P;
//     hex_decode(hex_encode(P)) is P;
//   - parse_command's results keep their types' promises: a thread id names a thread only when
//     nonzero (and vp_vtl of it goes back through thread_number), a vCont has at least one
//     c/s/t action, a breakpoint's type is 0-4, a memory write is no longer than the packet;
//   - the session (gdb/session.h), on a fake machine, answers every packet with at most one
//     reply that fits gdb's packet size (monitor output and memory reads included), and after a
//     resume takes the stop the input's next byte makes up;
//   - 'G' data decodes exactly when it is register_file_bytes() long, and leaves the registers
//     alone otherwise; encoding what was decoded and decoding it again changes nothing; 'p' and
//     'P' accept exactly the table's numbers and sizes; qXfer answers only target.xml.
//
// Input: the byte stream from gdb. HVK_FUZZ_VERBOSE=1 prints each event and its command.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "fuzz_check.h"
#include "gdb/command.h"
#include "gdb/fake_target.h"
#include "gdb/packet.h"
#include "gdb/session.h"
#include "gdb/x86_registers.h"

namespace {

using namespace hvk::gdb;
using Kind = PacketEvent::Kind;

constexpr std::size_t kMaxPayload = 2048;  // above a full 'G' packet (2 x 688 + 1)

std::span<const std::uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

bool same(const std::vector<PacketEvent>& a, const std::vector<PacketEvent>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].kind != b[i].kind || a[i].payload != b[i].payload) return false;
  }
  return true;
}

void check_thread(const ThreadId& t) {
  if (t.kind != ThreadId::Kind::kOne) {
    HVK_FUZZ_CHECK(t.id == 0);
    return;
  }
  HVK_FUZZ_CHECK(t.id != 0);
  if (const auto pair = vp_vtl(t.id)) {
    HVK_FUZZ_CHECK(pair->vtl <= 15);
    HVK_FUZZ_CHECK(thread_number(pair->vp, pair->vtl) == t.id);
  }
}

void check_registers(const Command& c, X86Registers& regs) {
  const std::vector<std::uint8_t> before = encode_registers(regs);
  HVK_FUZZ_CHECK(before.size() == register_file_bytes());
  if (const auto* g = std::get_if<cmd::WriteRegisters>(&c)) {
    const bool ok = decode_registers(g->bytes, regs);
    HVK_FUZZ_CHECK(ok == (g->bytes.size() == register_file_bytes()));
    if (!ok) {
      HVK_FUZZ_CHECK(encode_registers(regs) == before);
      return;
    }
    // Narrow fields (selectors, limits) drop high bytes once; after that the codec is exact.
    const std::vector<std::uint8_t> once = encode_registers(regs);
    X86Registers again;
    HVK_FUZZ_CHECK(decode_registers(once, again));
    HVK_FUZZ_CHECK(encode_registers(again) == once);
  } else if (const auto* p = std::get_if<cmd::ReadRegister>(&c)) {
    const auto value = encode_register(regs, p->number);
    HVK_FUZZ_CHECK(value.has_value() == (p->number < registers().size()));
    if (value) HVK_FUZZ_CHECK(value->size() == registers()[p->number].bytes);
  } else if (const auto* w = std::get_if<cmd::WriteRegister>(&c)) {
    const bool fits =
        w->number < registers().size() && w->bytes.size() == registers()[w->number].bytes;
    HVK_FUZZ_CHECK(decode_register(w->number, w->bytes, regs) == fits);
    if (!fits) {
      HVK_FUZZ_CHECK(encode_registers(regs) == before);
      return;
    }
    // Only that register changed: its slice of the 'g' data, nothing else.
    const std::vector<std::uint8_t> after = encode_registers(regs);
    std::size_t at = 0;
    for (std::size_t n = 0; n < w->number; ++n) at += registers()[n].bytes;
    for (std::size_t i = 0; i < after.size(); ++i) {
      if (i < at || i >= at + w->bytes.size()) HVK_FUZZ_CHECK(after[i] == before[i]);
    }
  } else if (std::holds_alternative<cmd::ReadRegisters>(c)) {
    // The 'g' answer as the session frames it: one packet, within a reader's limit.
    const std::string hex = hex_encode(before);
    HVK_FUZZ_CHECK(hex.size() <= kMaxPayload);
  }
}

void check_command(const std::string& payload, X86Registers& regs) {
  const Command c = parse_command(payload);
  hvk::fuzz::log_line("  command alternative %zu\n", c.index());
  if (const auto* m = std::get_if<cmd::Malformed>(&c)) HVK_FUZZ_CHECK(!m->why.empty());
  if (const auto* h = std::get_if<cmd::SetThread>(&c)) {
    HVK_FUZZ_CHECK(h->op == 'g' || h->op == 'c');
    check_thread(h->thread);
  }
  if (const auto* t = std::get_if<cmd::ThreadAlive>(&c)) check_thread(t->thread);
  if (const auto* t = std::get_if<cmd::ThreadExtraInfo>(&c)) check_thread(t->thread);
  if (const auto* v = std::get_if<cmd::VCont>(&c)) {
    HVK_FUZZ_CHECK(!v->actions.empty());
    for (const cmd::VContAction& a : v->actions) {
      HVK_FUZZ_CHECK(a.action == 'c' || a.action == 's' || a.action == 't');
      if (a.thread) check_thread(*a.thread);
    }
  }
  if (const auto* b = std::get_if<cmd::Breakpoint>(&c))
    HVK_FUZZ_CHECK(b->type >= 0 && b->type <= 4);
  if (const auto* w = std::get_if<cmd::WriteMemory>(&c))
    HVK_FUZZ_CHECK(w->bytes.size() < payload.size());
  if (const auto* f = std::get_if<cmd::ReadFeatures>(&c)) {
    HVK_FUZZ_CHECK(target_description(f->annex).has_value() == (f->annex == "target.xml"));
  }
  if (const auto* m = std::get_if<cmd::Monitor>(&c))
    HVK_FUZZ_CHECK(m->command.size() < payload.size());
  check_registers(c, regs);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> input(data, size);
  const std::size_t split = size == 0 ? 0 : data[size - 1] % (size + 1);

  std::vector<PacketEvent> events;
  PacketReader reader(kMaxPayload);
  reader.feed(input.first(split), events);
  reader.feed(input.subspan(split), events);

  std::vector<PacketEvent> whole;
  PacketReader one_feed(kMaxPayload);
  one_feed.feed(input, whole);
  HVK_FUZZ_CHECK(same(events, whole));
  // Every event but a packet's takes at least one input byte; a packet at least four.
  HVK_FUZZ_CHECK(events.size() <= size);

  hvk::gdb::testing::FakeTarget target;
  for (std::uint32_t vp = 0; vp < 3; ++vp) {
    target.thread_list.push_back({thread_number(vp, 0), "VP", vp == 0});
    target.regs[thread_number(vp, 0)] = {};
  }
  std::vector<std::string> replies;
  Session session(target, [&](std::string_view p) { replies.emplace_back(p); });
  session.attach();

  X86Registers regs;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const PacketEvent& e = events[i];
    if (e.kind == Kind::kInterrupt) session.on_interrupt();
    hvk::fuzz::log_line("event %d, %zu payload bytes\n", static_cast<int>(e.kind),
                        e.payload.size());
    if (e.kind != Kind::kPacket) {
      HVK_FUZZ_CHECK(e.payload.empty());
      continue;
    }
    HVK_FUZZ_CHECK(e.payload.size() <= kMaxPayload);

    std::vector<PacketEvent> back;
    PacketReader fresh(kMaxPayload);
    fresh.feed(bytes_of(frame(e.payload)), back);
    HVK_FUZZ_CHECK(back.size() == 1);
    HVK_FUZZ_CHECK(back[0].kind == Kind::kPacket && back[0].payload == e.payload);
    const std::string hex = hex_encode(bytes_of(e.payload));
    HVK_FUZZ_CHECK(hex_decode(hex) ==
                   std::vector<std::uint8_t>(e.payload.begin(), e.payload.end()));

    check_command(e.payload, regs);

    replies.clear();
    const bool was_running = session.running();
    session.on_packet(e.payload);
    HVK_FUZZ_CHECK(replies.size() <= 1);
    if (was_running) HVK_FUZZ_CHECK(replies.empty());
    for (const std::string& r : replies) HVK_FUZZ_CHECK(r.size() <= kPacketSize);
    if (session.running()) {
      StopEvent stop;
      const std::uint8_t pick = e.payload.empty() ? 0 : static_cast<std::uint8_t>(e.payload.back());
      stop.kind = static_cast<StopEvent::Kind>(pick % 6);
      stop.thread = thread_number(pick % 3, 0);
      stop.slot = pick % 4;
      stop.exit_status = pick;
      replies.clear();
      session.on_event(stop);
      HVK_FUZZ_CHECK(replies.size() == 1 && !session.running());
    }
    if (session.done()) break;
  }
  return 0;
}
