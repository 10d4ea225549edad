#include "guest.h"

#include <cstring>

namespace hvk::kvm::testing {

const std::string& kvm_unusable() {
  static const std::string reason = Kvm::check_capabilities();
  return reason;
}

Result<Guest> Guest::create(GuestOptions options) {
  auto kvm = Kvm::open();
  if (!kvm) return kvm.error();
  auto vm = kvm->create_vm();
  if (!vm) return vm.error();
  if (options.split_irqchip) {
    if (auto r = vm->enable_split_irqchip(); !r) return r.error();
  }
  auto ram = Mapping::anonymous(kRamSize);
  if (!ram) return ram.error();
  if (auto r = vm->set_user_memory_region(0, 0, ram->size(), ram->data()); !r) return r.error();
  auto vcpu = vm->create_vcpu(0);
  if (!vcpu) return vcpu.error();
  return Guest{std::move(*kvm), std::move(*vm), std::move(*ram), std::move(*vcpu)};
}

void Guest::write(std::uint64_t gpa, std::initializer_list<std::uint8_t> bytes) {
  std::memcpy(ram.bytes() + gpa, bytes.begin(), bytes.size());
}

void Guest::write64(std::uint64_t gpa, std::uint64_t value) {
  std::memcpy(ram.bytes() + gpa, &value, sizeof value);
}

std::uint64_t Guest::read64(std::uint64_t gpa) const {
  std::uint64_t value;
  std::memcpy(&value, ram.bytes() + gpa, sizeof value);
  return value;
}

Result<void> Guest::enter_real_mode(std::uint64_t rip) {
  auto sregs = vcpu.sregs();
  if (!sregs) return sregs.error();
  sregs->cs.base = 0;
  sregs->cs.selector = 0;
  if (auto r = vcpu.set_sregs(*sregs); !r) return r;
  kvm_regs regs{};
  regs.rip = rip;
  regs.rflags = 2;
  return vcpu.set_regs(regs);
}

Result<void> Guest::enter_long_mode(std::uint64_t rip) {
  auto cpuid = kvm.supported_cpuid();
  if (!cpuid) return cpuid.error();
  if (auto r = vcpu.set_cpuid(*cpuid); !r) return r;

  constexpr std::uint64_t kPresentWritable = 0x3, kLargePage = 0x80;
  write64(kPml4, (kPml4 + 0x1000) | kPresentWritable);
  for (std::uint64_t i = 0; i < 4; ++i) {
    const std::uint64_t pd = kPml4 + 0x2000 + i * 0x1000;
    write64(kPml4 + 0x1000 + i * 8, pd | kPresentWritable);
    for (std::uint64_t j = 0; j < 512; ++j) {
      write64(pd + j * 8, ((i << 30) + (j << 21)) | kPresentWritable | kLargePage);
    }
  }
  write64(kGdt + 0x08, 0x00af9b000000ffff);  // 64-bit code, DPL 0
  write64(kGdt + 0x10, 0x00cf93000000ffff);  // flat data
  for (std::uint64_t v = 0; v < 256; ++v) {
    const std::uint64_t stub = kStubs + v * 16;
    write(stub, {0x48, 0x8b, 0x1c, 0x24,                           // mov rbx, [rsp]
                 0xb0, static_cast<std::uint8_t>(v),               // mov al, v
                 0xe6, static_cast<std::uint8_t>(kExceptionPort),  // out kExceptionPort, al
                 0xf4,                                             // hlt
                 0xeb, 0xfd});                                     // jmp back to hlt
    // 64-bit interrupt gate: selector 8, present, DPL 0, type 0xe.
    write64(kIdt + v * 16,
            (stub & 0xffff) | (0x8ULL << 16) | (0x8eULL << 40) | ((stub >> 16 & 0xffff) << 48));
    write64(kIdt + v * 16 + 8, stub >> 32);
  }

  auto sregs = vcpu.sregs();
  if (!sregs) return sregs.error();
  kvm_segment code{};
  code.limit = 0xffffffff;
  code.selector = 0x08;
  code.type = 0xb;
  code.present = 1;
  code.s = 1;
  code.l = 1;
  code.g = 1;
  kvm_segment data = code;
  data.selector = 0x10;
  data.type = 0x3;
  data.l = 0;
  data.db = 1;
  sregs->cs = code;
  sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
  sregs->gdt = {kGdt, 3 * 8 - 1, {}};
  sregs->idt = {kIdt, 256 * 16 - 1, {}};
  sregs->cr0 = 0x80050033;  // PG | WP | NE | ET | MP | PE
  sregs->cr3 = kPml4;
  sregs->cr4 = 0x20;    // PAE
  sregs->efer = 0x500;  // LMA | LME
  if (auto r = vcpu.set_sregs(*sregs); !r) return r;
  kvm_regs regs{};
  regs.rip = rip;
  regs.rsp = kStackTop;
  regs.rflags = 2;
  return vcpu.set_regs(regs);
}

}  // namespace hvk::kvm::testing
