// Guests that run: exits, sync regs, MSR exits, exception injection, MSIs and kicks.

#include <gtest/gtest.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "guest.h"
#include "kvm/kick.h"

namespace hvk::kvm::testing {
namespace {

class Run : public KvmTest {
 protected:
  void SetUp() override {
    KvmTest::SetUp();
    if (IsSkipped()) return;
    auto g = Guest::create(options_);
    ASSERT_TRUE(g) << g.error().message();
    guest_.emplace(std::move(*g));
  }
  // Puts the guest in long mode at kCode running `code`, with sync regs on.
  void start_long_mode(std::initializer_list<std::uint8_t> code) {
    auto r = guest_->enter_long_mode(kCode);
    ASSERT_TRUE(r) << r.error().message();
    guest_->write(kCode, code);
    r = guest_->vcpu.enable_sync_regs();
    ASSERT_TRUE(r) << r.error().message();
  }
  // Runs until an exit that is not an interruption.
  Result<Exit> run() {
    for (;;) {
      auto exit = guest_->vcpu.run();
      if (!exit || !std::holds_alternative<exits::Intr>(*exit)) return exit;
    }
  }

  GuestOptions options_;
  std::optional<Guest> guest_;
};

constexpr std::uint8_t kOut10[] = {0xe6, 0x10};  // out 0x10, al

TEST_F(Run, RealModeOut) {
  ASSERT_TRUE(guest_->enter_real_mode(0x1000));
  guest_->write(0x1000, {0xb0, 0x42,  // mov al, 0x42
                         0xe6, 0xf4,  // out 0xf4, al
                         0xf4});      // hlt
  auto exit = run();
  const auto* io = as<exits::Io>(exit);
  ASSERT_NE(io, nullptr);
  EXPECT_EQ(io->port, 0xf4);
  EXPECT_TRUE(io->is_out());
  EXPECT_EQ(io->size, 1);
  EXPECT_EQ(io->count, 1u);
  ASSERT_EQ(io->data.size(), 1u);
  EXPECT_EQ(io->data[0], 0x42);
  EXPECT_EQ(describe(*exit), "io out port 0xf4 size 1 count 1 data 42");
  ASSERT_NE(as<exits::Hlt>(run()), nullptr);
}

TEST_F(Run, RealModeIn) {
  ASSERT_TRUE(guest_->enter_real_mode(0x1000));
  guest_->write(0x1000, {0xe4, 0x60,  // in al, 0x60
                         0xe6, 0x61,  // out 0x61, al
                         0xf4});
  auto exit = run();
  const auto* in = as<exits::Io>(exit);
  ASSERT_NE(in, nullptr);
  EXPECT_EQ(in->port, 0x60);
  EXPECT_FALSE(in->is_out());
  in->data[0] = 0x5a;
  exit = run();
  const auto* out = as<exits::Io>(exit);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->port, 0x61);
  EXPECT_EQ(out->data[0], 0x5a);
}

TEST_F(Run, LongModeSyncRegs) {
  start_long_mode({0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,  // mov rax, imm64
                   kOut10[0], kOut10[1],                                        // out 0x10, al
                   0xe6, 0x11,                                                  // out 0x11, al
                   0xf4});
  auto exit = run();
  const auto* io = as<exits::Io>(exit);
  ASSERT_NE(io, nullptr);
  EXPECT_EQ(io->port, 0x10);
  EXPECT_EQ(io->data[0], 0x88);
  // Read from kvm_run, not KVM_GET_REGS.
  EXPECT_EQ(guest_->vcpu.synced_regs().rax, 0x1122334455667788u);
  EXPECT_EQ(guest_->vcpu.synced_regs().rip, kCode + 12);
  EXPECT_EQ(guest_->vcpu.synced_sregs().efer & 0x400, 0x400u) << "LMA";
  EXPECT_EQ(guest_->vcpu.synced_sregs().cs.l, 1);

  guest_->vcpu.edit_synced_regs().rax = 0xab;  // written back by the next KVM_RUN
  exit = run();
  io = as<exits::Io>(exit);
  ASSERT_NE(io, nullptr);
  EXPECT_EQ(io->port, 0x11);
  EXPECT_EQ(io->data[0], 0xab);
  EXPECT_EQ(guest_->vcpu.synced_regs().rax, 0xabu);
  EXPECT_EQ(guest_->vcpu.run_struct().kvm_dirty_regs, 0u) << "KVM clears the dirty bits";
  ASSERT_NE(as<exits::Hlt>(run()), nullptr);
}

TEST_F(Run, CpuidLeafFromSetCpuid) {
  auto cpuid = guest_->kvm.supported_cpuid();
  ASSERT_TRUE(cpuid);
  // KVM lists its own signature at 0x40000000; ours replaces it.
  std::erase_if(*cpuid, [](const kvm_cpuid_entry2& e) { return e.function == 0x40000000; });
  kvm_cpuid_entry2 leaf{};
  leaf.function = 0x40000000;
  leaf.eax = 0x40000005;
  leaf.ebx = 0x12345678;
  cpuid->push_back(leaf);
  start_long_mode({0xb8, 0x00, 0x00, 0x00, 0x40,  // mov eax, 0x40000000
                   0x0f, 0xa2,                    // cpuid
                   kOut10[0], kOut10[1], 0xf4});
  ASSERT_TRUE(guest_->vcpu.set_cpuid(*cpuid));
  ASSERT_NE(as<exits::Io>(run()), nullptr);
  EXPECT_EQ(guest_->vcpu.synced_regs().rax, 0x40000005u);
  EXPECT_EQ(guest_->vcpu.synced_regs().rbx, 0x12345678u);
}

class MsrExitsRun : public Run {
 protected:
  void SetUp() override {
    Run::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_TRUE(guest_->vm.enable_user_space_msr(MsrExits::kFilter));
    const MsrRange synthetic[] = {{0x40000000, 0x100}};
    auto r = guest_->vm.set_msr_filter(synthetic);
    ASSERT_TRUE(r) << r.error().message();
  }
};

TEST_F(MsrExitsRun, FilteredMsrWriteAndRead) {
  start_long_mode({0xb9,      0x00,      0x00, 0x00, 0x40,  // mov ecx, 0x40000000
                   0xb8,      0xef,      0xcd, 0xab, 0x89,  // mov eax, 0x89abcdef
                   0xba,      0x67,      0x45, 0x23, 0x01,  // mov edx, 0x01234567
                   0x0f,      0x30,                         // wrmsr
                   0x0f,      0x32,                         // rdmsr
                   kOut10[0], kOut10[1], 0xf4});
  auto exit = run();
  const auto* write = as<exits::MsrWrite>(exit);
  ASSERT_NE(write, nullptr);
  EXPECT_EQ(write->index, 0x40000000u);
  EXPECT_EQ(write->data, 0x0123456789abcdefu);
  EXPECT_EQ(write->reason, static_cast<std::uint32_t>(KVM_MSR_EXIT_REASON_FILTER));

  exit = run();
  const auto* read = as<exits::MsrRead>(exit);
  ASSERT_NE(read, nullptr);
  EXPECT_EQ(read->index, 0x40000000u);
  read->set_data(0xfeedface12345678);

  ASSERT_NE(as<exits::Io>(run()), nullptr);
  EXPECT_EQ(guest_->vcpu.synced_regs().rax, 0x12345678u);
  EXPECT_EQ(guest_->vcpu.synced_regs().rdx, 0xfeedfaceu);
}

TEST_F(MsrExitsRun, RefusedReadRaisesGp) {
  start_long_mode({0xb9, 0x01, 0x00, 0x00, 0x40,  // mov ecx, 0x40000001
                   0x0f, 0x32,                    // rdmsr
                   kOut10[0], kOut10[1], 0xf4});
  auto exit = run();
  const auto* read = as<exits::MsrRead>(exit);
  ASSERT_NE(read, nullptr);
  EXPECT_EQ(read->index, 0x40000001u);
  read->set_error();
  exit = run();
  const auto* io = as<exits::Io>(exit);
  ASSERT_NE(io, nullptr);
  EXPECT_EQ(io->port, kExceptionPort);
  EXPECT_EQ(io->data[0], 13) << "#GP";
  EXPECT_EQ(guest_->vcpu.synced_regs().rbx, 0u) << "error code";
  EXPECT_EQ(guest_->read64(kStackTop - 40), kCode + 5) << "faulting rip: the rdmsr";
}

TEST_F(Run, InjectedUdReachesTheIdt) {
  start_long_mode({kOut10[0], kOut10[1],  // out 0x10, al
                   0xf4});
  ASSERT_NE(as<exits::Io>(run()), nullptr);
  auto r = guest_->vcpu.inject_exception(6);
  ASSERT_TRUE(r) << r.error().message();
  auto exit = run();
  const auto* io = as<exits::Io>(exit);
  ASSERT_NE(io, nullptr);
  EXPECT_EQ(io->port, kExceptionPort);
  EXPECT_EQ(io->data[0], 6) << "#UD";
  // The out completed first, so the exception's rip is the instruction after it.
  EXPECT_EQ(guest_->vcpu.synced_regs().rbx, kCode + 2);
}

TEST_F(Run, InjectWithoutSyncRegsUsesIoctls) {
  ASSERT_TRUE(guest_->enter_long_mode(kCode));
  guest_->write(kCode, {kOut10[0], kOut10[1], 0xf4});
  ASSERT_NE(as<exits::Io>(run()), nullptr);
  ASSERT_TRUE(guest_->vcpu.inject_exception(13, true, 0x1234));
  auto exit = run();
  const auto* io = as<exits::Io>(exit);
  ASSERT_NE(io, nullptr);
  EXPECT_EQ(io->data[0], 13);
  auto regs = guest_->vcpu.regs();
  ASSERT_TRUE(regs);
  EXPECT_EQ(regs->rbx, 0x1234u) << "error code pushed";
}

TEST_F(Run, MmioOutsideRam) {
  start_long_mode({0xb8, 0x00, 0x00, 0x30, 0x00,        // mov eax, 0x300000 (past the 2 MiB RAM)
                   0xc7, 0x00, 0x44, 0x33, 0x22, 0x11,  // mov dword [rax], 0x11223344
                   0x8b, 0x18,                          // mov ebx, [rax]
                   kOut10[0], kOut10[1], 0xf4});
  auto exit = run();
  const auto* write = as<exits::Mmio>(exit);
  ASSERT_NE(write, nullptr);
  EXPECT_TRUE(write->is_write);
  EXPECT_EQ(write->addr, 0x300000u);
  EXPECT_EQ(describe(*exit), "mmio write 0x300000 len 4 data 44332211");
  exit = run();
  const auto* read = as<exits::Mmio>(exit);
  ASSERT_NE(read, nullptr);
  EXPECT_FALSE(read->is_write);
  ASSERT_EQ(read->data.size(), 4u);
  const std::uint8_t value[] = {0xef, 0xbe, 0xad, 0xde};
  std::copy(std::begin(value), std::end(value), read->data.begin());
  ASSERT_NE(as<exits::Io>(run()), nullptr);
  EXPECT_EQ(guest_->vcpu.synced_regs().rbx, 0xdeadbeefu);
}

TEST_F(Run, TripleFaultIsShutdown) {
  start_long_mode({0x0f, 0x0b});  // ud2, with no IDT to take it
  guest_->vcpu.edit_synced_sregs().idt.limit = 0;
  ASSERT_NE(as<exits::Shutdown>(run()), nullptr);
}

TEST_F(Run, ImmediateExitReturnsAtOnce) {
  ASSERT_TRUE(guest_->enter_real_mode(0x1000));
  guest_->write(0x1000, {0xeb, 0xfe});  // jmp $
  guest_->vcpu.set_immediate_exit(true);
  EXPECT_TRUE(guest_->vcpu.immediate_exit());
  auto exit = guest_->vcpu.run();
  ASSERT_NE(as<exits::Intr>(exit), nullptr);
  guest_->vcpu.set_immediate_exit(false);
}

class SplitIrqchipRun : public Run {
 protected:
  SplitIrqchipRun() { options_.split_irqchip = true; }
};

TEST_F(SplitIrqchipRun, KickEndsAHaltInsideKvmRun) {
  ASSERT_TRUE(install_kick_handler());
  ASSERT_TRUE(guest_->enter_real_mode(0x1000));
  guest_->write(0x1000, {0xfa, 0xf4, 0xeb, 0xfd});  // cli; hlt; jmp back to hlt
  std::atomic<bool> kicked{false};
  const pthread_t self = pthread_self();
  std::thread kicker([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    kicked = true;
    guest_->vcpu.set_immediate_exit(true);
    ASSERT_TRUE(kick(self));
  });
  auto exit = guest_->vcpu.run();  // the in-kernel LAPIC halts the vCPU inside KVM_RUN
  kicker.join();
  EXPECT_TRUE(kicked);
  ASSERT_NE(as<exits::Intr>(exit), nullptr);
  guest_->vcpu.set_immediate_exit(false);
  auto mp = guest_->vcpu.mp_state();
  ASSERT_TRUE(mp);
  EXPECT_EQ(mp->mp_state, KVM_MP_STATE_HALTED);
}

// Machine::start_threads' race: a VP's thread halts inside KVM_RUN before the std::thread that
// started it is assigned; a kick through its KickTarget ends the halt anyway (one through the
// unassigned std::thread found no thread and sent nothing).
TEST_F(SplitIrqchipRun, KickTargetEndsAHaltBeforeTheThreadIsAssigned) {
  ASSERT_TRUE(install_kick_handler());
  ASSERT_TRUE(guest_->enter_real_mode(0x1000));
  guest_->write(0x1000, {0xfa, 0xf4, 0xeb, 0xfd});  // cli; hlt; jmp back to hlt
  KickTarget target;
  std::atomic<bool> published{false};
  std::atomic<int> intr{0};
  std::thread started([&] {
    target.publish_self();
    published = true;
    auto exit = guest_->vcpu.run();
    intr = as<exits::Intr>(exit) != nullptr ? 1 : 2;
  });
  while (!published) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // halted inside KVM_RUN by now
  guest_->vcpu.set_immediate_exit(true);
  EXPECT_TRUE(target.kick());
  std::thread slot_thread = std::move(started);  // assigned only now
  slot_thread.join();
  EXPECT_EQ(intr, 1);
  guest_->vcpu.set_immediate_exit(false);
}

TEST_F(SplitIrqchipRun, MsiReachesTheGuestIdt) {
  start_long_mode({0xb8, 0xf0, 0x00, 0xe0, 0xfe,        // mov eax, 0xfee000f0 (LAPIC SVR)
                   0xc7, 0x00, 0xff, 0x01, 0x00, 0x00,  // mov dword [rax], 0x1ff: enable
                   kOut10[0], kOut10[1],                // out 0x10, al
                   0xfb,                                // sti
                   0xf4});                              // hlt
  ASSERT_NE(as<exits::Io>(run()), nullptr);
  auto delivered = guest_->vm.signal_msi(0xfee00000, 0x40);  // APIC ID 0, fixed, vector 0x40
  ASSERT_TRUE(delivered) << delivered.error().message();
  EXPECT_TRUE(*delivered);
  auto exit = run();
  const auto* io = as<exits::Io>(exit);
  ASSERT_NE(io, nullptr);
  EXPECT_EQ(io->port, kExceptionPort);
  EXPECT_EQ(io->data[0], 0x40);
}

}  // namespace
}  // namespace hvk::kvm::testing
