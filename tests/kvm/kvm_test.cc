// Kvm and Vm set-up against the real /dev/kvm.

#include "kvm/kvm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>

#include "guest.h"
#include "kvm/vm.h"

namespace hvk::kvm::testing {
namespace {

TEST(Kvm, MissingDeviceIsOneLine) {
  const std::string reason = Kvm::check_capabilities("/dev/no-such-kvm");
  EXPECT_EQ(reason, "/dev/no-such-kvm does not exist (is the kvm module loaded?)");
  auto kvm = Kvm::open("/dev/no-such-kvm");
  ASSERT_FALSE(kvm);
  EXPECT_EQ(kvm.error().message(), "open /dev/no-such-kvm: No such file or directory (errno 2)");
}

TEST(Kvm, NotKvmIsReported) {
  auto kvm = Kvm::open("/dev/null");
  ASSERT_FALSE(kvm);
  EXPECT_EQ(kvm.error().op, "KVM_GET_API_VERSION");
  EXPECT_EQ(kvm.error().err, ENOTTY);
}

class KvmHost : public KvmTest {};

TEST_F(KvmHost, CapabilitiesPass) {
  EXPECT_EQ(Kvm::check_capabilities(), "");
  auto kvm = Kvm::open();
  ASSERT_TRUE(kvm) << kvm.error().message();
  EXPECT_TRUE(kvm->missing_capabilities().empty());
  EXPECT_GE(kvm->max_vcpus(), 1u);
  EXPECT_GE(kvm->vcpu_mmap_size(), sizeof(kvm_run));
  EXPECT_EQ(kvm->extension(0xffffff), 0);
}

TEST_F(KvmHost, SupportedCpuidHasBasicLeavesAndIsCached) {
  auto kvm = Kvm::open();
  ASSERT_TRUE(kvm);
  auto first = kvm->supported_cpuid();
  ASSERT_TRUE(first) << first.error().message();
  auto has = [&](std::uint32_t leaf) {
    return std::any_of(first->begin(), first->end(),
                       [&](const kvm_cpuid_entry2& e) { return e.function == leaf; });
  };
  EXPECT_TRUE(has(0));
  EXPECT_TRUE(has(1));
  EXPECT_TRUE(has(0x80000001));
  auto second = kvm->supported_cpuid();
  ASSERT_TRUE(second);
  EXPECT_EQ(first->size(), second->size());
}

TEST_F(KvmHost, VmWithSplitIrqchipMemoryAndVcpu) {
  auto kvm = Kvm::open();
  ASSERT_TRUE(kvm);
  auto vm = kvm->create_vm();
  ASSERT_TRUE(vm) << vm.error().message();
  ASSERT_TRUE(vm->enable_split_irqchip()) << "split irqchip";
  ASSERT_TRUE(vm->enable_user_space_msr(MsrExits::kUnknown | MsrExits::kFilter));
  const MsrRange synthetic[] = {{0x40000000, 0x100}};
  auto filter = vm->set_msr_filter(synthetic);
  ASSERT_TRUE(filter) << filter.error().message();
  ASSERT_TRUE(vm->set_tss_addr(0xfffbd000));
  ASSERT_TRUE(vm->set_identity_map_addr(0xfffbc000));
  auto ram = Mapping::anonymous(1 << 20);
  ASSERT_TRUE(ram);
  auto region = vm->set_user_memory_region(0, 0, ram->size(), ram->data());
  ASSERT_TRUE(region) << region.error().message();
  auto vcpu = vm->create_vcpu(0);
  ASSERT_TRUE(vcpu) << vcpu.error().message();
  EXPECT_EQ(vcpu->id(), 0u);
  EXPECT_EQ(vcpu->run_struct().immediate_exit, 0);
  auto mp = vcpu->mp_state();
  ASSERT_TRUE(mp);
  EXPECT_EQ(mp->mp_state, KVM_MP_STATE_RUNNABLE);  // vCPU 0 is the BSP
}

TEST_F(KvmHost, ErrorsNameTheIoctlAndErrno) {
  auto kvm = Kvm::open();
  ASSERT_TRUE(kvm);
  auto vm = kvm->create_vm();
  ASSERT_TRUE(vm);
  auto ram = Mapping::anonymous(1 << 16);
  ASSERT_TRUE(ram);
  auto r = vm->set_user_memory_region(0, 0, 0x1001, ram->data());  // size not page aligned
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "KVM_SET_USER_MEMORY_REGION: Invalid argument (errno 22)");

  auto vcpu = vm->create_vcpu(0);
  ASSERT_TRUE(vcpu);
  auto again = vm->create_vcpu(0);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().message(), "KVM_CREATE_VCPU: File exists (errno 17)");

  auto late = vm->enable_split_irqchip();  // must come before the first vCPU
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().message(),
            "KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP): File exists (errno 17)");

  // Too many MSRs in one range is refused before KVM sees it.
  const MsrRange huge[] = {{0, 20000}};
  auto filter = vm->set_msr_filter(huge);
  ASSERT_FALSE(filter);
  EXPECT_EQ(filter.error().err, EINVAL);

  auto msr = vcpu->msr(0xdeadbeef);  // no such MSR
  ASSERT_FALSE(msr);
  EXPECT_EQ(msr.error().message(), "KVM_GET_MSRS: MSR 0xdeadbeef refused");
}

TEST_F(KvmHost, MsrListRoundTrip) {
  auto g = Guest::create();
  ASSERT_TRUE(g) << g.error().message();
  const MsrValue values[] = {{0x174, 0x10},
                             {0xc0000102, 0xffff800012345000}};  // SYSENTER_CS, KERNEL_GS_BASE
  ASSERT_TRUE(g->vcpu.set_msrs(values));
  MsrValue read[] = {{0x174, 0}, {0xc0000102, 0}};
  auto r = g->vcpu.get_msrs(read);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(read[0].value, 0x10u);
  EXPECT_EQ(read[1].value, 0xffff800012345000u);
  auto one = g->vcpu.msr(0xc0000102);
  ASSERT_TRUE(one);
  EXPECT_EQ(*one, 0xffff800012345000u);
}

}  // namespace
}  // namespace hvk::kvm::testing
