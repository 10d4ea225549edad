#include "cli/bench_common.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "cli/run.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"

namespace hvk::cli::bench_detail {

int error(const std::string& message) {
  std::fprintf(stderr, "hvk bench: %s\n", message.c_str());
  return 1;
}

std::string self_exe() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "hvk" : exe.string();
}

std::string round_trip_guest(const BenchOptions& o) {
  if (!o.guest.empty()) return o.guest;
  const std::filesystem::path exe(self_exe());
  return (exe.parent_path() / ".." / ".." / "guests" / "bench.elf").lexically_normal().string();
}

std::string smp_guest(const BenchOptions& o) {
  if (!o.smp_guest.empty()) return o.smp_guest;
  return (std::filesystem::path(round_trip_guest(o)).parent_path() / "bench-smp.elf").string();
}

std::string synic_guest(const BenchOptions& o) {
  if (!o.synic_guest.empty()) return o.synic_guest;
  return (std::filesystem::path(round_trip_guest(o)).parent_path() / "bench-synic.elf").string();
}

std::optional<double> kvm_tsc_hz(std::string& why) {
  auto kvm = open_kvm(why);
  if (!kvm) return std::nullopt;
  auto vm = kvm->create_vm();
  if (!vm) {
    why = vm.error().message();
    return std::nullopt;
  }
  auto vcpu = vm->create_vcpu(0);
  if (!vcpu) {
    why = vcpu.error().message();
    return std::nullopt;
  }
  auto khz = vcpu->tsc_khz();
  if (!khz || *khz == 0) {
    why = khz ? "KVM_GET_TSC_KHZ says 0" : khz.error().message();
    return std::nullopt;
  }
  return static_cast<double>(*khz) * 1000.0;
}

std::optional<std::map<std::string, std::string>> guest_fields(const std::string& line,
                                                               const std::string& prefix,
                                                               const std::string& kind) {
  const std::string head = prefix + ": " + (kind.empty() ? "" : kind + " ");
  const auto at = line.find(head);
  if (at == std::string::npos) return std::nullopt;
  std::map<std::string, std::string> fields;
  std::size_t i = at + head.size();
  if (kind.empty()) {  // the next word, followed by a space, is the kind
    const std::size_t end = line.find(' ', i);
    if (end == std::string::npos || end == i) return std::nullopt;
    fields["kind"] = line.substr(i, end - i);
    i = end + 1;
  }
  while (i < line.size()) {
    const std::size_t end = std::min(line.find(' ', i), line.size());
    const std::string token = line.substr(i, end - i);
    if (const auto eq = token.find('='); eq != std::string::npos) {
      fields[token.substr(0, eq)] = token.substr(eq + 1);
    }
    i = end + 1;
  }
  return fields;
}

double number(const std::map<std::string, std::string>& fields, const std::string& key) {
  const auto it = fields.find(key);
  if (it == fields.end()) return 0;
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  return end != it->second.c_str() ? v : 0;
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

}  // namespace hvk::cli::bench_detail
