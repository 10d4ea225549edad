// Requests decoded from packet payloads, thread numbers, and stop replies.
#include "gdb/command.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace hvk::gdb {
namespace {

// The command `payload` decodes to, which must be a T.
template <class T>
T as(std::string_view payload) {
  const Command c = parse_command(payload);
  const T* t = std::get_if<T>(&c);
  if (t == nullptr) {
    ADD_FAILURE() << "'" << payload << "' decoded to alternative " << c.index();
    return T{};
  }
  return *t;
}

bool malformed(std::string_view payload) {
  return std::holds_alternative<cmd::Malformed>(parse_command(payload));
}
bool unsupported(std::string_view payload) {
  return std::holds_alternative<cmd::Unsupported>(parse_command(payload));
}

constexpr ThreadId kAll{ThreadId::Kind::kAll, 0};
constexpr ThreadId kAny{ThreadId::Kind::kAny, 0};
constexpr ThreadId one(std::uint64_t id) {
  return {ThreadId::Kind::kOne, id};
}

TEST(Command, UnsupportedPackets) {
  for (const char* p : {"", "qTStatus", "vFile:open:2f,0,0", "qOffsets", "qSymbol::", "qCRC:0,4",
                        "qXfer:threads:read::0,fff", "qXfer:features:write:x:0,1", "QNonStop:1",
                        "vRun;", "vAttach;1", "i", "R00", "!", "qSupportedX", "Z5,1000,1"}) {
    EXPECT_TRUE(unsupported(p)) << p;
  }
}

TEST(Command, Supported) {
  EXPECT_TRUE(as<cmd::Supported>("qSupported").features.empty());
  const auto s = as<cmd::Supported>("qSupported:multiprocess+;swbreak+;xmlRegisters=i386");
  EXPECT_EQ(s.features,
            (std::vector<std::string>{"multiprocess+", "swbreak+", "xmlRegisters=i386"}));
  EXPECT_EQ(as<cmd::Supported>("qSupported:a;;b;").features, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(malformed("qSupported,a"));
}

TEST(Command, SimpleRequests) {
  as<cmd::StartNoAckMode>("QStartNoAckMode");
  as<cmd::HaltReason>("?");
  as<cmd::ReadRegisters>("g");
  as<cmd::CurrentThread>("qC");
  as<cmd::Attached>("qAttached");
  as<cmd::Attached>("qAttached:1");
  as<cmd::Detach>("D");
  as<cmd::Detach>("D;1");
  as<cmd::Kill>("k");
  as<cmd::Kill>("vKill;1");
  as<cmd::MustReplyEmpty>("vMustReplyEmpty");
  EXPECT_TRUE(as<cmd::ThreadList>("qfThreadInfo").first);
  EXPECT_FALSE(as<cmd::ThreadList>("qsThreadInfo").first);
  for (const char* p : {"QStartNoAckMode:1", "?x", "gx", "qC:1", "qAttached:x", "qAttached:", "D;",
                        "D;p1", "Dx", "vKill;", "vKill;z", "vMustReplyEmpty;", "qfThreadInfo,1"}) {
    EXPECT_TRUE(malformed(p)) << p;
  }
}

TEST(Command, Registers) {
  EXPECT_EQ(as<cmd::WriteRegisters>("G0011ff").bytes, (std::vector<std::uint8_t>{0, 0x11, 0xff}));
  EXPECT_EQ(as<cmd::ReadRegister>("p1a").number, 0x1au);
  const auto w = as<cmd::WriteRegister>("P10=efbeadde00000000");
  EXPECT_EQ(w.number, 0x10u);
  EXPECT_EQ(w.bytes.size(), 8u);
  EXPECT_EQ(w.bytes[0], 0xef);
  for (const char* p : {"G", "G0", "G0g", "p", "px", "p11111111111111111", "P", "P10",
                        "P10=", "P=00", "P10=0", "Px=00"}) {
    EXPECT_TRUE(malformed(p)) << p;
  }
}

TEST(Command, ReadMemory) {
  const auto m = as<cmd::ReadMemory>("mffffffff80001000,40");
  EXPECT_EQ(m.address, 0xffffffff80001000u);
  EXPECT_EQ(m.length, 0x40u);
  for (const char* p : {"m", "m1000", "m1000,", "m,4", "m1000,4,", "mx,4", "m1000;4"}) {
    EXPECT_TRUE(malformed(p)) << p;
  }
}

TEST(Command, WriteMemoryHex) {
  const auto w = as<cmd::WriteMemory>("M1000,3:0102ff");
  EXPECT_EQ(w.address, 0x1000u);
  EXPECT_EQ(w.bytes, (std::vector<std::uint8_t>{1, 2, 0xff}));
  EXPECT_TRUE(as<cmd::WriteMemory>("M1000,0:").bytes.empty());
  for (const char* p : {"M1000,3:0102", "M1000,2:0102ff", "M1000,1:0", "M1000,1:zz", "M1000,1",
                        "M1000:01", "M,1:01"}) {
    EXPECT_TRUE(malformed(p)) << p;
  }
}

TEST(Command, WriteMemoryBinary) {
  // The framing already unescaped the data: ':' '#' and NUL are plain bytes here.
  const std::string payload = std::string("X2000,4:a:#") + '\0';
  const auto w = as<cmd::WriteMemory>(payload);
  EXPECT_EQ(w.address, 0x2000u);
  EXPECT_EQ(w.bytes, (std::vector<std::uint8_t>{'a', ':', '#', 0}));
  // gdb probes for X with an empty write.
  const auto probe = as<cmd::WriteMemory>("X1000,0:");
  EXPECT_TRUE(probe.bytes.empty());
  for (const char* p : {"X1000,1:", "X1000,1:ab", "X1000,0", "X:ab"}) {
    EXPECT_TRUE(malformed(p)) << p;
  }
}

TEST(Command, ThreadIds) {
  EXPECT_EQ(as<cmd::SetThread>("Hg-1").thread, kAll);
  EXPECT_EQ(as<cmd::SetThread>("Hg0").thread, kAny);
  const auto h = as<cmd::SetThread>("Hc1a");
  EXPECT_EQ(h.op, 'c');
  EXPECT_EQ(h.thread, one(0x1a));
  EXPECT_EQ(as<cmd::SetThread>("Hg11").op, 'g');
  EXPECT_EQ(as<cmd::ThreadAlive>("T11").thread, one(0x11));
  EXPECT_EQ(as<cmd::ThreadExtraInfo>("qThreadExtraInfo,21").thread, one(0x21));
  for (const char* p : {"Hp1.2", "Hgp1.2", "Hg", "Hs1", "H", "Hg-2", "Hg-", "T", "Tp1.1", "T-1x",
                        "qThreadExtraInfo", "qThreadExtraInfo,", "qThreadExtraInfo:1"}) {
    EXPECT_TRUE(malformed(p)) << p;
  }
}

TEST(Command, ContinueAndStep) {
  EXPECT_FALSE(as<cmd::Continue>("c").address);
  EXPECT_EQ(as<cmd::Continue>("c100000").address, 0x100000u);
  EXPECT_FALSE(as<cmd::Step>("s").address);
  EXPECT_EQ(as<cmd::Step>("sffff").address, 0xffffu);
  EXPECT_TRUE(malformed("cx"));
  EXPECT_TRUE(malformed("s-1"));
}

TEST(Command, VCont) {
  as<cmd::VContQuery>("vCont?");
  auto v = as<cmd::VCont>("vCont;c");
  ASSERT_EQ(v.actions.size(), 1u);
  EXPECT_EQ(v.actions[0].action, 'c');
  EXPECT_FALSE(v.actions[0].thread);

  v = as<cmd::VCont>("vCont;s:1a;c");
  ASSERT_EQ(v.actions.size(), 2u);
  EXPECT_EQ(v.actions[0].action, 's');
  EXPECT_EQ(v.actions[0].thread, one(0x1a));
  EXPECT_EQ(v.actions[1].action, 'c');
  EXPECT_FALSE(v.actions[1].thread);

  v = as<cmd::VCont>("vCont;C05:3;S02;c:-1");
  ASSERT_EQ(v.actions.size(), 3u);
  EXPECT_EQ(v.actions[0].action, 'c');
  EXPECT_EQ(v.actions[0].thread, one(3));
  EXPECT_EQ(v.actions[1].action, 's');
  EXPECT_FALSE(v.actions[1].thread);
  EXPECT_EQ(v.actions[2].thread, kAll);

  v = as<cmd::VCont>("vCont;t:5");
  ASSERT_EQ(v.actions.size(), 1u);
  EXPECT_EQ(v.actions[0].action, 't');
  EXPECT_EQ(v.actions[0].thread, one(5));

  for (const char* p :
       {"vCont", "vCont;", "vCont;c;", "vCont;;c", "vCont;x", "vCont;r1,2", "vCont;C", "vCont;C5",
        "vCont;Cxx", "vCont;c:", "vCont;c:p1.1", "vCont;cc", "vCont?x", "vCont:c"}) {
    EXPECT_TRUE(malformed(p)) << p;
  }
}

TEST(Command, Breakpoints) {
  const auto z = as<cmd::Breakpoint>("Z0,100010,1");
  EXPECT_TRUE(z.insert);
  EXPECT_EQ(z.type, 0);
  EXPECT_EQ(z.address, 0x100010u);
  EXPECT_EQ(z.kind, 1u);
  const auto w = as<cmd::Breakpoint>("z2,2000,8");
  EXPECT_FALSE(w.insert);
  EXPECT_EQ(w.type, 2);
  EXPECT_EQ(w.kind, 8u);
  EXPECT_EQ(as<cmd::Breakpoint>("Z4,2000,4").type, 4);
  // A condition after the kind is ignored.
  EXPECT_EQ(as<cmd::Breakpoint>("Z0,1000,1;X3,220100").address, 0x1000u);
  for (const char* p :
       {"Z", "Z0", "Z0,", "Z0,1000", "Z0,1000,", "Zx,1000,1", "Z0,x,1", "Z0,1000,1,2", "z0,1000"}) {
    EXPECT_TRUE(malformed(p)) << p;
  }
}

TEST(Command, ReadFeatures) {
  const auto f = as<cmd::ReadFeatures>("qXfer:features:read:target.xml:0,ffb");
  EXPECT_EQ(f.annex, "target.xml");
  EXPECT_EQ(f.offset, 0u);
  EXPECT_EQ(f.length, 0xffbu);
  EXPECT_EQ(as<cmd::ReadFeatures>("qXfer:features:read:other.xml:7fe,100").offset, 0x7feu);
  for (const char* p : {"qXfer:features:read:target.xml", "qXfer:features:read:target.xml:0",
                        "qXfer:features:read:target.xml:x,1", "qXfer,features"}) {
    EXPECT_TRUE(malformed(p)) << p;
  }
}

TEST(Command, Monitor) {
  EXPECT_EQ(as<cmd::Monitor>("qRcmd,7670732031").command, "vps 1");
  EXPECT_EQ(as<cmd::Monitor>("qRcmd,").command, "");
  EXPECT_TRUE(malformed("qRcmd"));
  EXPECT_TRUE(malformed("qRcmd,767"));
  EXPECT_TRUE(malformed("qRcmd,zz"));
}

TEST(ThreadNumber, RoundTripsAndBounds) {
  EXPECT_EQ(thread_number(0, 0), 1u);
  EXPECT_EQ(thread_number(1, 0), 0x11u);
  for (const auto& [vp, vtl] : {std::pair<std::uint32_t, std::uint32_t>{0, 0},
                                {0, 1},
                                {0, 15},
                                {1, 0},
                                {3, 2},
                                {UINT32_MAX, 0},
                                {UINT32_MAX, 15}}) {
    EXPECT_EQ(vp_vtl(thread_number(vp, vtl)), (VpVtl{vp, vtl})) << vp << " " << vtl;
  }
  EXPECT_EQ(vp_vtl(0), std::nullopt);
  // One past VP 0xffffffff VTL 15 would need a 33-bit VP index.
  EXPECT_EQ(vp_vtl(thread_number(UINT32_MAX, 15) + 1), std::nullopt);
  EXPECT_EQ(vp_vtl(UINT64_MAX), std::nullopt);
}

TEST(StopReply, Formats) {
  StopReply r;
  r.thread = 0x11;
  r.swbreak = true;
  EXPECT_EQ(format_stop_reply(r), "T05thread:11;swbreak:;");
  r = {};
  r.thread = 1;
  r.watch = std::pair{'w', std::uint64_t{0x1000}};
  EXPECT_EQ(format_stop_reply(r), "T05thread:1;watch:1000;");
  r.watch = std::pair{'r', std::uint64_t{0xABCDEF}};
  EXPECT_EQ(format_stop_reply(r), "T05thread:1;rwatch:abcdef;");
  r.watch = std::pair{'a', std::uint64_t{0xffffffff80000000}};
  EXPECT_EQ(format_stop_reply(r), "T05thread:1;awatch:ffffffff80000000;");
  r = {};
  r.signal = 2;
  r.thread = 0xAB;
  EXPECT_EQ(format_stop_reply(r), "T02thread:ab;");
  r = {};
  r.hwbreak = true;
  EXPECT_EQ(format_stop_reply(r), "T05hwbreak:;");  // no thread named
  r = {};
  r.kind = StopReply::Kind::kExited;
  EXPECT_EQ(format_stop_reply(r), "W00");
  r.exit_status = 0x1ff;
  EXPECT_EQ(format_stop_reply(r), "Wff");
  r.exit_status = 0x0a;
  EXPECT_EQ(format_stop_reply(r), "W0a");
}

}  // namespace
}  // namespace hvk::gdb
