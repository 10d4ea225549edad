// The warm-up of an AP's vCPU (machine/vcpu_warmup.h), against the real /dev/kvm where it opens:
// it leaves the AP as KVM keeps it until INIT-SIPI, and an INIT-SIPI racing it still starts it.
#include "machine/vcpu_warmup.h"

#include <gtest/gtest.h>

#include <cstring>
#include <optional>
#include <variant>

#include "kvm/linux_kvm.h"
#include "machine/vtl/vtl_vm.h"
#include "guest_vm_fixture.h"

namespace hvk::machine {
namespace {

class VcpuWarmup : public GuestVmTest {
 protected:
  static constexpr std::uint16_t kPort = 0xF8;

  void SetUp() override {
    GuestVmTest::SetUp();
    if (IsSkipped()) return;
    // The SIPI page: `out 0xF8, al` at 0x8000.
    const unsigned char code[] = {0xE6, kPort & 0xFF};
    std::memcpy(ram_->bytes() + 0x8000, code, sizeof code);
    add_ap();
  }
  void init_sipi() {
    ASSERT_TRUE(signal_ap(kMsiInit));
    ASSERT_TRUE(signal_ap(kMsiStartup | 0x08));  // the page at 0x8000
  }
  static bool is_out_to_port(const kvm::Exit& e) {
    const auto* io = std::get_if<kvm::exits::Io>(&e);
    return io != nullptr && io->is_out() && io->port == kPort;
  }
};

TEST_F(VcpuWarmup, LeavesTheApWaitingAsKvmKeepsIt) {
  auto w = warm_up_ap(*ap_);
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_FALSE(w->has_value());
  auto mp = ap_->mp_state();
  ASSERT_TRUE(mp);
  EXPECT_EQ(mp->mp_state, std::uint32_t{KVM_MP_STATE_UNINITIALIZED});
  auto regs = ap_->regs();
  auto sregs = ap_->sregs();
  ASSERT_TRUE(regs && sregs);
  EXPECT_EQ(regs->rip, 0xFFF0u);
  EXPECT_EQ(sregs->cs.base, 0xFFFF'0000u);
  // INIT-SIPI afterwards starts it as ever.
  init_sipi();
  auto exit = ap_->run();
  while (exit && std::holds_alternative<kvm::exits::Again>(*exit)) exit = ap_->run();
  ASSERT_TRUE(exit) << exit.error().message();
  EXPECT_TRUE(is_out_to_port(*exit)) << kvm::describe(*exit);
}

TEST_F(VcpuWarmup, AnInitSipiThatCameFirstStartsTheApAndItsExitIsHandedBack) {
  init_sipi();
  auto w = warm_up_ap(*ap_);
  ASSERT_TRUE(w) << w.error().message();
  ASSERT_TRUE(w->has_value());
  EXPECT_TRUE(is_out_to_port(**w)) << kvm::describe(**w);
}

}  // namespace
}  // namespace hvk::machine
