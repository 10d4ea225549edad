// hvk's ACPI tables, read back the way an OS does: RSDP -> XSDT -> FADT/MADT -> DSDT.
#include "machine/firmware/acpi.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace hvk::machine {
namespace {

constexpr std::uint64_t kBase = 0xE0000;

struct Reader {
  const std::vector<std::byte>& b;
  template <typename T>
  T at(std::uint64_t gpa, std::size_t off = 0) const {
    T v;
    std::memcpy(&v, b.data() + (gpa - kBase) + off, sizeof v);
    return v;
  }
  std::string sig(std::uint64_t gpa, std::size_t n = 4) const {
    return {reinterpret_cast<const char*>(b.data() + (gpa - kBase)), n};
  }
  std::uint8_t sum(std::uint64_t gpa, std::size_t n) const {
    std::uint8_t s = 0;
    for (std::size_t i = 0; i < n; ++i) s = static_cast<std::uint8_t>(s + at<std::uint8_t>(gpa, i));
    return s;
  }
  std::uint32_t length(std::uint64_t gpa) const { return at<std::uint32_t>(gpa, 4); }
};

std::vector<std::uint32_t> kIds = {0, 1, 2, 300};

AcpiTables build() {
  AcpiPlatform p{.apic_ids = kIds,
                 .ioapic_address = 0xFEC00000,
                 .ioapic_id = 0,
                 .reset_port = 0x64,
                 .reset_value = 0xFE,
                 .sleep_control_port = 0x600,
                 .sleep_status_port = 0x601};
  auto t = build_acpi_tables(kBase, 0x20000, p);
  EXPECT_TRUE(t) << t.error();
  return *t;
}

TEST(AcpiTest, RsdpPointsToAChecksummedXsdt) {
  const AcpiTables t = build();
  Reader r{t.bytes};
  EXPECT_EQ(t.rsdp, kBase);
  EXPECT_EQ(r.sig(t.rsdp, 8), "RSD PTR ");
  EXPECT_EQ(r.sum(t.rsdp, 20), 0);
  EXPECT_EQ(r.sum(t.rsdp, 36), 0);
  EXPECT_EQ(r.at<std::uint8_t>(t.rsdp, 15), 2);  // revision: XSDT present
  const auto xsdt = r.at<std::uint64_t>(t.rsdp, 24);
  EXPECT_EQ(r.sig(xsdt), "XSDT");
  EXPECT_EQ(r.sum(xsdt, r.length(xsdt)), 0);
  EXPECT_EQ(r.length(xsdt), 36u + 2 * 8);
  EXPECT_EQ(r.sig(r.at<std::uint64_t>(xsdt, 36)), "FACP");
  EXPECT_EQ(r.sig(r.at<std::uint64_t>(xsdt, 44)), "APIC");
}

TEST(AcpiTest, FadtIsHardwareReducedWithResetAndSleepRegisters) {
  const AcpiTables t = build();
  Reader r{t.bytes};
  const auto fadt = r.at<std::uint64_t>(r.at<std::uint64_t>(t.rsdp, 24), 36);
  EXPECT_EQ(r.length(fadt), 276u);
  EXPECT_EQ(r.sum(fadt, 276), 0);
  EXPECT_EQ(r.at<std::uint8_t>(fadt, 8), 6);  // revision
  const auto flags = r.at<std::uint32_t>(fadt, 112);
  EXPECT_TRUE(flags & (1u << 20));  // HW_REDUCED_ACPI
  EXPECT_TRUE(flags & (1u << 10));  // RESET_REG_SUP
  EXPECT_EQ(r.at<std::uint8_t>(fadt, 116), 1);  // reset register in system I/O...
  EXPECT_EQ(r.at<std::uint64_t>(fadt, 120), 0x64u);  // ...at the i8042 command port
  EXPECT_EQ(r.at<std::uint8_t>(fadt, 128), 0xFE);
  EXPECT_EQ(r.at<std::uint64_t>(fadt, 244 + 4), 0x600u);
  EXPECT_EQ(r.at<std::uint64_t>(fadt, 256 + 4), 0x601u);
  const auto dsdt = r.at<std::uint64_t>(fadt, 140);
  EXPECT_EQ(r.at<std::uint32_t>(fadt, 40), dsdt);
  EXPECT_EQ(r.sig(dsdt), "DSDT");
  EXPECT_EQ(r.sum(dsdt, r.length(dsdt)), 0);
  const std::string aml = r.sig(dsdt, r.length(dsdt));
  EXPECT_NE(aml.find("_S5_"), std::string::npos);
}

TEST(AcpiTest, MadtListsEveryProcessorAndTheIoapic) {
  const AcpiTables t = build();
  Reader r{t.bytes};
  const auto madt = r.at<std::uint64_t>(r.at<std::uint64_t>(t.rsdp, 24), 44);
  EXPECT_EQ(r.sum(madt, r.length(madt)), 0);
  EXPECT_EQ(r.at<std::uint32_t>(madt, 36), 0xFEE00000u);
  std::vector<std::uint32_t> ids;
  int ioapics = 0;
  for (std::size_t off = 44; off < r.length(madt);) {
    const auto type = r.at<std::uint8_t>(madt, off);
    const auto len = r.at<std::uint8_t>(madt, off + 1);
    ASSERT_GT(len, 0);
    if (type == 0) {
      EXPECT_EQ(len, 8);
      EXPECT_EQ(r.at<std::uint32_t>(madt, off + 4), 1u);  // enabled
      ids.push_back(r.at<std::uint8_t>(madt, off + 3));
    } else if (type == 9) {
      EXPECT_EQ(len, 16);
      ids.push_back(r.at<std::uint32_t>(madt, off + 4));
      EXPECT_EQ(r.at<std::uint32_t>(madt, off + 12), 3u);  // processor UID = VP index
    } else if (type == 1) {
      ++ioapics;
      EXPECT_EQ(r.at<std::uint32_t>(madt, off + 4), 0xFEC00000u);
    }
    off += len;
  }
  EXPECT_EQ(ids, kIds);
  EXPECT_EQ(ioapics, 1);
}

TEST(AcpiTest, ManyProcessorsUseX2apicEntriesAndMustFit) {
  std::vector<std::uint32_t> ids(1024);
  for (std::uint32_t i = 0; i < ids.size(); ++i) ids[i] = i;
  AcpiPlatform p{.apic_ids = ids};
  auto t = build_acpi_tables(kBase, 0x20000, p);
  ASSERT_TRUE(t) << t.error();
  EXPECT_FALSE(build_acpi_tables(kBase, 4096, p));
  EXPECT_FALSE(build_acpi_tables(kBase, 0x20000, AcpiPlatform{}));
  EXPECT_FALSE(build_acpi_tables(kBase + 4, 0x20000, p));
}

TEST(AcpiTest, PowerOffIsSleepTypeFiveWithEnable) {
  EXPECT_TRUE(is_acpi_power_off((5 << 2) | 0x20));
  EXPECT_FALSE(is_acpi_power_off(5 << 2));
  EXPECT_FALSE(is_acpi_power_off((3 << 2) | 0x20));
}

}  // namespace
}  // namespace hvk::machine
