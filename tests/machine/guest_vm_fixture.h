// A test fixture for machine code against the real /dev/kvm (skipped where it does not open): KVM,
// 1 MiB of guest RAM, and a root partition of two VPs whose vCPUs tests create in guest VMs; on
// request, a guest VM with VP 1's vCPU as an AP that interrupts reach as MSIs.
#pragma once

#include <gtest/gtest.h>

#include <optional>

#include "hv/hypervisor.h"
#include "kvm/kvm.h"
#include "kvm/mapping.h"
#include "machine/msi.h"
#include "machine/vtl/vtl_vm.h"

namespace hvk::machine {

class GuestVmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kvm = kvm::Kvm::open();
    if (!kvm) GTEST_SKIP() << "no KVM: " << kvm.error().message();
    kvm_.emplace(std::move(*kvm));
    auto ram = kvm::Mapping::anonymous(1 << 20);
    ASSERT_TRUE(ram) << ram.error().message();
    ram_.emplace(std::move(*ram));
    hv::PartitionConfig cfg;
    cfg.vp_count = 2;
    cfg.privileges = hv::default_privileges();
    partition_ = &hv_.create_root(cfg);
  }
  // VP `vp`'s vCPU in `vm` (create_vp_vcpu).
  kvm::Vcpu vcpu_in(kvm::Vm& vm, tlfs::VpIndex vp) {
    auto v = create_vp_vcpu(*kvm_, vm, *partition_, vp);
    EXPECT_TRUE(v) << v.error().message();
    return std::move(*v);
  }
  // vm_: a guest VM over ram_; ap_: VP 1's vCPU in it, its APIC software-enabled, which also
  // makes KVM rebuild its APIC map (a vCPU created last is missing from it until something
  // does: a guest's own APIC set-up, in a real VM).
  void add_ap() {
    auto vm = create_guest_vm(*kvm_, *ram_);
    ASSERT_TRUE(vm) << vm.error().message();
    vm_.emplace(std::move(*vm));
    ap_.emplace(vcpu_in(*vm_, 1));
    ASSERT_TRUE(software_enable_apic(*ap_));
  }
  // MSI data for the two deliveries another vCPU's ICR write would make.
  static constexpr std::uint32_t kMsiInit = 5u << 8;
  static constexpr std::uint32_t kMsiStartup = 6u << 8;  // | the SIPI vector
  // An MSI with `data` to the AP's APIC (ID 1, physical): whether it reached an APIC.
  kvm::Result<bool> signal_ap(std::uint32_t data) {
    return vm_->signal_msi(msi_address(1, false), data);
  }
  std::optional<kvm::Kvm> kvm_;
  std::optional<kvm::Mapping> ram_;
  hv::Hypervisor hv_;
  hv::Partition* partition_ = nullptr;
  std::optional<kvm::Vm> vm_;
  std::optional<kvm::Vcpu> ap_;
};

}  // namespace hvk::machine
