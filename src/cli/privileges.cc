#include "cli/privileges.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <string_view>
#include <utility>

#include "hv/partition.h"

namespace hvk::cli {

namespace {

using tlfs::Privilege;

constexpr std::pair<std::string_view, Privilege> kNames[] = {
    {"VpRuntime", Privilege::kVpRuntime},
    {"PartitionReferenceCounter", Privilege::kPartitionReferenceCounter},
    {"SynicRegs", Privilege::kSynicRegs},
    {"SyntheticTimerRegs", Privilege::kSyntheticTimerRegs},
    {"IntrCtrlRegs", Privilege::kIntrCtrlRegs},
    {"HypercallMsrs", Privilege::kHypercallMsrs},
    {"VpIndex", Privilege::kVpIndex},
    {"ResetReg", Privilege::kResetReg},
    {"StatsReg", Privilege::kStatsReg},
    {"PartitionReferenceTsc", Privilege::kPartitionReferenceTsc},
    {"GuestIdleReg", Privilege::kGuestIdleReg},
    {"FrequencyRegs", Privilege::kFrequencyRegs},
    {"DebugRegs", Privilege::kDebugRegs},
    {"ReenlightenmentControls", Privilege::kReenlightenmentControls},
    {"CreatePartitions", Privilege::kCreatePartitions},
    {"AccessPartitionId", Privilege::kAccessPartitionId},
    {"AccessMemoryPool", Privilege::kAccessMemoryPool},
    {"PostMessages", Privilege::kPostMessages},
    {"SignalEvents", Privilege::kSignalEvents},
    {"CreatePort", Privilege::kCreatePort},
    {"ConnectPort", Privilege::kConnectPort},
    {"AccessStats", Privilege::kAccessStats},
    {"Debugging", Privilege::kDebugging},
    {"CpuManagement", Privilege::kCpuManagement},
    {"AccessVsm", Privilege::kAccessVsm},
    {"AccessVpRegisters", Privilege::kAccessVpRegisters},
    {"FastHypercallOutput", Privilege::kFastHypercallOutput},
    {"EnableExtendedHypercalls", Privilege::kEnableExtendedHypercalls},
    {"StartVirtualProcessor", Privilege::kStartVirtualProcessor},
    {"Isolation", Privilege::kIsolation},
};

}  // namespace

std::optional<tlfs::PrivilegeMask> parse_privileges(const std::string& text, std::string& why,
                                                    tlfs::PrivilegeMask base) {
  if (!text.empty() && text[0] >= '0' && text[0] <= '9') {
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(text.c_str(), &end, 0);
    if (errno != 0 || end == nullptr || *end != '\0') {
      why = fmt::format("--privileges: '{}' is not a number", text);
      return std::nullopt;
    }
    return tlfs::PrivilegeMask{v};
  }
  if (text.empty()) return base;
  // Every item between commas must name something: "a,,b", ",a" and "a," are all refused.
  if (text.front() == ',' || text.back() == ',' || text.find(",,") != std::string::npos) {
    why = fmt::format("--privileges: empty item in '{}' (a leading, trailing or doubled comma)",
                      text);
    return std::nullopt;
  }
  std::uint64_t mask = base.raw;
  std::string_view rest = text;
  for (bool more = true; more;) {
    const std::size_t comma = rest.find(',');
    std::string_view token = rest.substr(0, comma);
    more = comma != std::string_view::npos;
    if (more) rest.remove_prefix(comma + 1);
    if (token == "none") {
      mask = 0;
      continue;
    }
    if (token == "default") {
      mask = base.raw;
      continue;
    }
    bool remove = false;
    if (token[0] == '-' || token[0] == '+') {
      remove = token[0] == '-';
      token.remove_prefix(1);
    }
    if (token.empty()) {
      why = fmt::format("--privileges: '{}' without a privilege name in '{}'", remove ? '-' : '+',
                        text);
      return std::nullopt;
    }
    bool found = false;
    for (const auto& [name, p] : kNames) {
      if (name == token) {
        mask = remove ? mask & ~tlfs::privilege_bit(p) : mask | tlfs::privilege_bit(p);
        found = true;
      }
    }
    if (!found) {
      why = fmt::format("--privileges: unknown privilege '{}'", token);
      return std::nullopt;
    }
  }
  return tlfs::PrivilegeMask{mask};
}

std::optional<tlfs::PrivilegeMask> parse_privileges(const std::string& text, std::string& why) {
  return parse_privileges(text, why, hv::default_privileges());
}

}  // namespace hvk::cli
