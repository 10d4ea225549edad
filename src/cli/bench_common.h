// Pieces every `hvk bench` measurement shares: where the guests are, the TSC frequency, the
// guests' "<guest>: <kind> key=value ..." lines, medians, and how a failure is reported.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cli/bench.h"

namespace hvk::cli::bench_detail {

// "hvk bench: <message>" on stderr; returns 1.
int error(const std::string& message);

// The bench guests: --guest, else next to hvk in the build tree (build/src/cli/hvk ->
// build/guests/bench.elf); bench-smp.elf and bench-synic.elf sit next to bench.elf.
std::string round_trip_guest(const BenchOptions& o);
std::string smp_guest(const BenchOptions& o);
std::string synic_guest(const BenchOptions& o);
// This executable (/proc/self/exe), for `hvk run` child processes.
std::string self_exe();

// KVM's TSC frequency for a new vCPU (what a guest's TSC counts at under hvk and under QEMU on
// this host, neither asking for TSC scaling); nullopt with `why` when KVM does not say.
std::optional<double> kvm_tsc_hz(std::string& why);

// The fields of a line "<prefix>: <kind> k=v k=v ..." (prefix "bench-smp", "bench-synic") whose
// kind is `kind`, or of any kind when `kind` is empty (the kind then also as fields["kind"]);
// nullopt otherwise.
std::optional<std::map<std::string, std::string>> guest_fields(const std::string& line,
                                                               const std::string& prefix,
                                                               const std::string& kind);
// fields[key] as a number (0 when absent or not a number).
double number(const std::map<std::string, std::string>& fields, const std::string& key);

double median(std::vector<double> values);  // 0 for none

}  // namespace hvk::cli::bench_detail
