// QEMU's PVH boot: hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h) turned into the
// boot_params the runtime reads (the command line and the e820 map), before _start.
#include <cstdint>

#include "guest/guest.h"

namespace {

struct HvmStartInfo {
  std::uint32_t magic;  // "xEn3" with the top bit set
  std::uint32_t version;
  std::uint32_t flags;
  std::uint32_t nr_modules;
  std::uint64_t modlist_paddr;
  std::uint64_t cmdline_paddr;
  std::uint64_t rsdp_paddr;
  std::uint64_t memmap_paddr;  // version 1 on
  std::uint32_t memmap_entries;
  std::uint32_t reserved;
};
struct HvmMemmapEntry {
  std::uint64_t addr;
  std::uint64_t size;
  std::uint32_t type;
  std::uint32_t reserved;
};
constexpr std::uint32_t kHvmStartMagic = 0x336ec578;

template <typename T>
void put(std::uint8_t* bp, std::uint32_t offset, T v) {
  memcpy(bp + offset, &v, sizeof v);
}

}  // namespace

// Called by pvh_start32 (entry.S) on its own stack; must not rely on .bss (cleared later).
extern "C" void pvh_boot_params(const HvmStartInfo* si, std::uint8_t* bp) {
  memset(bp, 0, 4096);
  if (si->magic != kHvmStartMagic) return;
  put(bp, guest::kBpCmdLinePtr, static_cast<std::uint32_t>(si->cmdline_paddr));
  put(bp, guest::kBpExtCmdLinePtr, static_cast<std::uint32_t>(si->cmdline_paddr >> 32));
  if (si->version < 1) return;
  const auto* map = reinterpret_cast<const HvmMemmapEntry*>(si->memmap_paddr);
  std::uint32_t n = si->memmap_entries < guest::kBpE820Max ? si->memmap_entries : guest::kBpE820Max;
  for (std::uint32_t i = 0; i < n; ++i) {
    const guest::E820Entry e{map[i].addr, map[i].size, map[i].type};
    put(bp, guest::kBpE820Table + i * static_cast<std::uint32_t>(sizeof e), e);
  }
  put(bp, guest::kBpE820Entries, static_cast<std::uint8_t>(n));
}
