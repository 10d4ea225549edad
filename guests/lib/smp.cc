// Per-VP blocks, 64-bit start contexts, and INIT-SIPI-SIPI.
#include <cstdint>

#include "guest/guest.h"

extern "C" {
extern std::uint8_t guest_bsp_block[GUEST_VP_BLOCK_SIZE];
extern std::uint8_t guest_tramp_start[];
extern std::uint8_t guest_tramp_end[];
extern std::uint8_t __image_end[];
}

namespace guest {

namespace {
std::uint64_t g_region_base = 0;  // address of (virtual) slot 0: slot k is at base + k * size
std::uint32_t g_count = 0;

constexpr std::uint64_t kBlock = GUEST_VP_BLOCK_SIZE;
constexpr std::uint64_t align_up(std::uint64_t v, std::uint64_t a) {
  return (v + a - 1) & ~(a - 1);
}
}  // namespace

static_assert(offsetof(TrampolineParams, gdt_limit) == TP_GDT_LIMIT);
static_assert(offsetof(TrampolineParams, gdt_base) == TP_GDT_BASE);
static_assert(offsetof(TrampolineParams, cr3) == TP_CR3);
static_assert(offsetof(TrampolineParams, cr4) == TP_CR4);
static_assert(offsetof(TrampolineParams, efer) == TP_EFER);
static_assert(offsetof(TrampolineParams, cr0) == TP_CR0);
static_assert(offsetof(TrampolineParams, pat) == TP_PAT);
static_assert(offsetof(TrampolineParams, entry64) == TP_ENTRY64);
static_assert(offsetof(TrampolineParams, block_base) == TP_BLOCK_BASE);
static_assert(offsetof(TrampolineParams, block_size) == TP_BLOCK_SIZE);
static_assert(offsetof(TrampolineParams, next_slot) == TP_NEXT_SLOT);
static_assert(offsetof(TrampolineParams, slot_limit) == TP_SLOT_LIMIT);
static_assert(offsetof(TrampolineParams, tss_lock) == TP_TSS_LOCK);
static_assert(offsetof(TrampolineParams, arrived) == TP_ARRIVED);
static_assert(sizeof(TrampolineParams) == TP_SIZE);
static_assert(GUEST_TRAMP_PARAMS + TP_SIZE <= 4096);

const char* vp_blocks_init(std::uint32_t count) {
  if (count < 2) {
    g_count = count;
    return nullptr;
  }
  const std::uint64_t first = align_up(reinterpret_cast<std::uint64_t>(__image_end), kBlock);
  const std::uint64_t end = first + (count - 1) * kBlock;
  bool fits = false;
  for (unsigned i = 0; i < e820_count() && !fits; ++i) {
    const E820Entry e = e820_entry(i);
    fits = e.type == 1 && e.addr <= first && end <= e.addr + e.size;
  }
  if (!fits) return "not enough RAM after the image for the VPs' blocks (e820)";
  g_region_base = first - kBlock;
  for (std::uint32_t slot = 1; slot < count; ++slot) {
    auto* p = reinterpret_cast<Percpu*>(g_region_base + slot * kBlock);
    memset(p, 0, sizeof *p);
    p->vp_index = kVpIndexUnknown;
    p->slot = slot;
  }
  g_count = count;
  return nullptr;
}

std::uint32_t vp_blocks_count() {
  return g_count;
}

std::uint8_t* vp_block(std::uint32_t slot) {
  if (slot == 0) return guest_bsp_block;
  return reinterpret_cast<std::uint8_t*>(g_region_base + slot * kBlock);
}

tlfs::InitialVpContext vp_context_64(std::uint64_t rip, std::uint64_t rsp) {
  tlfs::InitialVpContext c{};
  c.rip = rip;
  c.rsp = rsp;
  c.rflags = 0x2;
  c.cs = {0, 0xFFFFFFFF, GUEST_SEL_CODE64, 0xA09B};
  const tlfs::SegmentRegister data{0, 0xFFFFFFFF, GUEST_SEL_DATA, 0xC093};
  c.ds = c.es = c.fs = c.gs = c.ss = data;
  c.tr = {reinterpret_cast<std::uint64_t>(guest_tss), 0x67, GUEST_SEL_TSS, 0x8B};
  c.ldtr = {0, 0, 0, 0};
  const DescriptorTablePointer gdtr = sgdt();
  const DescriptorTablePointer idtr = sidt();
  c.gdtr.limit = gdtr.limit;
  c.gdtr.base = gdtr.base;
  c.idtr.limit = idtr.limit;
  c.idtr.base = idtr.base;
  c.efer = rdmsr(kMsrEfer);
  c.cr0 = read_cr0();
  c.cr3 = read_cr3();
  c.cr4 = read_cr4();
  c.msr_cr_pat = rdmsr(kMsrPat);
  return c;
}

TrampolineParams* trampoline_params() {
  return reinterpret_cast<TrampolineParams*>(GUEST_TRAMP_BASE + GUEST_TRAMP_PARAMS);
}

const char* init_sipi_prepare(void (*entry64)(), std::uint32_t first_slot,
                              std::uint32_t slot_limit) {
  const auto size = static_cast<std::size_t>(guest_tramp_end - guest_tramp_start);
  if (size > GUEST_TRAMP_PARAMS) return "the trampoline does not fit below its parameter block";
  if (g_count < 2) return "no AP blocks (vp_blocks_init)";
  if (first_slot == 0 || slot_limit > g_count) return "INIT-SIPI: slots outside the AP blocks";
  const std::uint64_t cr3 = read_cr3();
  if (cr3 >> 32) return "CR3 is above 4 GiB: the trampoline cannot load it";
  const DescriptorTablePointer gdtr = sgdt();
  if (gdtr.base >> 32) return "the GDT is above 4 GiB";

  auto* page = reinterpret_cast<std::uint8_t*>(GUEST_TRAMP_BASE);
  memcpy(page, guest_tramp_start, size);
  TrampolineParams* tp = trampoline_params();
  memset(tp, 0, sizeof *tp);
  tp->gdt_limit = gdtr.limit;
  tp->gdt_base = gdtr.base;
  tp->cr3 = cr3;
  tp->cr4 = read_cr4();
  tp->efer = rdmsr(kMsrEfer);
  tp->cr0 = read_cr0();
  tp->pat = rdmsr(kMsrPat);
  tp->entry64 = reinterpret_cast<std::uint64_t>(entry64);
  tp->block_base = g_region_base;
  tp->block_size = kBlock;
  tp->next_slot = first_slot;
  tp->slot_limit = slot_limit;
  barrier();
  apic_sw_enable();
  return nullptr;
}

const char* init_sipi_send(std::uint32_t icr_shorthand, std::uint32_t dest_apic_id) {
  if (!apic_send_ipi(kIcrInit | icr_shorthand, dest_apic_id)) {
    return "INIT: the ICR delivery status never cleared";
  }
  for (int i = 0; i < 2; ++i) {
    if (!apic_send_ipi(kIcrSipi | icr_shorthand | GUEST_TRAMP_SIPI_VECTOR, dest_apic_id)) {
      return "SIPI: the ICR delivery status never cleared";
    }
  }
  return nullptr;
}

const char* init_sipi_start_all() {
  if (const char* err = init_sipi_prepare(guest_ap_entry64, 1, g_count)) return err;
  return init_sipi_send(kIcrAllButSelf);
}

}  // namespace guest
