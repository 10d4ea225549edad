#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kvm/fd.h"
#include "kvm/linux_kvm.h"
#include "kvm/result.h"

namespace hvk::kvm {

class Vm;

// The /dev/kvm system handle: capabilities, supported CPUID, VM creation.
class Kvm {
 public:
  static constexpr const char* kDefaultPath = "/dev/kvm";

  // Opens the device and checks KVM_GET_API_VERSION is 12.
  static Result<Kvm> open(const char* path = kDefaultPath);

  // Empty when `path` is usable by hvk; otherwise one line naming what is missing, e.g.
  // "/dev/kvm does not exist" or "missing KVM_CAP_SPLIT_IRQCHIP, KVM_CAP_X86_MSR_FILTER".
  static std::string check_capabilities(const char* path = kDefaultPath);
  // The names of required capabilities this host lacks (empty when all are present).
  std::vector<std::string> missing_capabilities() const;

  // KVM_CHECK_EXTENSION: 0 when absent, otherwise the capability's value (often 1).
  int extension(unsigned cap) const;
  // KVM_CAP_MAX_VCPUS, falling back to KVM_CAP_NR_VCPUS, then 4 (the documented default).
  std::uint32_t max_vcpus() const;
  // KVM_GET_SUPPORTED_CPUID; fetched once, then copies of the cached entries.
  Result<std::vector<kvm_cpuid_entry2>> supported_cpuid();
  // Size of each vCPU's kvm_run mapping (KVM_GET_VCPU_MMAP_SIZE, read at open).
  std::size_t vcpu_mmap_size() const { return run_size_; }

  Result<Vm> create_vm() const;
  int fd() const { return fd_.get(); }

 private:
  Kvm(Fd fd, std::size_t run_size) : fd_(std::move(fd)), run_size_(run_size) {}

  Fd fd_;
  std::size_t run_size_;
  std::vector<kvm_cpuid_entry2> cpuid_;
};

}  // namespace hvk::kvm
