// One KVM VM per VTL (machine/vtl/vtl_vm.h), against the real /dev/kvm where it opens: two VMs
// over one RAM mapping, the shared TSC, and the state a VTL switch moves.
#include "machine/vtl/vtl_vm.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "guest_vm_fixture.h"

namespace hvk::machine {
namespace {

class VtlVm : public GuestVmTest {};

TEST_F(VtlVm, TwoVmsMapTheSameRam) {
  auto vm0 = create_guest_vm(*kvm_, *ram_);
  ASSERT_TRUE(vm0) << vm0.error().message();
  auto vm1 = create_guest_vm(*kvm_, *ram_);
  ASSERT_TRUE(vm1) << vm1.error().message();
  kvm::Vcpu a = vcpu_in(*vm0, 1);
  kvm::Vcpu b = vcpu_in(*vm1, 1);  // the same VP index in each VTL's VM
  EXPECT_EQ(a.id(), b.id());
  // Each VM has its own local APIC for the VP, with the same APIC ID (xAPIC ID in bits 31:24).
  auto la = a.lapic();
  auto lb = b.lapic();
  ASSERT_TRUE(la && lb);
  std::uint32_t ida = 0, idb = 0;
  std::memcpy(&ida, la->regs + 0x20, 4);
  std::memcpy(&idb, lb->regs + 0x20, 4);
  EXPECT_EQ(ida, idb);
}

TEST_F(VtlVm, AHigherVtlsApicStartsSoftwareEnabled) {
  auto vm1 = create_guest_vm(*kvm_, *ram_);
  ASSERT_TRUE(vm1) << vm1.error().message();
  kvm::Vcpu v = vcpu_in(*vm1, 1);
  auto svr = [&] {
    std::uint32_t value = 0;
    auto apic = v.lapic();
    EXPECT_TRUE(apic);
    if (apic) std::memcpy(&value, apic->regs + 0xF0, 4);
    return value;
  };
  EXPECT_EQ(svr() & 0x100u, 0u);  // KVM's reset state: software-disabled
  ASSERT_TRUE(software_enable_apic(v));
  EXPECT_EQ(svr(), 0x1FFu);
}

TEST_F(VtlVm, ALaterVtlsVcpuReadsTheSameTsc) {
  auto vm0 = create_guest_vm(*kvm_, *ram_);
  auto vm1 = create_guest_vm(*kvm_, *ram_);
  ASSERT_TRUE(vm0 && vm1);
  kvm::Vcpu a = vcpu_in(*vm0, 0);
  const auto offset = a.tsc_offset();
  kvm::Vcpu b = vcpu_in(*vm1, 0);
  auto tsc_a = a.msr(0x10);
  ASSERT_TRUE(tsc_a);
  ASSERT_TRUE(share_tsc(b, offset ? std::optional<std::int64_t>(*offset) : std::nullopt, *tsc_a));
  auto tsc_b = b.msr(0x10);
  auto tsc_a2 = a.msr(0x10);
  ASSERT_TRUE(tsc_b && tsc_a2);
  // b was read between two reads of a.
  EXPECT_GE(*tsc_b, *tsc_a);
  if (offset) {
    EXPECT_LE(*tsc_b, *tsc_a2);
  }
}

TEST_F(VtlVm, ASwitchMovesTheSharedRegistersAndKeepsThePrivateOnes) {
  auto vm0 = create_guest_vm(*kvm_, *ram_);
  auto vm1 = create_guest_vm(*kvm_, *ram_);
  ASSERT_TRUE(vm0 && vm1);
  kvm::Vcpu from = vcpu_in(*vm0, 0);
  kvm::Vcpu to = vcpu_in(*vm1, 0);
  kvm_regs& f = from.edit_synced_regs();
  f.rax = 0x1111;
  f.rcx = 0x2222;
  f.r15 = 0x3333;
  f.rip = 0xAAAA;
  f.rsp = 0xBBBB;
  kvm_regs& t = to.edit_synced_regs();
  t.rip = 0x5000;
  t.rsp = 0x6000;
  t.rflags = 0x202;
  from.edit_synced_sregs().cr2 = 0xC2C2;
  // An XMM value in the source's XSAVE image (XMM3 at byte 160 + 48; XSTATE_BV's SSE bit set, as
  // the CPU's XSAVE leaves it for a guest that used SSE).
  auto xsave = std::make_unique<kvm_xsave>();
  ASSERT_TRUE(from.xsave(*xsave));
  auto* bytes = reinterpret_cast<std::uint8_t*>(xsave->region);
  bytes[160 + 3 * 16] = 0x5A;
  bytes[512] |= 2;
  ASSERT_TRUE(from.set_xsave(*xsave));
  FpuImages images;
  ASSERT_TRUE(move_shared_state(from, 0, to, 1, images));
  const kvm_regs& r = to.synced_regs();
  EXPECT_EQ(r.rax, 0x1111u);
  EXPECT_EQ(r.rcx, 0x2222u);
  EXPECT_EQ(r.r15, 0x3333u);
  EXPECT_EQ(r.rip, 0x5000u);  // private
  EXPECT_EQ(r.rsp, 0x6000u);
  EXPECT_EQ(r.rflags, 0x202u);
  EXPECT_EQ(to.synced_sregs().cr2, 0xC2C2u);
  auto moved = to.fpu();
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->xmm[3][0], 0x5A);
}

// Conformance T8: an INIT that reached an inactive lower VTL's vCPU is dropped before it runs.
// The INIT comes as an MSI with delivery mode INIT, as another vCPU's ICR write would deliver it.
class LatchedInit : public VtlVm {
 protected:
  // An AP's vCPU made runnable at RIP 0x1234, with an INIT latched in its APIC.
  void SetUp() override {
    VtlVm::SetUp();
    if (IsSkipped()) return;
    add_ap();
    ASSERT_TRUE(ap_->set_mp_state(KVM_MP_STATE_RUNNABLE));
    ap_->edit_synced_regs().rip = 0x1234;
    auto sent = signal_ap(kMsiInit);
    ASSERT_TRUE(sent) << sent.error().message();
    ASSERT_TRUE(*sent) << "the INIT reached no APIC";
    auto ev = ap_->events();
    ASSERT_TRUE(ev);
    ASSERT_EQ(ev->smi.latched_init, 1) << "KVM did not latch the INIT";
  }
  // Enters the vCPU (immediate_exit: KVM loads the edited state, then returns) and reads its
  // run state, which makes KVM take whatever INIT is still latched.
  std::uint32_t run_once_and_read_state() {
    ap_->set_immediate_exit(true);
    auto exit = ap_->run();
    ap_->set_immediate_exit(false);
    EXPECT_TRUE(exit) << (exit ? "" : exit.error().message());
    auto mp = ap_->mp_state();
    EXPECT_TRUE(mp);
    return mp ? mp->mp_state : ~0u;
  }
};

TEST_F(LatchedInit, KvmTakesItWhenNotDropped) {
  EXPECT_EQ(run_once_and_read_state(), std::uint32_t{KVM_MP_STATE_INIT_RECEIVED});
}

TEST_F(LatchedInit, DroppedBeforeTheVcpuRuns) {
  drop_latched_init(*ap_);
  EXPECT_EQ(run_once_and_read_state(), std::uint32_t{KVM_MP_STATE_RUNNABLE});
  EXPECT_EQ(ap_->synced_events().smi.latched_init, 0);
  auto regs = ap_->regs();
  ASSERT_TRUE(regs);
  EXPECT_EQ(regs->rip, 0x1234u);  // not reset
}

TEST_F(LatchedInit, ASipiAfterItIsDroppedToo) {
  // INIT, then SIPI (vector 0x10: CS:IP 1000:0 were it taken).
  ASSERT_TRUE(signal_ap(kMsiStartup | 0x10));
  drop_latched_init(*ap_);
  EXPECT_EQ(run_once_and_read_state(), std::uint32_t{KVM_MP_STATE_RUNNABLE});
  auto regs = ap_->regs();
  ASSERT_TRUE(regs);
  EXPECT_EQ(regs->rip, 0x1234u);
}

}  // namespace
}  // namespace hvk::machine
