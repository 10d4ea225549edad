// A test fixture for machine code against the real /dev/kvm (skipped where it does not open): KVM,
// 1 MiB of guest RAM, and a root partition of two VPs whose vCPUs tests create in guest VMs.
#pragma once

#include <gtest/gtest.h>

#include <optional>

#include "hv/hypervisor.h"
#include "kvm/kvm.h"
#include "kvm/mapping.h"
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
  std::optional<kvm::Kvm> kvm_;
  std::optional<kvm::Mapping> ram_;
  hv::Hypervisor hv_;
  hv::Partition* partition_ = nullptr;
};

}  // namespace hvk::machine
