// Converting TLFS register state to KVM's and the CPUID a VP sees (no /dev/kvm needed).
#include "machine/vcpu_state.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include "hv/hypervisor.h"
#include "hv/linux_context.h"
#include "machine/cpuid.h"
#include "machine/hypercall_page.h"
#include "machine/loader/multiboot.h"

namespace hvk::machine {
namespace {

TEST(SegmentConversion, LinuxCodeSegmentBitForBit) {
  const kvm_segment k = to_kvm_segment({0x1234, 0xFFFF'FFFF, 0x10, 0xA09B});
  EXPECT_EQ(k.base, 0x1234u);
  EXPECT_EQ(k.limit, 0xFFFF'FFFFu);
  EXPECT_EQ(k.selector, 0x10);
  EXPECT_EQ(k.type, 0xB);
  EXPECT_EQ(k.s, 1);
  EXPECT_EQ(k.dpl, 0);
  EXPECT_EQ(k.present, 1);
  EXPECT_EQ(k.avl, 0);
  EXPECT_EQ(k.l, 1);
  EXPECT_EQ(k.db, 0);
  EXPECT_EQ(k.g, 1);
  EXPECT_EQ(k.unusable, 0);
}

TEST(SegmentConversion, EveryAttributeBitRoundTrips) {
  for (unsigned b : {0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u, 12u, 13u, 14u, 15u}) {
    const auto attr = static_cast<std::uint16_t>(0x80 | (1u << b));
    EXPECT_EQ(from_kvm_segment(to_kvm_segment({0, 0, 0, attr})).attributes, attr) << b;
  }
  // Bits 11:8 are reserved: kvm_segment has nowhere to keep them.
  EXPECT_EQ(from_kvm_segment(to_kvm_segment({0, 0, 0, 0x0F80})).attributes, 0x80);
}

TEST(SegmentConversion, NotPresentIsUnusable) {
  EXPECT_EQ(to_kvm_segment({0, 0, 0, 0x0093 & ~0x80}).unusable, 1);
  EXPECT_EQ(to_kvm_segment({0, 0, 0, 0}).unusable, 1);
  EXPECT_EQ(to_kvm_segment({0, 0x67, 0x40, 0x8B}).unusable, 0);
}

TEST(SegmentConversion, LoaderBootStateBecomesAValidContext) {
  Segment code{0, 0xFFFF'FFFF, 0x10, 0xB, 1, 0, 1, 0, 1, 0, 1};
  EXPECT_EQ(to_tlfs_segment(code).attributes, 0xA09B);
  Segment data{0, 0xFFFF'FFFF, 0x18, 0x3, 1, 0, 1, 0, 0, 1, 1};
  EXPECT_EQ(to_tlfs_segment(data).attributes, 0xC093);
}

TEST(SegmentConversion, MultibootStateBecomesA32BitContextWithItsRegisters) {
  const BootState b = make_multiboot_state(0x200010, 0x20800);
  const tlfs::InitialVpContext c = context_from_boot_state(b);
  EXPECT_EQ(c.cs.attributes, 0xC09B);  // 32-bit code: D = 1, L = 0
  EXPECT_EQ(c.ds.attributes, 0xC093);
  EXPECT_EQ(c.cr0 & 0x80000001u, 1u);  // PE without PG
  EXPECT_EQ(c.efer, 0u);
  EXPECT_EQ(c.rip, 0x200010u);
  const EntryRegisters r = entry_registers(b);
  EXPECT_EQ(r.rax, 0x2BADB002u);
  EXPECT_EQ(r.rbx, 0x20800u);
  EXPECT_EQ(r.rsi, 0u);
  kvm_regs regs{};
  kvm_sregs sregs{};
  apply_context(regs, sregs, c);
  EXPECT_EQ(sregs.cs.db, 1);
  EXPECT_EQ(sregs.cs.l, 0);
  EXPECT_EQ(regs.rflags, 0x2u);
  // The 64-bit protocol's state carries RSI only.
  const EntryRegisters linux_regs = entry_registers(make_boot_state(0x1000000));
  EXPECT_EQ(linux_regs.rsi, 0x7000u);
  EXPECT_EQ(linux_regs.rax, 0u);
  EXPECT_EQ(linux_regs.rbx, 0u);
}

TEST(CallState, ModesAndCpl) {
  kvm_regs r{};
  kvm_sregs s{};
  r.rcx = 0x99;
  EXPECT_EQ(call_state(r, s).mode, hv::ExecMode::kReal);
  s.cr0 = 1;
  EXPECT_EQ(call_state(r, s).mode, hv::ExecMode::kProtected);
  r.rflags = 1u << 17;
  EXPECT_EQ(call_state(r, s).mode, hv::ExecMode::kVirtual8086);
  r.rflags = 2;
  s.efer = 0x500;
  s.cs.l = 0;
  EXPECT_EQ(call_state(r, s).mode, hv::ExecMode::kProtected);  // compatibility mode
  s.cs.l = 1;
  s.ss.dpl = 3;
  const hv::VpCallState st = call_state(r, s);
  EXPECT_EQ(st.mode, hv::ExecMode::k64Bit);
  EXPECT_EQ(st.cpl, 3);
  EXPECT_EQ(st.regs.rcx, 0x99u);
}

TEST(VpCpuid, ReplacesKvmLeavesAndSetsHypervisorBitAndApicId) {
  std::vector<kvm_cpuid_entry2> supported(3);
  supported[0].function = 1;
  supported[0].ebx = 0xAB00'0800;
  supported[1].function = 0x4000'0000;  // KVM's signature
  supported[1].ebx = 0x4B4D'564B;
  supported[2].function = 0x4000'0001;
  hv::Hypervisor hv;
  hv::PartitionConfig cfg;
  cfg.vp_count = 4;
  cfg.privileges = hv::default_privileges();
  const auto out = vp_cpuid(supported, hv.create_root(cfg), 3);
  int signature_leaves = 0;
  for (const auto& e : out) {
    if (e.function == 1) {
      EXPECT_TRUE(e.ecx & (1u << 31));
      EXPECT_EQ(e.ebx >> 24, 3u);
      EXPECT_EQ(e.ebx & 0xFFFFFF, 0x000800u);
    }
    if (e.function == 0x4000'0000) {
      ++signature_leaves;
      EXPECT_EQ(e.ebx, 0x7263'694Du);  // "Micr"
    }
  }
  EXPECT_EQ(signature_leaves, 1);
}

TEST(HypercallPage, CodeLayout) {
  using namespace hypercall_page;
  for (std::uint16_t port : {kHypercallPort, kVtlCallPort, kVtlReturnPort}) {
    const auto code = entry_code(port);
    EXPECT_EQ(code[kOutOffset], 0xE6);
    EXPECT_EQ(code[kOutOffset + 1], port);
    EXPECT_EQ(code[kRetOffset], 0xC3);     // ret
    EXPECT_EQ(code[kUdOffset + 1], 0x0B);  // ud2
    // The retry jump lands on the out.
    EXPECT_EQ(kRetryOffset + 2 + static_cast<std::int8_t>(code[kRetryOffset + 1]), kOutOffset);
    // The CPL check's jnz lands on ud2.
    EXPECT_EQ(0x08 + static_cast<std::int8_t>(code[0x07]), kUdOffset);
  }
  // Entries do not overlap, and the VSM register reports the VTL ones.
  EXPECT_LE(kHypercallEntry + kEntrySize, kVtlCallEntry);
  EXPECT_LE(kVtlCallEntry + kEntrySize, kVtlReturnEntry);
  EXPECT_EQ(kVsmCodePageOffsets & 0xFFF, kVtlCallEntry);
  EXPECT_EQ((kVsmCodePageOffsets >> 12) & 0xFFF, kVtlReturnEntry);
}

TEST(HypercallPage, InstallWritesOnlyWhatDiffers) {
  using namespace hypercall_page;
  void* mem = mmap(nullptr, kPageBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  const std::span page(static_cast<std::byte*>(mem), kPageBytes);
  install(page);
  const auto image = page_image();
  for (std::size_t i = 0; i < kPageBytes; ++i) ASSERT_EQ(page[i], std::byte{image[i]}) << i;
  EXPECT_EQ(image[kHypercallEntry + kOutOffset + 1], kHypercallPort);
  EXPECT_EQ(image[kVtlCallEntry + kOutOffset + 1], kVtlCallPort);
  EXPECT_EQ(image[kVtlReturnEntry + kOutOffset + 1], kVtlReturnPort);
  EXPECT_EQ(image[kPageBytes - 1], 0xCC);  // int3 past the code
  // The HYPERCALL MSR written again with the same GPA while other VPs call through the page (the
  // hostile guest's page race): the page already holds the code, so nothing may be written, not
  // even for a moment. Read-only memory turns any write into a crash.
  ASSERT_EQ(mprotect(mem, kPageBytes, PROT_READ), 0);
  install(page);
  ASSERT_EQ(mprotect(mem, kPageBytes, PROT_READ | PROT_WRITE), 0);
  // A page with something else in it gets the image.
  page[kHypercallEntry] = std::byte{0x90};
  page[100] = std::byte{0};
  install(page);
  for (std::size_t i = 0; i < kPageBytes; ++i) ASSERT_EQ(page[i], std::byte{image[i]}) << i;
  munmap(mem, kPageBytes);
}

TEST(HypercallPage, EntryOfAnExitRip) {
  using namespace hypercall_page;
  EXPECT_EQ(entry_of(0x08), 0x00);  // RIP at the out
  EXPECT_EQ(entry_of(0x0A), 0x00);  // RIP already past it
  EXPECT_EQ(entry_of(0x28), 0x20);
  EXPECT_EQ(entry_of(0x4A), 0x40);
  EXPECT_EQ(entry_of(0x09), -1);
  EXPECT_EQ(entry_of(0x100), -1);
  // The entry's address, from a RIP anywhere in guest memory.
  EXPECT_EQ(entry_address(0x1234'5008), 0x1234'5000u);
  EXPECT_EQ(entry_address(0xFFFF'8000'0000'104A), 0xFFFF'8000'0000'1040u);
  EXPECT_EQ(entry_address(0x1234'5009), std::nullopt);
}

}  // namespace
}  // namespace hvk::machine
