#pragma once

// A tiny guest for the kvm/ tests: one VM, RAM at GPA 0, one vCPU, and helpers that put it in
// real mode or in 64-bit long mode with identity paging, a GDT and an IDT of exception stubs.

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>

#include "kvm/kvm.h"
#include "kvm/mapping.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"

namespace hvk::kvm::testing {

// Empty when /dev/kvm is usable here; otherwise why not (checked once).
const std::string& kvm_unusable();

// Skips the test when /dev/kvm is absent or lacks what hvk needs.
class KvmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!kvm_unusable().empty()) GTEST_SKIP() << "no /dev/kvm: " << kvm_unusable();
  }
};

// Guest physical layout of the long-mode set-up.
inline constexpr std::uint64_t kPml4 = 0x1000;  // PDPT at 0x2000, 4 PDs at 0x3000-0x6fff
inline constexpr std::uint64_t kGdt = 0x7000;
inline constexpr std::uint64_t kIdt = 0x8000;
inline constexpr std::uint64_t kStubs = 0x9000;  // vector v's stub at kStubs + 16 * v
inline constexpr std::uint64_t kCode = 0x10000;
inline constexpr std::uint64_t kStackTop = 0x80000;
inline constexpr std::uint64_t kRamSize = 2 << 20;
// Every exception stub does: mov rbx, [rsp]; mov al, vector; out kExceptionPort, al; hlt.
inline constexpr std::uint16_t kExceptionPort = 0xe0;

struct GuestOptions {
  bool split_irqchip = false;  // in-kernel LAPIC (a guest hlt then blocks inside KVM_RUN)
};

struct Guest {
  Kvm kvm;
  Vm vm;
  Mapping ram;
  Vcpu vcpu;

  static Result<Guest> create(GuestOptions options = {});

  void write(std::uint64_t gpa, std::initializer_list<std::uint8_t> bytes);
  void write64(std::uint64_t gpa, std::uint64_t value);
  std::uint64_t read64(std::uint64_t gpa) const;

  // CS base 0, IP = rip, flags 2.
  Result<void> enter_real_mode(std::uint64_t rip);
  // Paging identity-maps 4 GiB with 2 MiB pages; CPUID is what KVM supports; RSP = kStackTop.
  Result<void> enter_long_mode(std::uint64_t rip);
};

// The exit as T, or a test failure naming the exit that came instead.
template <class T>
const T* as(const Result<Exit>& exit) {
  if (!exit) {
    ADD_FAILURE() << "run failed: " << exit.error().message();
    return nullptr;
  }
  const T* e = std::get_if<T>(&*exit);
  if (e == nullptr) ADD_FAILURE() << "unexpected exit: " << describe(*exit);
  return e;
}

}  // namespace hvk::kvm::testing
