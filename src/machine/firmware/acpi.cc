#include "machine/firmware/acpi.h"

#include <fmt/format.h>

#include <cstring>
#include <string_view>

extern "C" const unsigned char hvk_dsdt_aml[];
extern "C" const unsigned char hvk_dsdt_aml_end[];

namespace hvk::machine {

namespace {

// --- Table layouts (ACPI 6.4, chapter 5) ---------------------------------------------------------

#pragma pack(push, 1)
struct Rsdp {
  char signature[8];
  std::uint8_t checksum;  // of the first 20 bytes
  char oem_id[6];
  std::uint8_t revision;
  std::uint32_t rsdt_address;
  std::uint32_t length;
  std::uint64_t xsdt_address;
  std::uint8_t extended_checksum;  // of all 36 bytes
  std::uint8_t reserved[3];
};
static_assert(sizeof(Rsdp) == 36);

struct SdtHeader {
  char signature[4];
  std::uint32_t length;
  std::uint8_t revision;
  std::uint8_t checksum;
  char oem_id[6];
  char oem_table_id[8];
  std::uint32_t oem_revision;
  char creator_id[4];
  std::uint32_t creator_revision;
};
static_assert(sizeof(SdtHeader) == 36);

struct GenericAddress {
  std::uint8_t space_id;  // 1: system I/O
  std::uint8_t bit_width;
  std::uint8_t bit_offset;
  std::uint8_t access_size;  // 1: byte
  std::uint64_t address;
};
static_assert(sizeof(GenericAddress) == 12);

struct Fadt {
  SdtHeader header;
  std::uint32_t firmware_ctrl;
  std::uint32_t dsdt;
  std::uint8_t reserved0;
  std::uint8_t preferred_pm_profile;
  std::uint16_t sci_int;
  std::uint32_t smi_cmd;
  std::uint8_t legacy_fields[57];  // ACPI_ENABLE .. CENTURY: all zero in a hardware-reduced FADT
  std::uint16_t iapc_boot_arch;
  std::uint8_t reserved1;
  std::uint32_t flags;
  GenericAddress reset_reg;
  std::uint8_t reset_value;
  std::uint16_t arm_boot_arch;
  std::uint8_t minor_version;
  std::uint64_t x_firmware_ctrl;
  std::uint64_t x_dsdt;
  GenericAddress x_blocks[8];  // X_PM1a_EVT_BLK .. X_GPE1_BLK: none
  GenericAddress sleep_control_reg;
  GenericAddress sleep_status_reg;
  std::uint64_t hypervisor_vendor_id;
};
static_assert(offsetof(Fadt, iapc_boot_arch) == 109);
static_assert(offsetof(Fadt, flags) == 112);
static_assert(offsetof(Fadt, reset_reg) == 116);
static_assert(offsetof(Fadt, x_dsdt) == 140);
static_assert(offsetof(Fadt, sleep_control_reg) == 244);
static_assert(sizeof(Fadt) == 276);

struct MadtHeader {
  SdtHeader header;
  std::uint32_t local_apic_address;
  std::uint32_t flags;
};
static_assert(sizeof(MadtHeader) == 44);

struct MadtLocalApic {  // type 0
  std::uint8_t type, length, processor_uid, apic_id;
  std::uint32_t flags;
};
static_assert(sizeof(MadtLocalApic) == 8);

struct MadtIoApic {  // type 1
  std::uint8_t type, length, id, reserved;
  std::uint32_t address;
  std::uint32_t gsi_base;
};
static_assert(sizeof(MadtIoApic) == 12);

struct MadtLocalX2Apic {  // type 9
  std::uint8_t type, length;
  std::uint16_t reserved;
  std::uint32_t x2apic_id;
  std::uint32_t flags;
  std::uint32_t processor_uid;
};
static_assert(sizeof(MadtLocalX2Apic) == 16);
#pragma pack(pop)

constexpr std::string_view kOemId = "HVK   ";
constexpr std::string_view kOemTableId = "HVK     ";
constexpr std::uint32_t kLocalApicAddress = 0xFEE0'0000;
constexpr std::uint32_t kMadtEnabled = 1;
constexpr std::uint8_t kSpaceSystemIo = 1;
constexpr std::uint8_t kAccessByte = 1;
// FADT flags: WBINVD works; no fixed power/sleep button; RESET_REG supported; hardware-reduced.
constexpr std::uint32_t kFadtFlags = (1u << 0) | (1u << 4) | (1u << 5) | (1u << 10) | (1u << 20);
// IAPC_BOOT_ARCH: no 8042 (bit 1 clear), no VGA (bit 2), no CMOS RTC (bit 5).
constexpr std::uint16_t kIapcBootArch = (1u << 2) | (1u << 5);
constexpr std::uint8_t kSleepTypeS5 = 5;  // dsdt.asl's _S5
constexpr std::uint8_t kSleepEnable = 1u << 5;
constexpr std::uint8_t kSleepTypeShift = 2;
constexpr std::uint8_t kSleepTypeMask = 0x1C;
constexpr std::uint8_t kApicIdMaxXapic = 0xFE;  // 0xFF is the xAPIC broadcast ID

template <std::size_t N>
void put_text(char (&field)[N], std::string_view text) {
  std::memset(field, ' ', N);
  std::memcpy(field, text.data(), std::min(N, text.size()));
}

std::uint8_t checksum_of(std::span<const std::byte> bytes) {
  std::uint8_t sum = 0;
  for (std::byte b : bytes) sum = static_cast<std::uint8_t>(sum + static_cast<std::uint8_t>(b));
  return static_cast<std::uint8_t>(0u - sum);
}

SdtHeader sdt_header(std::string_view signature, std::uint32_t length, std::uint8_t revision) {
  SdtHeader h{};
  std::memcpy(h.signature, signature.data(), 4);
  h.length = length;
  h.revision = revision;
  put_text(h.oem_id, kOemId);
  put_text(h.oem_table_id, kOemTableId);
  h.oem_revision = 1;
  put_text(h.creator_id, "HVK");
  h.creator_revision = 1;
  return h;
}

GenericAddress io_port(std::uint16_t port) {
  return {kSpaceSystemIo, 8, 0, kAccessByte, port};
}

// Appends a table to `out`, fixing its length and checksum; returns its offset in `out`.
class TableWriter {
 public:
  explicit TableWriter(std::vector<std::byte>& out) : out_(out) {}

  template <typename T>
  std::size_t append(const T& value) {
    return append_bytes(std::as_bytes(std::span(&value, 1)));
  }
  std::size_t append_bytes(std::span<const std::byte> bytes) {
    align(8);
    const std::size_t at = out_.size();
    out_.insert(out_.end(), bytes.begin(), bytes.end());
    return at;
  }
  // Computes the checksum byte (at `checksum_offset` within the table) of the table at `at`.
  void seal(std::size_t at, std::size_t length, std::size_t checksum_offset) {
    auto table = std::span(out_).subspan(at, length);
    table[checksum_offset] = std::byte{0};
    table[checksum_offset] = std::byte{checksum_of(table)};
  }

 private:
  void align(std::size_t a) { out_.resize((out_.size() + a - 1) / a * a); }
  std::vector<std::byte>& out_;
};

std::vector<std::byte> madt_bytes(const AcpiPlatform& p) {
  std::vector<std::byte> m(sizeof(MadtHeader));
  auto add = [&m](const auto& entry) {
    const auto b = std::as_bytes(std::span(&entry, 1));
    m.insert(m.end(), b.begin(), b.end());
  };
  for (std::size_t i = 0; i < p.apic_ids.size(); ++i) {
    const std::uint32_t id = p.apic_ids[i];
    if (id <= kApicIdMaxXapic && i <= 0xFF) {
      add(MadtLocalApic{0, sizeof(MadtLocalApic), static_cast<std::uint8_t>(i),
                        static_cast<std::uint8_t>(id), kMadtEnabled});
    } else {
      add(MadtLocalX2Apic{9, sizeof(MadtLocalX2Apic), 0, id, kMadtEnabled,
                          static_cast<std::uint32_t>(i)});
    }
  }
  add(MadtIoApic{1, sizeof(MadtIoApic), p.ioapic_id, 0,
                 static_cast<std::uint32_t>(p.ioapic_address), 0});
  MadtHeader h{};
  h.header = sdt_header("APIC", static_cast<std::uint32_t>(m.size()), 4);
  h.local_apic_address = kLocalApicAddress;
  h.flags = 0;  // no PC-AT 8259 pair
  std::memcpy(m.data(), &h, sizeof h);
  return m;
}

}  // namespace

Result<AcpiTables> build_acpi_tables(std::uint64_t base, std::uint64_t max_size,
                                     const AcpiPlatform& platform) {
  if (platform.apic_ids.empty()) return fail("ACPI: no processors");
  if (base % 16 != 0 || base > UINT32_MAX) {
    return fail(fmt::format("ACPI: tables at {:#x} are not 16-byte aligned below 4 GiB", base));
  }
  std::vector<std::byte> out;
  TableWriter w(out);
  const std::size_t rsdp_at = w.append(Rsdp{});

  const auto dsdt = std::as_bytes(std::span(hvk_dsdt_aml, hvk_dsdt_aml_end));
  const std::size_t dsdt_at = w.append_bytes(dsdt);  // iasl wrote its header and checksum

  Fadt fadt{};
  fadt.header = sdt_header("FACP", sizeof(Fadt), 6);
  fadt.minor_version = 4;
  fadt.dsdt = static_cast<std::uint32_t>(base + dsdt_at);
  fadt.x_dsdt = base + dsdt_at;
  fadt.iapc_boot_arch = kIapcBootArch;
  fadt.flags = kFadtFlags;
  fadt.reset_reg = io_port(platform.reset_port);
  fadt.reset_value = platform.reset_value;
  fadt.sleep_control_reg = io_port(platform.sleep_control_port);
  fadt.sleep_status_reg = io_port(platform.sleep_status_port);
  std::memcpy(&fadt.hypervisor_vendor_id, "hvk\0\0\0\0\0", 8);
  const std::size_t fadt_at = w.append(fadt);
  w.seal(fadt_at, sizeof(Fadt), offsetof(SdtHeader, checksum));

  const std::vector<std::byte> madt = madt_bytes(platform);
  const std::size_t madt_at = w.append_bytes(madt);
  w.seal(madt_at, madt.size(), offsetof(SdtHeader, checksum));

  std::vector<std::byte> xsdt(sizeof(SdtHeader));
  for (std::uint64_t table : {base + fadt_at, base + madt_at}) {
    const auto b = std::as_bytes(std::span(&table, 1));
    xsdt.insert(xsdt.end(), b.begin(), b.end());
  }
  const SdtHeader xh = sdt_header("XSDT", static_cast<std::uint32_t>(xsdt.size()), 1);
  std::memcpy(xsdt.data(), &xh, sizeof xh);
  const std::size_t xsdt_at = w.append_bytes(xsdt);
  w.seal(xsdt_at, xsdt.size(), offsetof(SdtHeader, checksum));

  Rsdp rsdp{};
  std::memcpy(rsdp.signature, "RSD PTR ", 8);
  put_text(rsdp.oem_id, kOemId);
  rsdp.revision = 2;
  rsdp.length = sizeof(Rsdp);
  rsdp.xsdt_address = base + xsdt_at;
  std::memcpy(out.data() + rsdp_at, &rsdp, sizeof rsdp);
  w.seal(rsdp_at, 20, offsetof(Rsdp, checksum));
  w.seal(rsdp_at, sizeof(Rsdp), offsetof(Rsdp, extended_checksum));

  if (out.size() > max_size) {
    return fail(fmt::format("ACPI: {} bytes of tables for {} processors do not fit in {} bytes",
                            out.size(), platform.apic_ids.size(), max_size));
  }
  return AcpiTables{std::move(out), base + rsdp_at};
}

bool is_acpi_power_off(std::uint8_t value) {
  return (value & kSleepEnable) &&
         ((value & kSleepTypeMask) >> kSleepTypeShift) == kSleepTypeS5;
}

}  // namespace hvk::machine
