// HvCallPostMessage (0x005C) and HvCallSignalEvent (0x005D) through the dispatcher, with every
// status they return (docs/conformance.md Y24-Y28).
#include "synic_fixture.h"

namespace hvk::test {
namespace {

using hv::msr::kEom;
using hv::msr::kScontrol;
using hv::msr::kSiefp;
using hv::msr::kSimp;
using hv::msr::kSint0;

constexpr std::uint32_t kMsgConn = 0x10;
constexpr std::uint32_t kEvtConn = 0x20;
constexpr unsigned kMsgSint = 8;
constexpr unsigned kEvtSint = 9;

class Messages : public SynicEngine {
 protected:
  void SetUp() override {
    SynicEngine::SetUp();
    for (tlfs::VpIndex vp : {0u, 1u}) {
      enable_synic(vp);
      set_sint(vp, kMsgSint, 0xB0, true);
      set_sint(vp, kEvtSint, 0xB1, true);
      // As hyperv-testdev does: one message and one event connection per VP, the event's flag
      // number being its connection id.
      hv::Port msg{hv::PortKind::kMessage, root_, vp, 0, kMsgSint, 0x500 + vp, 0, 0};
      ASSERT_EQ(root_->connections().connect(kMsgConn + vp, msg), Status::kSuccess);
      hv::Port evt{hv::PortKind::kEvent,
                   root_,
                   vp,
                   0,
                   kEvtSint,
                   0,
                   static_cast<std::uint16_t>(kEvtConn + vp),
                   1};
      ASSERT_EQ(root_->connections().connect(kEvtConn + vp, evt), Status::kSuccess);
    }
  }

  static tlfs::PostMessageInput post_input(std::uint32_t conn, std::uint64_t tag,
                                           std::uint32_t type = 0x1234, std::uint32_t size = 8) {
    tlfs::PostMessageInput in{};
    in.connection_id.raw = conn;
    in.message_type = type;
    in.payload_size = size;
    std::memcpy(in.payload, &tag, 8);
    return in;
  }
  Status post(const tlfs::PostMessageInput& in, tlfs::VpIndex caller = 0,
              hv::Partition* p = nullptr) {
    return status_of(HypercallControl::make(CallCode::kPostMessage), in, p, caller);
  }
  // kvm-unit-tests signals with a fast call: the connection id alone in RDX.
  Status signal(std::uint64_t rdx, hv::Partition* p = nullptr, tlfs::VpIndex caller = 0) {
    return raw_call(HypercallControl::make(CallCode::kSignalEvent, true), rdx, 0, p, caller)
        .result.status();
  }
  static std::uint64_t tag_of(const tlfs::Message& m) {
    std::uint64_t t = 0;
    std::memcpy(&t, m.payload, 8);
    return t;
  }
};

TEST_F(Messages, PostToSelfAndToAnotherVp) {
  EXPECT_EQ(post(post_input(kMsgConn + 0, 0x77)), Status::kSuccess);
  tlfs::Message m = slot(0, kMsgSint);
  EXPECT_EQ(m.header.message_type, 0x1234u);
  EXPECT_EQ(m.header.payload_size, 8u);
  EXPECT_EQ(m.header.message_flags, 0u);
  EXPECT_EQ(m.header.origination_id, 0x500u);  // the port id
  EXPECT_EQ(tag_of(m), 0x77u);
  EXPECT_EQ(post(post_input(kMsgConn + 1, 0x88), 0), Status::kSuccess);
  m = slot(1, kMsgSint);
  EXPECT_EQ(tag_of(m), 0x88u);
  const auto s = sints();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[1].vp_index, 1u);
  EXPECT_EQ(s[1].vector, 0xB0);
  EXPECT_TRUE(s[1].auto_eoi);
}

TEST_F(Messages, OnlyPayloadSizeBytesAreCopied) {
  std::vector<std::byte> junk(256, std::byte{0xCC});
  memory_.write(simp(0) + kMsgSint * 256, junk);
  set_slot_type(0, kMsgSint, 0);
  tlfs::PostMessageInput in = post_input(kMsgConn, 0x1122334455667788ull, 0x99, 3);
  EXPECT_EQ(post(in), Status::kSuccess);
  const tlfs::Message m = slot(0, kMsgSint);
  EXPECT_EQ(m.payload[0], 0x88);
  EXPECT_EQ(m.payload[2], 0x66);
  EXPECT_EQ(m.payload[3], 0xCC);  // beyond PayloadSize: untouched
}

// kvm-unit-tests hyperv_connections: "send message to busy slot", "receive pending message".
TEST_F(Messages, BusySlotThenEomLikeHypervConnections) {
  EXPECT_EQ(post(post_input(kMsgConn + 1, 1)), Status::kSuccess);
  clear_sints();
  EXPECT_EQ(post(post_input(kMsgConn + 1, 2)), Status::kSuccess);
  tlfs::Message m = slot(1, kMsgSint);
  EXPECT_EQ(tag_of(m), 1u);
  EXPECT_EQ(m.header.message_flags, tlfs::kMessagePending);
  EXPECT_EQ(sints().size(), 0u);
  empty_slot(1, kMsgSint);
  EXPECT_FALSE(wr(1, kEom, 0).gp);
  m = slot(1, kMsgSint);
  EXPECT_EQ(tag_of(m), 2u);
  EXPECT_EQ(m.header.message_flags, 0u);
  EXPECT_EQ(sints().size(), 1u);
}

TEST_F(Messages, PostStatuses) {
  // INVALID_PARAMETER: type 0, a hypervisor type (bit 31), more than 240 bytes, RsvdZ not zero.
  EXPECT_EQ(post(post_input(kMsgConn, 0, 0)), Status::kInvalidParameter);
  EXPECT_EQ(post(post_input(kMsgConn, 0, 0x8000'0010)), Status::kInvalidParameter);
  EXPECT_EQ(post(post_input(kMsgConn, 0, 1, 241)), Status::kInvalidParameter);
  EXPECT_EQ(post(post_input(kMsgConn, 0, 1, 240)), Status::kSuccess);
  tlfs::PostMessageInput rsvd = post_input(kMsgConn, 0);
  rsvd.reserved = 1;
  EXPECT_EQ(post(rsvd), Status::kInvalidParameter);
  // INVALID_CONNECTION_ID: unknown, or reserved bits 31:24 set.
  EXPECT_EQ(post(post_input(0x777, 0)), Status::kInvalidConnectionId);
  EXPECT_EQ(post(post_input(0x0100'0000 | kMsgConn, 0)), Status::kInvalidConnectionId);
  // INVALID_PORT_ID: an event connection.
  EXPECT_EQ(post(post_input(kEvtConn, 0)), Status::kInvalidPortId);
  // INVALID_SYNIC_STATE: the receiver's SIM page, then its SynIC, disabled.
  wr(1, kSimp, simp(1));
  EXPECT_EQ(post(post_input(kMsgConn + 1, 0)), Status::kInvalidSynicState);
  wr(1, kSimp, simp(1) | 1);
  wr(1, kScontrol, 0);
  EXPECT_EQ(post(post_input(kMsgConn + 1, 0)), Status::kInvalidSynicState);
  // The checks come in this order: parameters before the connection.
  EXPECT_EQ(post(post_input(0x777, 0, 0)), Status::kInvalidParameter);
}

TEST_F(Messages, SixteenBuffersThenInsufficientBuffers) {
  for (int i = 0; i <= 16; ++i) EXPECT_EQ(post(post_input(kMsgConn, i)), Status::kSuccess) << i;
  EXPECT_EQ(post(post_input(kMsgConn, 99)), Status::kInsufficientBuffers);
  empty_slot(0, kMsgSint);
  wr(0, kEom, 0);
  EXPECT_EQ(post(post_input(kMsgConn, 17)), Status::kSuccess);
}

TEST_F(Messages, WithoutThePrivilegesAccessDenied) {
  hv::PartitionConfig cfg = root_config(2);
  cfg.synic = true;
  cfg.privileges.raw = hv::default_privileges().raw;
  make_root(cfg);
  hv::Partition& plain = make_child();  // default privileges, no SynIC option
  ASSERT_FALSE(plain.privileges().has(tlfs::Privilege::kPostMessages));
  EXPECT_EQ(post(post_input(kMsgConn, 0), 0, &plain), Status::kAccessDenied);
  EXPECT_EQ(signal(kEvtConn, &plain), Status::kAccessDenied);
}

TEST_F(Messages, PortOfAPartitionThatIsNotActive) {
  hv::Partition& child = make_child();  // created, not initialized
  hv::Port msg{hv::PortKind::kMessage, &child, 0, 0, 1, 1, 0, 0};
  ASSERT_EQ(root_->connections().connect(0x99, msg), Status::kSuccess);
  EXPECT_EQ(post(post_input(0x99, 0)), Status::kInvalidPortId);
}

TEST_F(Messages, HostConnectRules) {
  hv::ConnectionTable& t = root_->connections();
  hv::Port p{hv::PortKind::kMessage, root_, 0, 0, 1, 0, 0, 0};
  EXPECT_EQ(t.connect(kMsgConn, p), Status::kInvalidConnectionId);  // in use
  EXPECT_EQ(t.connect(0x0100'0001, p), Status::kInvalidConnectionId);
  p.sint = 16;
  EXPECT_EQ(t.connect(1, p), Status::kInvalidParameter);
  p.sint = 1;
  p.vp = 2;  // the root has VPs 0 and 1: a hypercall can never name a missing VP
  EXPECT_EQ(t.connect(1, p), Status::kInvalidVpIndex);
  hv::Port e{hv::PortKind::kEvent, root_, 0, 0, 1, 0, 2040, 9};
  EXPECT_EQ(t.connect(2, e), Status::kInvalidParameter);  // flags past 2047
  EXPECT_TRUE(t.disconnect(kMsgConn, hv::PortKind::kMessage));
  EXPECT_FALSE(t.disconnect(kMsgConn, hv::PortKind::kMessage));
  EXPECT_EQ(post(post_input(kMsgConn, 0)), Status::kInvalidConnectionId);
}

// kvm-unit-tests hyperv_connections at more than 16 VPs gives VP n message connection 0x10 + n and
// event connection 0x20 + n, so VP 16's message id is VP 0's event id: two namespaces (Y28).
TEST_F(Messages, MessageAndEventConnectionsMayShareAnId) {
  hv::ConnectionTable& t = root_->connections();
  hv::Port m{hv::PortKind::kMessage, root_, 1, 0, kMsgSint, 0x77, 0, 0};
  ASSERT_EQ(t.connect(kEvtConn, m), Status::kSuccess);  // the id of an event connection
  EXPECT_EQ(t.connect(kEvtConn, m), Status::kInvalidConnectionId);  // a second message one
  EXPECT_EQ(post(post_input(kEvtConn, 0)), Status::kSuccess);
  EXPECT_EQ(signal(kEvtConn), Status::kSuccess);  // the event connection is still there
  EXPECT_TRUE(t.disconnect(kEvtConn, hv::PortKind::kMessage));
  EXPECT_EQ(post(post_input(kEvtConn, 0)), Status::kInvalidPortId);  // only the event one left
  EXPECT_EQ(signal(kEvtConn), Status::kSuccess);
}

// kvm-unit-tests hyperv_connections: "signal event on self / on another cpu / already set".
TEST_F(Messages, SignalEventSetsTheFlagAndRaisesOnlyWhenClear) {
  EXPECT_EQ(signal(kEvtConn + 0), Status::kSuccess);
  EXPECT_EQ(signal(kEvtConn + 1), Status::kSuccess);
  EXPECT_EQ(flags_qword(0, kEvtSint, kEvtConn), 1ull << kEvtConn);
  EXPECT_EQ(flags_qword(1, kEvtSint, kEvtConn + 1), 1ull << (kEvtConn + 1));
  EXPECT_EQ(sints().size(), 2u);
  EXPECT_EQ(signal(kEvtConn + 1), Status::kSuccess);
  EXPECT_EQ(sints().size(), 2u);  // already set: success, no interrupt
}

TEST_F(Messages, SignalEventFromMemoryInput) {
  tlfs::SignalEventInput in{};
  in.connection_id.raw = kEvtConn;
  EXPECT_EQ(status_of(HypercallControl::make(CallCode::kSignalEvent), in), Status::kSuccess);
  EXPECT_EQ(flags_qword(0, kEvtSint, kEvtConn), 1ull << kEvtConn);
}

TEST_F(Messages, SignalEventStatuses) {
  const auto with = [](std::uint32_t conn, std::uint16_t flag, std::uint16_t rsvd = 0) {
    return std::uint64_t{conn} | std::uint64_t{flag} << 32 | std::uint64_t{rsvd} << 48;
  };
  EXPECT_EQ(signal(with(kEvtConn, 1)), Status::kInvalidParameter);  // flag count is 1
  EXPECT_EQ(signal(with(kEvtConn, 0, 1)), Status::kInvalidParameter);
  EXPECT_EQ(signal(0x1234), Status::kInvalidConnectionId);
  EXPECT_EQ(signal(0x0200'0000 | kEvtConn), Status::kInvalidConnectionId);
  EXPECT_EQ(signal(kMsgConn), Status::kInvalidPortId);
  wr(1, kSint0 + kEvtSint, 0x100B1);  // masked
  EXPECT_EQ(signal(kEvtConn + 1), Status::kInvalidSynicState);
  wr(1, kSint0 + kEvtSint, 0xB1);
  wr(1, kSiefp, siefp(1));
  EXPECT_EQ(signal(kEvtConn + 1), Status::kInvalidSynicState);
  wr(1, kSiefp, siefp(1) | 1);
  wr(1, kScontrol, 0);
  EXPECT_EQ(signal(kEvtConn + 1), Status::kInvalidSynicState);
}

TEST_F(Messages, FastPostMessageDoesNotFitTheRegisters) {
  EXPECT_EQ(
      raw_call(HypercallControl::make(CallCode::kPostMessage, true), kMsgConn, 0).result.status(),
      Status::kInvalidHypercallInput);
}

TEST_F(Messages, TraceDescribesBothCalls) {
  const hv::CallDescriptor* post_call = hv::find_call(0x005C);
  const hv::CallDescriptor* signal_call = hv::find_call(0x005D);
  ASSERT_NE(post_call, nullptr);
  ASSERT_NE(signal_call, nullptr);
  EXPECT_EQ(post_call->input_size, 256);
  EXPECT_EQ(signal_call->input_size, 8);
  const tlfs::PostMessageInput in = post_input(kMsgConn, 0);
  char text[128];
  post_call->describe(tlfs::as_bytes(in), 0, text, sizeof text);
  EXPECT_STREQ(text, "connection=0x10 type=0x1234 size=8");
}

}  // namespace
}  // namespace hvk::test
