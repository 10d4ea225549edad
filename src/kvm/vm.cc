#include "kvm/vm.h"

#include <sys/mman.h>

#include <string>
#include <vector>

#include "kvm/ioctl.h"
#include "kvm/linux_kvm.h"
#include "kvm/vcpu.h"

namespace hvk::kvm {
namespace {

static_assert(static_cast<std::uint32_t>(MsrExits::kInvalid) == KVM_MSR_EXIT_REASON_INVAL);
static_assert(static_cast<std::uint32_t>(MsrExits::kUnknown) == KVM_MSR_EXIT_REASON_UNKNOWN);
static_assert(static_cast<std::uint32_t>(MsrExits::kFilter) == KVM_MSR_EXIT_REASON_FILTER);

Result<void> enable_cap(int vm_fd, std::uint32_t cap, const char* cap_name, std::uint64_t arg0) {
  kvm_enable_cap enable{};
  enable.cap = cap;
  enable.args[0] = arg0;
  const std::string op = std::string("KVM_ENABLE_CAP(") + cap_name + ")";
  return detail::ioctl(vm_fd, KVM_ENABLE_CAP, op.c_str(), &enable).status();
}

}  // namespace

int Vm::extension(unsigned cap) const {
  auto r = HVK_KVM_IOCTL(fd_.get(), KVM_CHECK_EXTENSION, static_cast<unsigned long>(cap));
  return r ? *r : 0;
}

Result<void> Vm::enable_split_irqchip(std::uint32_t num_routes) {
  return enable_cap(fd_.get(), KVM_CAP_SPLIT_IRQCHIP, "KVM_CAP_SPLIT_IRQCHIP", num_routes);
}

Result<void> Vm::enable_user_space_msr(MsrExits reasons) {
  return enable_cap(fd_.get(), KVM_CAP_X86_USER_SPACE_MSR, "KVM_CAP_X86_USER_SPACE_MSR",
                    static_cast<std::uint32_t>(reasons));
}

Result<void> Vm::set_msr_filter(std::span<const MsrRange> deny) {
  constexpr std::size_t kMaxMsrsPerRange = KVM_MSR_FILTER_MAX_BITMAP_SIZE * 8;
  if (deny.size() > KVM_MSR_FILTER_MAX_RANGES) {
    return Error{"KVM_X86_SET_MSR_FILTER: more than 16 ranges", EINVAL};
  }
  kvm_msr_filter filter{};
  filter.flags = KVM_MSR_FILTER_DEFAULT_ALLOW;
  // A clear bit denies; the bitmaps only need to outlive the ioctl.
  std::vector<std::vector<std::uint8_t>> bitmaps;
  bitmaps.reserve(deny.size());
  for (std::size_t i = 0; i < deny.size(); ++i) {
    if (deny[i].count == 0 || deny[i].count > kMaxMsrsPerRange) {
      return Error{"KVM_X86_SET_MSR_FILTER: range " + std::to_string(i) + " holds " +
                       std::to_string(deny[i].count) + " MSRs (1 to 12288 allowed)",
                   EINVAL};
    }
    // KVM copies the bitmap in whole longs, so round it up to 8 bytes.
    auto& bitmap = bitmaps.emplace_back((deny[i].count + 63) / 64 * 8, std::uint8_t{0});
    auto& range = filter.ranges[i];
    range.flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE;
    range.nmsrs = deny[i].count;
    range.base = deny[i].base;
    range.bitmap = bitmap.data();
  }
  return HVK_KVM_IOCTL(fd_.get(), KVM_X86_SET_MSR_FILTER, &filter).status();
}

Result<void> Vm::set_user_memory_region(std::uint32_t slot, std::uint64_t gpa, std::uint64_t size,
                                        void* host, std::uint32_t flags) {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.flags = flags;
  region.guest_phys_addr = gpa;
  region.memory_size = size;
  region.userspace_addr = reinterpret_cast<std::uintptr_t>(host);
  return HVK_KVM_IOCTL(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region).status();
}

Result<void> Vm::set_tss_addr(std::uint64_t gpa) {
  return HVK_KVM_IOCTL(fd_.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(gpa)).status();
}

Result<void> Vm::set_identity_map_addr(std::uint64_t gpa) {
  return HVK_KVM_IOCTL(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &gpa).status();
}

Result<bool> Vm::signal_msi(std::uint64_t address, std::uint32_t data) {
  kvm_msi msi{};
  msi.address_lo = static_cast<std::uint32_t>(address);
  msi.address_hi = static_cast<std::uint32_t>(address >> 32);
  msi.data = data;
  auto r = HVK_KVM_IOCTL(fd_.get(), KVM_SIGNAL_MSI, &msi);
  if (!r) return r.error();
  return *r > 0;
}

Result<Vcpu> Vm::create_vcpu(std::uint32_t id) {
  auto fd = HVK_KVM_IOCTL(fd_.get(), KVM_CREATE_VCPU, static_cast<unsigned long>(id));
  if (!fd) return fd.error();
  Fd vcpu_fd(*fd);
  auto run =
      Mapping::map(run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd.get(), 0, "mmap kvm_run");
  if (!run) return run.error();
  return Vcpu(id, std::move(vcpu_fd), std::move(*run));
}

}  // namespace hvk::kvm
