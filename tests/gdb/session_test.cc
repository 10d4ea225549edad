// The gdb session against a fake target: what each request asks of the machine and what gdb is
// told (issue 16 points 1, 2 and 4).
#include "gdb/session.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "fake_target.h"
#include "gdb/command.h"
#include "gdb/packet.h"

namespace hvk::gdb {
namespace {

using testing::FakeTarget;

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // VP 0 with VTLs 0 and 1 (VTL 1 running), VP 1 with VTL 0.
    target.thread_list = {{thread_number(0, 0), "VP 0 VTL 0, below the running VTL", false},
                          {thread_number(0, 1), "VP 0 VTL 1, running", true},
                          {thread_number(1, 0), "VP 1 VTL 0, running", true}};
    for (const ThreadInfo& t : target.thread_list) {
      X86Registers r;
      r.rip = 0x1000 + t.number;
      target.regs[t.number] = r;
    }
  }
  // Sends one request; returns the replies it caused.
  std::vector<std::string> ask(std::string_view payload) {
    replies.clear();
    session.on_packet(payload);
    return replies;
  }
  std::string one(std::string_view payload) {
    auto r = ask(payload);
    EXPECT_EQ(r.size(), 1u) << payload;
    return r.empty() ? "" : r.front();
  }
  static std::string fmt_xfer(std::uint64_t offset) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "qXfer:features:read:target.xml:%llx,200",
                  static_cast<unsigned long long>(offset));
    return buf;
  }
  static std::string hex_of(std::string_view text) {
    return hex_encode({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
  }

  FakeTarget target;
  std::vector<std::string> replies;
  Session session{target, [this](std::string_view p) { replies.emplace_back(p); }};
};

TEST_F(SessionTest, SupportedNamesThePacketSizeAndTheStopReasons) {
  const std::string r = one("qSupported:multiprocess+;swbreak+;hwbreak+");
  EXPECT_NE(r.find("PacketSize=4000"), std::string::npos);
  for (const char* f : {"swbreak+", "hwbreak+", "qXfer:features:read+", "vContSupported+"}) {
    EXPECT_NE(r.find(f), std::string::npos) << f;
  }
}

TEST_F(SessionTest, AttachStopsTheMachineAndReportsTheFirstVpsRunningVtl) {
  session.attach();
  EXPECT_EQ(target.stops, 1);
  EXPECT_EQ(one("?"), "T05thread:2;");  // VP 0 VTL 1
  EXPECT_EQ(one("qC"), "QC2");
}

TEST_F(SessionTest, AttachToAnEndedMachineReportsItsExit) {
  target.alive = false;
  session.attach();
  EXPECT_EQ(one("?"), "W00");
}

TEST_F(SessionTest, RegistersFollowTheThreadHgChose) {
  session.attach();
  X86Registers r;
  r.rip = 0x1002;
  EXPECT_EQ(one("g"), hex_encode(encode_registers(r)));
  EXPECT_EQ(one("Hg11"), "OK");  // VP 1 VTL 0
  r.rip = 0x1011;
  EXPECT_EQ(one("g"), hex_encode(encode_registers(r)));
  EXPECT_EQ(one("Hg99"), "E01");  // no such thread: the choice stays
  EXPECT_EQ(one("g"), hex_encode(encode_registers(r)));
}

TEST_F(SessionTest, WritesOneRegisterOrAll) {
  session.attach();
  // rip is register 16.
  EXPECT_EQ(one("P10=efbeadde00000000"), "OK");
  EXPECT_EQ(target.regs[2].rip, 0xdeadbeefu);
  EXPECT_EQ(one("p10"), "efbeadde00000000");
  EXPECT_EQ(one("P10=efbe"), "E01");  // not the register's size
  EXPECT_EQ(one("p999"), "E01");
  X86Registers all;
  all.gpr[0] = 42;
  EXPECT_EQ(one("G" + hex_encode(encode_registers(all))), "OK");
  EXPECT_EQ(target.regs[2].gpr[0], 42u);
  EXPECT_EQ(one("G00"), "E01");
}

TEST_F(SessionTest, MemoryReadsAreClampedAndPartialAtTheEnd) {
  session.attach();
  target.memory[0] = 0xab;
  EXPECT_EQ(one("m10000,1"), "ab");
  EXPECT_EQ(one("m1fffe,10"), "0000");  // two bytes before the end
  EXPECT_EQ(one("m0,1"), "E14");
  const std::string big = one("m10000,100000");
  EXPECT_EQ(big.size() % 2, 0u);
  EXPECT_LE(big.size(), kPacketSize);
  EXPECT_GT(big.size(), kPacketSize / 2);
}

TEST_F(SessionTest, MemoryWrites) {
  session.attach();
  EXPECT_EQ(one("M10004,2:beef"), "OK");
  EXPECT_EQ(target.memory[4], 0xbe);
  EXPECT_EQ(target.memory[5], 0xef);
  EXPECT_EQ(one("X10006,0:"), "OK");  // gdb's probe for X
  EXPECT_EQ(one("M0,1:00"), "E14");
  EXPECT_EQ(one("M1ffff,2:0102"), "E14");  // only one byte of two could be written
}

TEST_F(SessionTest, StepRunsOneThreadAndItsStopIsReported) {
  session.attach();
  EXPECT_TRUE(ask("vCont;s:11;c").empty());  // no reply until the stop
  ASSERT_EQ(target.resumes.size(), 1u);
  EXPECT_EQ(target.resumes[0], std::optional<std::uint64_t>(0x11));
  EXPECT_TRUE(session.running());
  EXPECT_TRUE(ask("g").empty());  // all-stop: nothing but 0x03 while running
  StopEvent ev{StopEvent::Kind::kStep, 0x11, 0, 0};
  replies.clear();
  session.on_event(ev);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0], "T05thread:11;");
  EXPECT_FALSE(session.running());
  EXPECT_EQ(target.stops, 2);  // every VP stopped before gdb looks
}

TEST_F(SessionTest, ContinueAndInterrupt) {
  session.attach();
  session.on_interrupt();  // not running: nothing to interrupt
  EXPECT_EQ(target.interrupts, 0);
  EXPECT_TRUE(ask("vCont;c").empty());
  EXPECT_EQ(target.resumes.back(), std::nullopt);
  session.on_interrupt();
  EXPECT_EQ(target.interrupts, 1);
  replies.clear();
  session.on_event({StopEvent::Kind::kInterrupt, 1, 0, 0});
  EXPECT_EQ(replies.at(0), "T02thread:1;");
  EXPECT_TRUE(ask("c").empty());
  EXPECT_TRUE(session.running());
}

TEST_F(SessionTest, LegacyStepUsesTheHcThread) {
  session.attach();
  EXPECT_EQ(one("Hc11"), "OK");
  EXPECT_TRUE(ask("s").empty());
  EXPECT_EQ(target.resumes.back(), std::optional<std::uint64_t>(0x11));
  EXPECT_TRUE(ask("Hc99").empty());  // running: ignored
}

TEST_F(SessionTest, SoftwareBreakpoints) {
  session.attach();
  EXPECT_EQ(one("Z0,10010,1"), "OK");
  EXPECT_EQ(target.breakpoints.count(0x10010), 1u);
  EXPECT_EQ(one("Z0,10,1"), "E01");
  EXPECT_EQ(one("z0,10010,1"), "OK");
  EXPECT_EQ(one("z0,10010,1"), "E01");
  ASSERT_TRUE(ask("vCont;c").empty());
  replies.clear();
  session.on_event({StopEvent::Kind::kSoftwareBreak, 2, 0, 0});
  EXPECT_EQ(replies.at(0), "T05thread:2;swbreak:;");
}

TEST_F(SessionTest, WatchpointsTakeAlignedDebugRegisters) {
  session.attach();
  // Three bytes at an odd address: a 1-byte and a 2-byte piece.
  EXPECT_EQ(one("Z2,10001,3"), "OK");
  ASSERT_TRUE(target.hw[0] && target.hw[1]);
  EXPECT_EQ(target.hw[0]->address, 0x10001u);
  EXPECT_EQ(target.hw[0]->length, 1);
  EXPECT_EQ(target.hw[1]->address, 0x10002u);
  EXPECT_EQ(target.hw[1]->length, 2);
  EXPECT_EQ(target.hw[0]->kind, HwBreakpoint::Kind::kWrite);
  EXPECT_EQ(one("Z1,10100,1"), "OK");  // a hardware breakpoint in the third
  EXPECT_EQ(target.hw[2]->kind, HwBreakpoint::Kind::kExecute);
  EXPECT_EQ(one("Z3,10010,10"), "E01");  // 16 bytes need two registers; one is left
  EXPECT_FALSE(target.hw[3].has_value());
  EXPECT_EQ(one("Z4,10010,8"), "OK");
  EXPECT_EQ(target.hw[3]->kind, HwBreakpoint::Kind::kAccess);
  ASSERT_TRUE(ask("c").empty());
  replies.clear();
  session.on_event({StopEvent::Kind::kHardwareBreak, 2, 1, 0});
  EXPECT_EQ(replies.at(0), "T05thread:2;watch:10001;");
  ASSERT_TRUE(ask("c").empty());
  replies.clear();
  session.on_event({StopEvent::Kind::kHardwareBreak, 2, 2, 0});
  EXPECT_EQ(replies.at(0), "T05thread:2;hwbreak:;");
  ASSERT_TRUE(ask("c").empty());
  replies.clear();
  session.on_event({StopEvent::Kind::kHardwareBreak, 2, 3, 0});
  EXPECT_EQ(replies.at(0), "T05thread:2;awatch:10010;");
  EXPECT_EQ(one("z2,10001,3"), "OK");
  EXPECT_FALSE(target.hw[0] || target.hw[1]);
  EXPECT_EQ(one("z2,10001,3"), "E01");
}

TEST_F(SessionTest, AWatchTheMachineCannotKeepIsRefusedAndChangesNothing) {
  session.attach();
  target.hw_allowed = false;
  EXPECT_EQ(one("Z3,10000,4"), "E01");
  target.hw_allowed = true;
  EXPECT_EQ(one("Z2,10000,4"), "OK");
  EXPECT_TRUE(target.hw[0].has_value());  // the refused one left its register free
}

TEST_F(SessionTest, ThreadListComesInParts) {
  target.thread_list.clear();
  for (std::uint32_t vp = 0; vp < 70; ++vp) {
    target.thread_list.push_back({thread_number(vp, 0), "x", vp == 0});
  }
  session.attach();
  const std::string first = one("qfThreadInfo");
  ASSERT_EQ(first.front(), 'm');
  EXPECT_EQ(std::count(first.begin(), first.end(), ','), 63);
  const std::string second = one("qsThreadInfo");
  EXPECT_EQ(std::count(second.begin(), second.end(), ','), 5);
  EXPECT_EQ(one("qsThreadInfo"), "l");
}

TEST_F(SessionTest, ThreadsAreNamedAndAlive) {
  session.attach();
  EXPECT_EQ(one("qThreadExtraInfo,2"), hex_of("VP 0 VTL 1, running"));
  EXPECT_EQ(one("qThreadExtraInfo,5"), "E01");
  EXPECT_EQ(one("T11"), "OK");
  EXPECT_EQ(one("T12"), "E01");
  EXPECT_EQ(one("qAttached"), "1");  // quitting gdb detaches, never kills
}

TEST_F(SessionTest, TargetDescriptionInChunks) {
  const std::string_view xml = *target_description("target.xml");
  std::string got;
  for (std::uint64_t off = 0;;) {
    const std::string r = one(fmt_xfer(off));
    ASSERT_FALSE(r.empty());
    got += r.substr(1);
    off += r.size() - 1;
    if (r[0] == 'l') break;
    ASSERT_EQ(r[0], 'm');
  }
  EXPECT_EQ(got, xml);
  EXPECT_EQ(one("qXfer:features:read:other.xml:0,100"), "E00");
}

TEST_F(SessionTest, MonitorCommands) {
  EXPECT_EQ(one("qRcmd," + hex_of("vtl-switch stop")).empty(), false);
  EXPECT_TRUE(target.stop_on_vtl_switch);
  one("qRcmd," + hex_of("vtl-switch run"));
  EXPECT_FALSE(target.stop_on_vtl_switch);
  const std::string help = one("qRcmd," + hex_of("help"));
  auto text = hex_decode(help);
  ASSERT_TRUE(text);
  EXPECT_NE(std::string(text->begin(), text->end()).find("vtl-switch"), std::string::npos);
  text = hex_decode(one("qRcmd," + hex_of("bogus")));
  ASSERT_TRUE(text);
  EXPECT_NE(std::string(text->begin(), text->end()).find("unknown"), std::string::npos);
}

TEST_F(SessionTest, DetachKillAndExit) {
  session.attach();
  EXPECT_EQ(one("D"), "OK");
  EXPECT_EQ(target.detaches, 1);
  EXPECT_TRUE(session.done());

  Session s2{target, [this](std::string_view p) { replies.emplace_back(p); }};
  s2.attach();
  replies.clear();
  s2.on_packet("vKill;1");
  EXPECT_EQ(target.kills, 1);
  EXPECT_TRUE(s2.done());

  Session s3{target, [this](std::string_view p) { replies.emplace_back(p); }};
  s3.attach();
  s3.on_packet("c");
  replies.clear();
  s3.on_event({StopEvent::Kind::kExited, 0, 0, 7});
  EXPECT_EQ(replies.at(0), "W07");
  EXPECT_TRUE(s3.done());
  s3.on_disconnect();
  EXPECT_EQ(target.detaches, 1);  // an ended session does not detach again

  Session s4{target, [this](std::string_view p) { replies.emplace_back(p); }};
  s4.attach();
  s4.on_disconnect();  // gdb went away: the machine runs on without it
  EXPECT_EQ(target.detaches, 2);
}

TEST_F(SessionTest, MalformedAndUnknownRequests) {
  session.attach();
  EXPECT_EQ(one("mzz,1"), "E01");
  EXPECT_EQ(one("qTStatus"), "");
  EXPECT_EQ(one("vMustReplyEmpty"), "");
  EXPECT_EQ(one("QStartNoAckMode"), "OK");
  EXPECT_FALSE(session.acks());
}

}  // namespace
}  // namespace hvk::gdb
