// The timeout report's line for one VP (machine/report/vp_report.h).
#include "machine/report/vp_report.h"

#include <gtest/gtest.h>

#include <variant>

#include "kvm/exit.h"
#include "kvm/linux_kvm.h"

namespace hvk::machine {
namespace {

TEST(VpReport, ALineSaysWhereTheVpStandsAndWhatWaits) {
  VpSnapshot s;
  s.vp = 2;
  s.vtl = 1;
  s.run_state = "running";
  s.rip = 0x401a2c;
  s.rflags = 0x246;
  s.mp_state = KVM_MP_STATE_HALTED;
  s.apic = VpSnapshot::Apic{.irr = 0xb3, .isr = 0xb1, .tpr = 0x20, .enabled = true};
  s.auto_eoi_waiting = 0xb8;
  s.last_exit = "io";
  s.exits = 1234;
  EXPECT_EQ(format_snapshot(s),
            "VP 2 VTL 1 running: RIP 0x401a2c RFLAGS 0x246 (IF), KVM halted, APIC IRR 0xb3 ISR "
            "0xb1 TPR 0x20, auto-EOI 0xb8 waiting, 1234 exits, last io");
}

TEST(VpReport, WhatKvmDidNotTellIsSaidSo) {
  VpSnapshot s;
  s.run_state = "waiting for SIPI";
  s.rflags = 0x2;
  s.interrupt_injected = true;
  s.injected_vector = 0x20;
  s.nmi_pending = true;
  const std::string line = format_snapshot(s);
  EXPECT_NE(line.find("(IF clear)"), std::string::npos) << line;
  EXPECT_NE(line.find("KVM state unknown"), std::string::npos) << line;
  EXPECT_NE(line.find("vector 0x20 being injected"), std::string::npos) << line;
  EXPECT_NE(line.find("NMI pending"), std::string::npos) << line;
  EXPECT_NE(line.find("APIC unknown"), std::string::npos) << line;
  EXPECT_NE(line.find("last none"), std::string::npos) << line;
}

TEST(VpReport, EveryExitKindHasAName) {
  EXPECT_STREQ(exit_kind_name(kvm::Exit{kvm::exits::Hlt{}}.index()), "hlt");
  EXPECT_STREQ(exit_kind_name(kvm::Exit{kvm::exits::Intr{}}.index()), "kick");
  EXPECT_STREQ(exit_kind_name(kvm::Exit{kvm::exits::Debug{}}.index()), "debug");
  EXPECT_STREQ(exit_kind_name(std::variant_size_v<kvm::Exit>), "?");
}

}  // namespace
}  // namespace hvk::machine
