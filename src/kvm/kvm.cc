#include "kvm/kvm.h"

#include <fcntl.h>

#include <cerrno>
#include <cstddef>

#include "kvm/flex_buffer.h"
#include "kvm/ioctl.h"
#include "kvm/vm.h"

namespace hvk::kvm {
namespace {

constexpr int kApiVersion = 12;
constexpr std::uint64_t kSyncRegsNeeded =
    KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS;

struct Required {
  unsigned cap;
  const char* name;
};

// What hvk relies on; a host lacking any of these is reported, never worked around silently.
constexpr Required kRequired[] = {
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
    {KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"},
    {KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS"},
    {KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI"},
    {KVM_CAP_SPLIT_IRQCHIP, "KVM_CAP_SPLIT_IRQCHIP"},
    {KVM_CAP_X86_USER_SPACE_MSR, "KVM_CAP_X86_USER_SPACE_MSR"},
    {KVM_CAP_X86_MSR_FILTER, "KVM_CAP_X86_MSR_FILTER"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
};

}  // namespace

Result<Kvm> Kvm::open(const char* path) {
  Fd fd(::open(path, O_RDWR | O_CLOEXEC));
  if (!fd) return Error::from_errno(std::string("open ") + path);

  auto version = HVK_KVM_IOCTL(fd.get(), KVM_GET_API_VERSION, 0UL);
  if (!version) return version.error();
  if (*version != kApiVersion) {
    return Error{"KVM_GET_API_VERSION is " + std::to_string(*version) + ", hvk needs " +
                 std::to_string(kApiVersion)};
  }
  auto run_size = HVK_KVM_IOCTL(fd.get(), KVM_GET_VCPU_MMAP_SIZE, 0UL);
  if (!run_size) return run_size.error();
  if (static_cast<std::size_t>(*run_size) < sizeof(kvm_run)) {
    return Error{"KVM_GET_VCPU_MMAP_SIZE is " + std::to_string(*run_size) +
                 ", smaller than struct kvm_run"};
  }
  return Kvm(std::move(fd), static_cast<std::size_t>(*run_size));
}

std::string Kvm::check_capabilities(const char* path) {
  auto kvm = open(path);
  if (!kvm) {
    const Error& e = kvm.error();
    const std::string where(path);
    switch (e.err) {
      case ENOENT:
        return where + " does not exist (is the kvm module loaded?)";
      case ENODEV:
      case ENXIO:
        return where + " has no driver behind it (is kvm_intel/kvm_amd loaded?)";
      case EACCES:
      case EPERM:
        return "no permission to open " + where + " (is the user in group kvm?)";
      default:
        return e.message();
    }
  }
  auto missing = kvm->missing_capabilities();
  if (missing.empty()) return {};
  std::string line = "missing";
  for (std::size_t i = 0; i < missing.size(); ++i) line += (i == 0 ? " " : ", ") + missing[i];
  return line;
}

std::vector<std::string> Kvm::missing_capabilities() const {
  std::vector<std::string> missing;
  for (const auto& r : kRequired) {
    if (extension(r.cap) <= 0) missing.emplace_back(r.name);
  }
  // KVM_CAP_SYNC_REGS answers with the register classes that can be synced.
  auto sync = static_cast<std::uint64_t>(extension(KVM_CAP_SYNC_REGS));
  if ((sync & kSyncRegsNeeded) != kSyncRegsNeeded) {
    missing.emplace_back("KVM_CAP_SYNC_REGS (regs, sregs, events)");
  }
  return missing;
}

int Kvm::extension(unsigned cap) const {
  auto r = HVK_KVM_IOCTL(fd_.get(), KVM_CHECK_EXTENSION, static_cast<unsigned long>(cap));
  return r ? *r : 0;
}

std::uint32_t Kvm::max_vcpus() const {
  int n = extension(KVM_CAP_MAX_VCPUS);
  if (n <= 0) n = extension(KVM_CAP_NR_VCPUS);
  return n > 0 ? static_cast<std::uint32_t>(n) : 4;
}

Result<std::vector<kvm_cpuid_entry2>> Kvm::supported_cpuid() {
  static_assert(offsetof(kvm_cpuid2, entries) == sizeof(kvm_cpuid2));
  if (!cpuid_.empty()) return cpuid_;
  // KVM answers E2BIG until the buffer is large enough; it never needs more than a few hundred.
  for (std::uint32_t capacity = 128; capacity <= 4096; capacity *= 2) {
    detail::FlexBuffer<kvm_cpuid2, kvm_cpuid_entry2> buf(capacity);
    buf.header()->nent = capacity;
    auto r = HVK_KVM_IOCTL(fd_.get(), KVM_GET_SUPPORTED_CPUID, buf.header());
    if (!r && r.error().err == E2BIG) continue;
    if (!r) return r.error();
    cpuid_.assign(buf.entries(), buf.entries() + buf.header()->nent);
    return cpuid_;
  }
  return Error{"KVM_GET_SUPPORTED_CPUID", E2BIG};
}

Result<Vm> Kvm::create_vm() const {
  auto fd = HVK_KVM_IOCTL(fd_.get(), KVM_CREATE_VM, 0UL);
  if (!fd) return fd.error();
  return Vm(Fd(*fd), run_size_);
}

}  // namespace hvk::kvm
