// The SynIC of one VP and VTL: its MSRs, the message-slot protocol, queues, event flags and the
// interrupts it asks the machine for (docs/conformance.md "SynIC, timers, messages").
#include <thread>

#include "hv/hyperv_cpuid.h"
#include "synic_fixture.h"

namespace hvk::test {
namespace {

using hv::msr::kEom;
using hv::msr::kScontrol;
using hv::msr::kSiefp;
using hv::msr::kSimp;
using hv::msr::kSint0;
using hv::msr::kStimer0Config;
using hv::msr::kSversion;

tlfs::Message message(std::uint32_t type, std::uint64_t tag) {
  tlfs::Message m{};
  m.header.message_type = type;
  m.header.payload_size = 8;
  std::memcpy(m.payload, &tag, 8);
  return m;
}

std::uint64_t tag_of(const tlfs::Message& m) {
  std::uint64_t t = 0;
  std::memcpy(&t, m.payload, 8);
  return t;
}

using SynicOff = Engine;

TEST_F(SynicOff, MsrsAreGpAndCpuidSaysNothing) {
  // Without PartitionConfig::synic the MSRs are #GP and CPUID advertises nothing of the SynIC.
  for (std::uint32_t index : {kScontrol, kSversion, kSimp, kEom, kSint0 + 3, kStimer0Config}) {
    EXPECT_TRUE(hv::read_synthetic_msr(*root_, *root_->vp(0), index).gp) << std::hex << index;
    EXPECT_TRUE(hv::write_synthetic_msr(*root_, *root_->vp(0), index, 0x10000).gp);
  }
  const auto leaves = hv::hyperv_cpuid_leaves(*root_);
  EXPECT_EQ(leaves[3].eax & 0xCu, 0u);        // SynicRegs 2, SyntheticTimerRegs 3
  EXPECT_EQ(leaves[3].ebx & 0x30u, 0u);       // PostMessages 36, SignalEvents 37
  EXPECT_EQ(leaves[3].edx & (1u << 19), 0u);  // direct synthetic timers
}

TEST_F(SynicEngine, OptionAddsThePrivilegesAndCpuidBits) {
  const auto leaves = hv::hyperv_cpuid_leaves(*root_);
  EXPECT_EQ(leaves[3].eax & 0xCu, 0xCu);
  EXPECT_EQ(leaves[3].ebx & 0x30u, 0x30u);
  EXPECT_NE(leaves[3].edx & (1u << 19), 0u);
  EXPECT_TRUE(root_->privileges().has(tlfs::Privilege::kHypercallMsrs));  // defaults kept
}

TEST_F(SynicEngine, InitialValuesAndReadOnlyVersion) {
  EXPECT_EQ(rd(0, kScontrol).value, 0u);
  EXPECT_EQ(rd(0, kSversion).value, 1u);
  EXPECT_EQ(rd(0, kSimp).value, 0u);
  EXPECT_EQ(rd(0, kSiefp).value, 0u);
  EXPECT_EQ(rd(0, kEom).value, 0u);
  for (unsigned i = 0; i < 16; ++i) EXPECT_EQ(rd(1, kSint0 + i).value, 0x10000u) << i;
  EXPECT_TRUE(wr(0, kSversion, 1).gp);
  EXPECT_FALSE(wr(0, kEom, 0x1234).gp);
  EXPECT_EQ(rd(0, kEom).value, 0u);
}

TEST_F(SynicEngine, SintVectorBelow16IsGpUnlessMasked) {
  EXPECT_TRUE(wr(0, kSint0 + 2, 0x0F).gp);
  EXPECT_EQ(rd(0, kSint0 + 2).value, 0x10000u);  // unchanged
  EXPECT_FALSE(wr(0, kSint0 + 2, 0x1000F).gp);   // masked: any vector
  EXPECT_FALSE(wr(0, kSint0 + 2, 0x10).gp);
  // Auto-EOI, polling and the RsvdP bits read back as written.
  EXPECT_FALSE(wr(0, kSint0 + 2, 0xF000'0000'0006'00B3ull).gp);
  EXPECT_EQ(rd(0, kSint0 + 2).value, 0xF000'0000'0006'00B3ull);
}

TEST_F(SynicEngine, RegistersAreKeptAsWrittenPerVp) {
  EXPECT_FALSE(wr(0, kScontrol, 0xFFFF'0000'0000'0001ull).gp);  // RsvdP kept
  EXPECT_EQ(rd(0, kScontrol).value, 0xFFFF'0000'0000'0001ull);
  EXPECT_FALSE(wr(0, kSimp, simp(0) | 0xFFE).gp);  // disabled, RsvdP bits kept
  EXPECT_EQ(rd(0, kSimp).value, simp(0) | 0xFFE);
  EXPECT_EQ(rd(1, kScontrol).value, 0u);
  EXPECT_EQ(rd(1, kSimp).value, 0u);
}

TEST_F(SynicEngine, PagesAreZeroedWhenEnabledAndMustBeRam) {
  std::vector<std::byte> junk(4096, std::byte{0xAA});
  memory_.write(simp(0), junk);
  memory_.write(siefp(0), junk);
  EXPECT_FALSE(wr(0, kSimp, simp(0) | 1).gp);
  EXPECT_FALSE(wr(0, kSiefp, siefp(0) | 1).gp);
  EXPECT_EQ(slot(0, 15).header.message_type, 0u);
  EXPECT_EQ(flags_qword(0, 15, 2047), 0u);
  // Writing the same enabled page again leaves its contents alone (a message may be in it).
  set_slot_type(0, 3, 0x77);
  EXPECT_FALSE(wr(0, kSimp, simp(0) | 1).gp);
  EXPECT_EQ(slot(0, 3).header.message_type, 0x77u);
  // A page outside guest RAM cannot be enabled; disabling needs no RAM.
  EXPECT_TRUE(wr(0, kSimp, 0x10'0000 | 1).gp);
  EXPECT_EQ(rd(0, kSimp).value, simp(0) | 1);
  EXPECT_FALSE(wr(0, kSimp, 0x10'0000).gp);
}

TEST_F(SynicEngine, EachVtlHasItsOwnSynic) {
  hv::Vp& vp = *root_->vp(0);
  EXPECT_FALSE(wr(0, kSint0, 0x40).gp);
  vp.set_current_vtl(1);
  EXPECT_EQ(rd(0, kSint0).value, 0x10000u);
  EXPECT_FALSE(wr(0, kSint0, 0x50).gp);
  vp.set_current_vtl(0);
  EXPECT_EQ(rd(0, kSint0).value, 0x40u);
  EXPECT_EQ(synic(0, 1).sint(0), 0x50u);
  EXPECT_NE(&synic(0, 0), &synic(0, 1));
}

TEST_F(SynicEngine, MessageIntoAnEmptySlotRaisesTheSint) {
  enable_synic(0);
  set_sint(0, 5, 0xB5, true);
  ASSERT_TRUE(synic(0).reserve_queue(5));
  hv::IrqBatch irqs;
  EXPECT_EQ(synic(0).post(5, message(0x42, 7), &memory_, irqs), Status::kSuccess);
  const tlfs::Message m = slot(0, 5);
  EXPECT_EQ(m.header.message_type, 0x42u);
  EXPECT_EQ(m.header.payload_size, 8u);
  EXPECT_EQ(m.header.message_flags, 0u);
  EXPECT_EQ(tag_of(m), 7u);
  ASSERT_EQ(irqs.size(), 1u);
  EXPECT_EQ(irqs[0].vector, 0xB5);
  EXPECT_TRUE(irqs[0].auto_eoi);
  EXPECT_EQ(irqs[0].source, 5);
  EXPECT_EQ(irqs[0].vp_index, 0u);
}

TEST_F(SynicEngine, BusySlotSetsPendingAndEomDeliversTheNext) {
  enable_synic(0);
  set_sint(0, 1, 0xB1);
  synic(0).reserve_queue(1);
  hv::IrqBatch irqs;
  for (std::uint64_t tag = 1; tag <= 3; ++tag) {
    EXPECT_EQ(synic(0).post(1, message(0x10, tag), &memory_, irqs), Status::kSuccess);
  }
  EXPECT_EQ(irqs.size(), 1u);  // only the first reached the slot
  EXPECT_EQ(tag_of(slot(0, 1)), 1u);
  EXPECT_EQ(slot(0, 1).header.message_flags, tlfs::kMessagePending);
  EXPECT_EQ(synic(0).queued(1), 2u);
  // EOM without emptying the slot delivers nothing.
  EXPECT_FALSE(wr(0, kEom, 0).gp);
  EXPECT_EQ(tag_of(slot(0, 1)), 1u);
  EXPECT_EQ(sints().size(), 0u);
  // Empty + EOM: the next one, still flagged because a third waits.
  empty_slot(0, 1);
  wr(0, kEom, 0);
  EXPECT_EQ(tag_of(slot(0, 1)), 2u);
  EXPECT_EQ(slot(0, 1).header.message_flags, tlfs::kMessagePending);
  empty_slot(0, 1);
  wr(0, kEom, 0);
  EXPECT_EQ(tag_of(slot(0, 1)), 3u);
  EXPECT_EQ(slot(0, 1).header.message_flags, 0u);  // the queue is empty now
  EXPECT_EQ(sints().size(), 2u);
  const hv::SynicStats st = synic(0).stats();
  EXPECT_EQ(st.posted, 3u);
  EXPECT_EQ(st.delivered, 3u);
}

TEST_F(SynicEngine, MaskedSintGetsTheMessageButNoInterrupt) {
  enable_synic(0);
  synic(0).reserve_queue(4);
  hv::IrqBatch irqs;
  EXPECT_EQ(synic(0).post(4, message(0x10, 9), &memory_, irqs), Status::kSuccess);
  EXPECT_EQ(tag_of(slot(0, 4)), 9u);
  EXPECT_EQ(irqs.size(), 0u);
}

TEST_F(SynicEngine, DisabledSynicOrMessagePageRefusesMessages) {
  synic(0).reserve_queue(2);
  hv::IrqBatch irqs;
  EXPECT_EQ(synic(0).post(2, message(1, 1), &memory_, irqs), Status::kInvalidSynicState);
  wr(0, kSimp, simp(0) | 1);
  EXPECT_EQ(synic(0).post(2, message(1, 1), &memory_, irqs), Status::kInvalidSynicState);
  wr(0, kScontrol, 1);
  wr(0, kSimp, simp(0));
  EXPECT_EQ(synic(0).post(2, message(1, 1), &memory_, irqs), Status::kInvalidSynicState);
  wr(0, kSimp, simp(0) | 1);
  EXPECT_EQ(synic(0).post(2, message(1, 1), &memory_, irqs), Status::kSuccess);
}

TEST_F(SynicEngine, QueueHoldsSixteenBehindTheSlot) {
  enable_synic(0);
  synic(0).reserve_queue(6);
  hv::IrqBatch irqs;
  EXPECT_EQ(synic(0).post(6, message(1, 0), &memory_, irqs), Status::kSuccess);  // in the slot
  for (std::uint64_t i = 1; i <= hv::Synic::kQueueDepth; ++i) {
    EXPECT_EQ(synic(0).post(6, message(1, i), &memory_, irqs), Status::kSuccess) << i;
  }
  EXPECT_EQ(synic(0).post(6, message(1, 99), &memory_, irqs), Status::kInsufficientBuffers);
  // A SINT without a queue (no message port aims at it) has no buffers at all.
  EXPECT_EQ(synic(0).post(7, message(1, 0), &memory_, irqs), Status::kInsufficientBuffers);
}

TEST_F(SynicEngine, EveryMessageArrivesOnceInOrder) {
  enable_synic(0);
  set_sint(0, 0, 0x30);
  synic(0).reserve_queue(0);
  hv::IrqBatch irqs;
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  for (int round = 0; round < 50; ++round) {
    for (int k = 0; k < 1 + round % 7; ++k) {
      if (synic(0).post(0, message(1, sent + 1), &memory_, irqs) == Status::kSuccess) ++sent;
    }
    irqs.flush(nullptr);
    // The guest consumes what the slot holds, then EOMs when it saw MessagePending.
    for (;;) {
      const tlfs::Message m = slot(0, 0);
      if (m.header.message_type == 0) break;
      EXPECT_EQ(tag_of(m), received + 1);
      ++received;
      empty_slot(0, 0);
      if ((m.header.message_flags & tlfs::kMessagePending) == 0) break;
      wr(0, kEom, 0);
    }
  }
  EXPECT_EQ(received, sent);
  const hv::SynicStats st = synic(0).stats();
  EXPECT_EQ(st.posted, sent);
  EXPECT_EQ(st.delivered, sent);
  EXPECT_EQ(synic(0).queued(0), 0u);
}

TEST_F(SynicEngine, EventFlagRaisesOnlyWhenItWasClear) {
  enable_synic(0);
  set_sint(0, 9, 0xB9);
  hv::IrqBatch irqs;
  EXPECT_EQ(synic(0).signal_event(9, 0x21, &memory_, irqs), Status::kSuccess);
  EXPECT_EQ(flags_qword(0, 9, 0x21), 1ull << 0x21);
  EXPECT_EQ(irqs.size(), 1u);
  EXPECT_EQ(synic(0).signal_event(9, 0x21, &memory_, irqs), Status::kSuccess);
  EXPECT_EQ(irqs.size(), 1u);  // already set: no new interrupt
  EXPECT_EQ(synic(0).signal_event(9, 2047, &memory_, irqs), Status::kSuccess);
  EXPECT_EQ(flags_qword(0, 9, 2047), 1ull << 63);
  EXPECT_EQ(irqs.size(), 2u);
  const hv::SynicStats st = synic(0).stats();
  EXPECT_EQ(st.events_set, 2u);
  EXPECT_EQ(st.events_seen, 1u);
}

TEST_F(SynicEngine, EventNeedsSynicSiefPageAndUnmaskedSint) {
  hv::IrqBatch irqs;
  set_sint(0, 9, 0xB9);
  EXPECT_EQ(synic(0).signal_event(9, 1, &memory_, irqs), Status::kInvalidSynicState);
  wr(0, kScontrol, 1);
  EXPECT_EQ(synic(0).signal_event(9, 1, &memory_, irqs), Status::kInvalidSynicState);
  wr(0, kSiefp, siefp(0) | 1);
  EXPECT_EQ(synic(0).signal_event(9, 1, &memory_, irqs), Status::kSuccess);
  wr(0, kSint0 + 9, 0x100B9);
  EXPECT_EQ(synic(0).signal_event(9, 2, &memory_, irqs), Status::kInvalidSynicState);
  EXPECT_EQ(flags_qword(0, 9, 2), 2u);  // flag 2 was not set
}

TEST_F(SynicEngine, ConcurrentEventFlagsAreSetAtomically) {
  enable_synic(0);
  set_sint(0, 3, 0xB3);
  constexpr unsigned kThreads = 4;
  constexpr unsigned kFlagsEach = 64;  // every thread sets every 4th flag of the same qwords
  std::vector<std::thread> threads;
  std::atomic<unsigned> raised{0};
  for (unsigned t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (unsigned i = 0; i < kFlagsEach; ++i) {
        hv::IrqBatch irqs;
        EXPECT_EQ(synic(0).signal_event(3, i * kThreads + t, &memory_, irqs), Status::kSuccess);
        raised += static_cast<unsigned>(irqs.size());
      }
    });
  }
  for (auto& th : threads) th.join();
  for (unsigned q = 0; q < kThreads * kFlagsEach / 64; ++q) {
    EXPECT_EQ(flags_qword(0, 3, q * 64), ~0ull) << q;
  }
  EXPECT_EQ(raised.load(), kThreads * kFlagsEach);
}

TEST_F(SynicEngine, HostSignalledSintRaisesItsVector) {
  set_sint(1, 12, 0xBC, true);
  EXPECT_TRUE(hv::signal_sint(*root_, 1, 0, 12));
  EXPECT_FALSE(hv::signal_sint(*root_, 1, 0, 13));  // masked
  EXPECT_FALSE(hv::signal_sint(*root_, 1, 0, 16));
  EXPECT_FALSE(hv::signal_sint(*root_, 7, 0, 12));
  const auto s = sints();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].vp_index, 1u);
  EXPECT_EQ(s[0].vector, 0xBC);
  EXPECT_TRUE(s[0].auto_eoi);
  EXPECT_EQ(s[0].source, 12);
}

}  // namespace
}  // namespace hvk::test
