// fuzz_cli: the command line's value parsers, parse_size (--mem, --child-mem) and
// parse_privileges (--privileges), on arbitrary strings and on strings built from their grammar.
//
//   - parse_size accepts exactly <decimal digits>[KkMmGg] whose value fits 64 bits, and returns
//     that value (checked against std::from_chars and overflow builtins); printing a number (with
//     a suffix) and parsing it back gives the number;
//   - parse_privileges on a string that starts with a digit is strtoull base 0 of all of it; on a
//     list of "none", "default", "Name", "+Name", "-Name" it applies them in order to the default
//     mask; it fills `why` (one line) exactly when it fails and leaves it alone otherwise; any
//     mask it returns from names holds only default or named bits; a list with an empty item (a
//     leading, trailing or doubled comma) is refused.
//
// Input: the first byte chooses the mode, the rest is the string (or the grammar's choices).
// Command-line arguments hold no NUL, so the strings are cut at the first one.
#include <fuzzer/FuzzedDataProvider.h>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "cli/privileges.h"
#include "cli/run.h"
#include "fuzz_check.h"
#include "hv/partition.h"

namespace {

using hvk::cli::parse_privileges;
using hvk::cli::parse_size;

struct Named {
  std::string_view name;
  unsigned bit;
};
constexpr Named kPrivileges[] = {
    {"VpRuntime", 0},        {"PartitionReferenceCounter", 1}, {"SynicRegs", 2},
    {"SyntheticTimerRegs", 3}, {"IntrCtrlRegs", 4},            {"HypercallMsrs", 5},
    {"VpIndex", 6},          {"ResetReg", 7},                  {"StatsReg", 8},
    {"PartitionReferenceTsc", 9}, {"GuestIdleReg", 10},        {"FrequencyRegs", 11},
    {"DebugRegs", 12},       {"ReenlightenmentControls", 13},  {"CreatePartitions", 32},
    {"AccessPartitionId", 33}, {"AccessMemoryPool", 34},       {"PostMessages", 36},
    {"SignalEvents", 37},    {"CreatePort", 38},               {"ConnectPort", 39},
    {"AccessStats", 40},     {"Debugging", 43},                {"CpuManagement", 44},
    {"AccessVsm", 48},       {"AccessVpRegisters", 49},        {"FastHypercallOutput", 51},
    {"EnableExtendedHypercalls", 52}, {"StartVirtualProcessor", 53}, {"Isolation", 54},
};

std::uint64_t named_bits() {
  std::uint64_t m = 0;
  for (const Named& n : kPrivileges) m |= std::uint64_t{1} << n.bit;
  return m;
}

// <digits>[KkMmGg], the value without overflow; nullopt otherwise.
std::optional<std::uint64_t> expected_size(std::string_view t) {
  std::size_t digits = 0;
  while (digits < t.size() && t[digits] >= '0' && t[digits] <= '9') ++digits;
  if (digits == 0) return std::nullopt;
  std::uint64_t v = 0;
  const auto r = std::from_chars(t.data(), t.data() + digits, v);
  if (r.ec != std::errc{}) return std::nullopt;
  if (digits == t.size()) return v;
  if (digits + 1 != t.size()) return std::nullopt;
  std::uint64_t unit = 0;
  switch (t[digits]) {
    case 'K': case 'k': unit = std::uint64_t{1} << 10; break;
    case 'M': case 'm': unit = std::uint64_t{1} << 20; break;
    case 'G': case 'g': unit = std::uint64_t{1} << 30; break;
    default: return std::nullopt;
  }
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(v, unit, &bytes)) return std::nullopt;
  return bytes;
}

// strtoull(text, base 0) of the whole text.
std::optional<std::uint64_t> expected_number(std::string_view t) {
  int base = 10;
  if (t.size() > 1 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
    base = 16;
    t.remove_prefix(2);
  } else if (t.size() > 1 && t[0] == '0') {
    base = 8;
  }
  std::uint64_t v = 0;
  const auto r = std::from_chars(t.data(), t.data() + t.size(), v, base);
  if (r.ec != std::errc{} || r.ptr != t.data() + t.size()) return std::nullopt;
  return v;
}

void check_size(const std::string& text) {
  const auto got = parse_size(text);
  const auto want = expected_size(text);
  HVK_FUZZ_CHECK(got.has_value() == want.has_value());
  if (got) HVK_FUZZ_CHECK(*got == *want);
}

void check_privileges_raw(const std::string& text) {
  std::string why = "unchanged";
  const auto got = parse_privileges(text, why);
  if (got) {
    HVK_FUZZ_CHECK(why == "unchanged");
  } else {
    HVK_FUZZ_CHECK(!why.empty() && why != "unchanged");
    HVK_FUZZ_CHECK(why.rfind("--privileges: ", 0) == 0);
  }
  if (!text.empty() && text[0] >= '0' && text[0] <= '9') {
    const auto want = expected_number(text);
    HVK_FUZZ_CHECK(got.has_value() == want.has_value());
    if (got) HVK_FUZZ_CHECK(got->raw == *want);
  } else {
    if (got) {
      HVK_FUZZ_CHECK((got->raw & ~(named_bits() | hvk::hv::default_privileges().raw)) == 0);
    }
    const bool empty_item = !text.empty() && (text.front() == ',' || text.back() == ',' ||
                                              text.find(",,") != std::string::npos);
    if (empty_item) HVK_FUZZ_CHECK(!got && why.find("empty item") != std::string::npos);
  }
}

// A --privileges list built from the grammar, and the mask it means.
void check_privileges_grammar(FuzzedDataProvider& in) {
  const std::uint64_t def = hvk::hv::default_privileges().raw;
  std::uint64_t mask = def;
  std::string text;
  const int n = in.ConsumeIntegralInRange<int>(0, 12);
  for (int i = 0; i < n; ++i) {
    if (i != 0) text += ',';
    const Named& p = kPrivileges[in.ConsumeIntegralInRange<std::size_t>(0, std::size(kPrivileges) - 1)];
    const std::uint64_t bit = std::uint64_t{1} << p.bit;
    switch (in.ConsumeIntegralInRange<int>(0, 4)) {
      case 0: text += "none"; mask = 0; break;
      case 1: text += "default"; mask = def; break;
      case 2: text += p.name; mask |= bit; break;
      case 3: text += '+'; text += p.name; mask |= bit; break;
      default: text += '-'; text += p.name; mask &= ~bit; break;
    }
  }
  std::string why;
  const auto got = parse_privileges(text, why);
  hvk::fuzz::log_line("privileges '%s' -> %s\n", text.c_str(), got ? "ok" : why.c_str());
  HVK_FUZZ_CHECK(got.has_value());
  HVK_FUZZ_CHECK(got->raw == mask);

  // The same mask as a number, in hex, decimal and octal.
  for (const char* format : {"%#llx", "%llu", "0%llo"}) {
    char buf[32];
    std::snprintf(buf, sizeof buf, format, static_cast<unsigned long long>(mask));
    const auto num = parse_privileges(buf, why);
    HVK_FUZZ_CHECK(num.has_value() && num->raw == mask);
  }
}

void check_size_roundtrip(FuzzedDataProvider& in) {
  const std::uint64_t v = in.ConsumeIntegral<std::uint64_t>() >> in.ConsumeIntegralInRange<unsigned>(0, 63);
  constexpr std::pair<const char*, unsigned> kSuffixes[] = {
      {"", 0}, {"K", 10}, {"k", 10}, {"M", 20}, {"m", 20}, {"G", 30}, {"g", 30}};
  const auto& [suffix, shift] = kSuffixes[in.ConsumeIntegralInRange<std::size_t>(0, std::size(kSuffixes) - 1)];
  const std::string zeros(in.ConsumeIntegralInRange<std::size_t>(0, 3), '0');
  const auto got = parse_size(zeros + std::to_string(v) + suffix);
  if (shift != 0 && v > (UINT64_MAX >> shift)) {
    HVK_FUZZ_CHECK(!got);
  } else {
    HVK_FUZZ_CHECK(got && *got == v << shift);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  switch (in.ConsumeIntegralInRange<int>(0, 3)) {
    case 0: case 1: {
      std::string text = in.ConsumeRemainingBytesAsString();
      text = text.substr(0, text.find('\0'));  // argv strings end at the first NUL
      check_size(text);
      check_privileges_raw(text);
      break;
    }
    case 2: check_privileges_grammar(in); break;
    default: check_size_roundtrip(in); break;
  }
  return 0;
}
