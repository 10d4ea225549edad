// The hostile guest's VTL mode (`vtl=1`; issue 14 point 6, docs/reliability.md "The VTL storm"):
// VTL 1 on every VP protects a region of pages from VTL 0 (never writable: every byte must stay
// as it was), and for `seconds` VTL 0 on every VP storms it with reads, writes, executes,
// string instructions and writes straddling into it, while VTL 1 changes the pages' protections
// on request from any VP (a VtlCall). Each denied access is a GPA intercept on VTL 1's SINT 0,
// whose handler checks the message and skips the instruction (or returns from the call, for an
// execute) with SetVpRegisters. VTL 0 checks after every access that it caused exactly one
// intercept (a write always; a read or execute when the page's mask refused it), and at the end
// VTL 1 checks the region's hash.
//   hvk run hostile.elf --vps 8 --synic --cmdline "vtl=1 seconds=60"
// ends with
//   hostile-vtl: PASS ...  (exit 0)   or   hostile-vtl: FAIL: N failures (exit 1)
#include "vtl_storm.h"

#include "guest/synic.h"
#include "hvk/tlfs/synic.h"
#include "hvk/tlfs/vtl_protection.h"

extern "C" void vtl_call(std::uint64_t call_offset);  // vtl-demo/vtl.S
extern "C" [[noreturn]] void vtl1_loop(std::uint8_t* assist, std::uint64_t return_offset);
extern "C" void vtl1_request();

namespace hostile::vtl_storm {

namespace {

using namespace guest;

constexpr std::uint32_t kMaxVps = 16;
constexpr std::uint32_t kPages = 16;  // protected: pages 1..kPages of the region
constexpr std::uint64_t kPage = 4096;
constexpr std::uint8_t kSint0Vector = 0x40;
constexpr std::uint64_t kVtl1StackGap = 0x2000;
// Never writable, so that no protected byte may change: none, read-only, read and execute.
constexpr std::uint32_t kMasks[] = {0, tlfs::map_gpa::kReadable,
                                    tlfs::map_gpa::kReadable | tlfs::map_gpa::kKernelExecutable};
constexpr std::uint8_t kFill = 0xC3;  // `ret`: an allowed execute returns at once

struct alignas(4096) Page {
  std::uint8_t b[kPage];
};
Page g_region[kPages + 1];  // page 0 is VTL 0's own: straddling writes start there
Page g_assist[kMaxVps];     // VTL 1's VP assist pages
Page g_sim[kMaxVps];        // VTL 1's SynIC message pages
Page g_sief[kMaxVps];
Page g_in[kMaxVps];  // VTL 1's hypercall input pages

enum class Request : std::uint32_t { kNone, kFlip, kFinal };

struct VpState {
  // Written by VTL 1's handler on this VP, read by VTL 0 after each access.
  volatile std::uint64_t intercepts;
  volatile std::uint32_t last_access;
  volatile std::uint64_t last_gpa;
  // VTL 0's counts: accesses by kind, and those that were intercepted.
  std::uint64_t tried[3];
  std::uint64_t stopped[3];
  std::uint64_t flips;
  Request request;
  std::uint64_t seed;
};
VpState g_vp[kMaxVps];

std::uint64_t g_call_offset = 0;
std::uint64_t g_return_offset = 0;
std::uint32_t g_vps = 0;
std::uint64_t g_end = 0;
std::uint64_t g_hash_before = 0;
volatile std::uint64_t g_hash_after = 0;
volatile std::uint32_t g_started = 0;  // APs whose VTL 0 began
volatile std::uint32_t g_done = 0;     // APs whose storm ended
volatile std::uint64_t g_start_failure = 0;

std::uint64_t region_hash() {
  std::uint64_t h = 0;
  for (std::uint32_t p = 1; p <= kPages; ++p) {
    for (std::uint64_t i = 0; i < kPage; i += 8) {
      std::uint64_t v;
      memcpy(&v, &g_region[p].b[i], 8);
      h = mix64(h ^ v ^ (p << 20 | i));
    }
  }
  return h;
}

tlfs::InitialVpContext context(std::uint32_t vp, int vtl) {
  return vp_context_64(reinterpret_cast<std::uint64_t>(&guest_ap_entry64),
                       vp_stack_top(vp) - (vtl == 1 ? kVtl1StackGap : 0));
}

// VTL 1's hypercalls go through its own input pages.
std::uint64_t vtl1_set_registers(std::uint32_t vp, std::uint32_t count, const std::uint32_t* names,
                                 const std::uint64_t* values) {
  auto* h = reinterpret_cast<tlfs::VpRegistersHeader*>(g_in[vp].b);
  *h = {tlfs::kPartitionIdSelf, tlfs::kVpIndexSelf, tlfs::InputVtl::target(0), {}};
  auto* e = reinterpret_cast<tlfs::SetVpRegistersElement*>(g_in[vp].b + sizeof *h);
  for (std::uint32_t i = 0; i < count; ++i) e[i] = {names[i], 0, 0, {values[i], 0}};
  return hv_call(hv_control(tlfs::CallCode::kSetVpRegisters, static_cast<std::uint16_t>(count)),
                 g_in[vp].b, nullptr);
}

std::uint64_t vtl1_protect(std::uint32_t vp, std::uint32_t first, std::uint32_t count,
                           std::uint32_t mask) {
  auto* h = reinterpret_cast<tlfs::ModifyVtlProtectionMaskHeader*>(g_in[vp].b);
  *h = {tlfs::kPartitionIdSelf, mask, tlfs::InputVtl::target(0), {}};
  auto* pages = reinterpret_cast<std::uint64_t*>(g_in[vp].b + sizeof *h);
  for (std::uint32_t i = 0; i < count; ++i) {
    pages[i] = reinterpret_cast<std::uint64_t>(&g_region[first + i]) / kPage;
  }
  return hv_call(
      hv_control(tlfs::CallCode::kModifyVtlProtectionMask, static_cast<std::uint16_t>(count)),
      g_in[vp].b, nullptr);
}

// VTL 1's SINT 0: a GPA intercept. Checks it, and makes VTL 0 go on past the access.
void on_intercept(ExceptionFrame*) {
  const std::uint32_t vp = this_cpu()->vp_index;
  auto* sim = reinterpret_cast<tlfs::MessagePage*>(&g_sim[vp]);
  tlfs::Message& m = sim->slots[0];
  if (m.header.message_type != static_cast<std::uint32_t>(tlfs::MessageType::kGpaIntercept)) {
    fail("VTL 1 SINT 0 got message type 0x%x", m.header.message_type);
  } else {
    tlfs::MemoryInterceptMessage body;
    memcpy(&body, m.payload, sizeof body);
    const auto lo = reinterpret_cast<std::uint64_t>(&g_region[1]);
    const auto hi = reinterpret_cast<std::uint64_t>(&g_region[kPages + 1]);
    const auto access = static_cast<std::uint32_t>(body.header.access_type);
    if (body.header.vp_index != vp || body.gpa < lo || body.gpa >= hi || access > 2) {
      fail("intercept: VP %u, access %u, GPA 0x%lx, RIP 0x%lx", body.header.vp_index, access,
           body.gpa, body.header.rip);
    }
    std::uint32_t names[2] = {static_cast<std::uint32_t>(tlfs::RegisterName::kRip),
                              static_cast<std::uint32_t>(tlfs::RegisterName::kRsp)};
    std::uint64_t values[2] = {0, 0};
    std::uint32_t count = 1;
    if (access == 2) {
      // An execute: VTL 0 called into the page; return from that call.
      memcpy(&values[0], reinterpret_cast<const void*>(body.rsp), 8);
      values[1] = body.rsp + 8;
      count = 2;
    } else {
      const std::uint32_t len = body.header.instruction_length & 0xF;
      if (len == 0 || body.instruction_byte_count != len) {
        fail("intercept: instruction length %u, %u bytes at RIP 0x%lx", len,
             body.instruction_byte_count, body.header.rip);
      }
      values[0] = body.header.rip + len;
    }
    const std::uint64_t r = vtl1_set_registers(vp, count, names, values);
    if (hv_status(r) != 0) fail("SetVpRegisters of VTL 0: %s", hv_status_name(hv_status(r)));
    g_vp[vp].last_access = access;
    g_vp[vp].last_gpa = body.gpa;
    __atomic_add_fetch(&g_vp[vp].intercepts, 1, __ATOMIC_SEQ_CST);
  }
  const bool pending = (m.header.message_flags & tlfs::kMessagePending) != 0;
  __atomic_store_n(&m.header.message_type, 0u, __ATOMIC_SEQ_CST);
  if (pending) wrmsr(kMsrEom, 0);
  apic_eoi();
}

// Everything VTL 1 of `vp` needs before it first returns to VTL 0.
void vtl1_setup(std::uint32_t vp) {
  apic_sw_enable();
  synic_enable(reinterpret_cast<tlfs::MessagePage*>(&g_sim[vp]),
               reinterpret_cast<tlfs::EventFlagsPage*>(&g_sief[vp]));
  sint_set(0, kSint0Vector, false);
  wrmsr(kMsrVpAssistPage, reinterpret_cast<std::uint64_t>(&g_assist[vp]) | 1);
}

void vtl0_access(std::uint32_t vp, Rng& r);

void ap_main() {
  const std::uint32_t vp = this_cpu()->vp_index;
  const int vtl = hv_active_vtl();
  if (vtl == 1) {
    vtl1_setup(vp);
    if (vp == 0) {
      // The partition's protections, then every page of the region read-only, then the APs.
      std::uint32_t name = static_cast<std::uint32_t>(tlfs::RegisterName::kVsmPartitionConfig);
      const std::uint64_t config =
          tlfs::vsm_config::kEnableVtlProtection |
          std::uint64_t{tlfs::map_gpa::kAll} << tlfs::vsm_config::kDefaultVtlProtectionMaskShift;
      auto* h = reinterpret_cast<tlfs::VpRegistersHeader*>(g_in[vp].b);
      *h = {tlfs::kPartitionIdSelf, tlfs::kVpIndexSelf, tlfs::InputVtl::current(), {}};
      auto* e = reinterpret_cast<tlfs::SetVpRegistersElement*>(g_in[vp].b + sizeof *h);
      *e = {name, 0, 0, {config, 0}};
      std::uint64_t r = hv_call(hv_control(tlfs::CallCode::kSetVpRegisters, 1), g_in[vp].b, nullptr);
      if (hv_status(r) == 0) r = vtl1_protect(vp, 1, kPages, tlfs::map_gpa::kReadable);
      for (std::uint32_t ap = 1; ap < g_vps && hv_status(r) == 0; ++ap) {
        auto* in = reinterpret_cast<tlfs::EnableVpVtlInput*>(g_in[vp].b);
        *in = {};
        in->partition_id = tlfs::kPartitionIdSelf;
        in->vp_index = ap;
        in->target_vtl = 1;
        in->vp_context = context(ap, 1);
        r = hv_call(hv_control(tlfs::CallCode::kEnableVpVtl), in, nullptr);
        if (hv_status(r) == 0) r = hv_start_virtual_processor(ap, 1, context(ap, 1));
      }
      if (hv_status(r) != 0) g_start_failure = r | 1ull << 63;
    } else {
      const std::uint64_t r = hv_start_virtual_processor(vp, 0, context(vp, 0));
      if (hv_status(r) != 0) {
        fail("StartVirtualProcessor of its own VTL 0: %s", hv_status_name(hv_status(r)));
        halt_forever();
      }
    }
    vtl1_loop(g_assist[vp].b, g_return_offset);
  }
  // An AP's VTL 0.
  __atomic_add_fetch(&g_started, 1, __ATOMIC_SEQ_CST);
  Rng rng{g_vp[vp].seed};
  while (now_ref() < g_end) vtl0_access(vp, rng);
  __atomic_add_fetch(&g_done, 1, __ATOMIC_SEQ_CST);
  halt_forever();
}

// One access of VTL 0 to the region (or a request to VTL 1), and its check.
void vtl0_access(std::uint32_t vp, Rng& r) {
  VpState& s = g_vp[vp];
  if (r.percent(2)) {
    s.request = Request::kFlip;
    vtl_call(g_call_offset);
    ++s.flips;
    return;
  }
  const std::uint32_t page = 1 + static_cast<std::uint32_t>(r.below(kPages));
  std::uint8_t* p = g_region[page].b + r.below(kPage - 32);
  std::uint8_t* own = g_region[0].b + r.below(kPage - 32);
  const std::uint64_t before = __atomic_load_n(&s.intercepts, __ATOMIC_SEQ_CST);
  unsigned kind = 0;   // 0 read, 1 write, 2 execute: the access type an intercept must report
  bool must = false;   // a write: always refused
  std::uint64_t v = 0;
  switch (r.below(6)) {
    case 0:  // a read of 1, 2, 4 or 8 bytes
      switch (r.below(4)) {
        case 0: asm volatile("movzbq (%1), %0" : "+r"(v) : "r"(p) : "memory"); break;
        case 1: asm volatile("movzwq (%1), %0" : "+r"(v) : "r"(p) : "memory"); break;
        case 2: asm volatile("movl (%1), %k0" : "+r"(v) : "r"(p) : "memory"); break;
        default: asm volatile("movq (%1), %0" : "+r"(v) : "r"(p) : "memory"); break;
      }
      break;
    case 1:  // a write
      kind = 1;
      must = true;
      v = r.next();
      asm volatile("movq %1, (%0)" : : "r"(p), "r"(v) : "memory");
      break;
    case 2:  // an execute: a call into the page, whose bytes are all `ret`
      kind = 2;
      asm volatile("call *%0" : : "r"(p) : "memory", "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9",
                   "r10", "r11", "cc");
      break;
    case 3: {  // a write straddling into the page from the one before it
      kind = 1;
      must = true;
      std::uint8_t* at = g_region[page].b - 4;
      v = r.next();
      asm volatile("movq %1, (%0)" : : "r"(at), "r"(v) : "memory");
      break;
    }
    case 4: {  // rep stosb into the page
      kind = 1;
      must = true;
      std::uint8_t* d = p;
      std::uint64_t n = 16;
      asm volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(0x5A) : "memory");
      break;
    }
    default: {  // rep movsb out of the page
      std::uint8_t* d = own;
      const std::uint8_t* src = p;
      std::uint64_t n = 16;
      asm volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
      break;
    }
  }
  const std::uint64_t d = __atomic_load_n(&s.intercepts, __ATOMIC_SEQ_CST) - before;
  ++s.tried[kind];
  if (d == 1) ++s.stopped[kind];
  if (d > 1 || (must && d != 1)) {
    fail("%s at 0x%lx (page %u): %lu intercepts", kind == 1 ? "a write" : "an access",
         reinterpret_cast<std::uint64_t>(p), page, d);
  } else if (d == 1 && s.last_access != kind) {
    fail("an access of type %u was intercepted as type %u (GPA 0x%lx)", kind, s.last_access,
         s.last_gpa);
  }
}

}  // namespace

int run() {
  if (const char* err = hv_init()) {
    printf("hostile-vtl: no Hyper-V interface: %s\n", err);
    return 1;
  }
  std::uint64_t seconds, seed, max_print;
  if (!option("hostile-vtl", "seconds", 10, 1, 3600, &seconds) ||
      !option("hostile-vtl", "seed", mix64(now_ref()), 0, ~0ull, &seed) ||
      !option("hostile-vtl", "max-print", 30, 0, 100'000, &max_print)) {
    return 1;
  }
  env().max_printed = static_cast<std::uint32_t>(max_print);
  g_vps = vp_count();
  if (g_vps == 0 || g_vps > kMaxVps) {
    printf("hostile-vtl: %u VPs: the VTL storm handles 1-%u\n", g_vps, kMaxVps);
    return 1;
  }
  if (g_vps > 1) {
    if (const char* err = vp_blocks_init(g_vps)) {
      printf("hostile-vtl: %s\n", err);
      return 1;
    }
  }
  tlfs::RegisterValue offsets{};
  std::uint64_t r = hv_get_vp_register(tlfs::kVpIndexSelf, tlfs::InputVtl::current(),
                                       tlfs::RegisterName::kVsmCodePageOffsets, &offsets);
  if (hv_status(r) != 0) {
    printf("hostile-vtl: GetVpRegisters(VsmCodePageOffsets): %s\n", hv_status_name(hv_status(r)));
    return 1;
  }
  g_call_offset = offsets.low & 0xFFF;
  g_return_offset = (offsets.low >> 12) & 0xFFF;
  for (std::uint32_t p = 0; p <= kPages; ++p) memset(g_region[p].b, kFill, kPage);
  g_hash_before = region_hash();
  for (std::uint32_t vp = 0; vp < g_vps; ++vp) g_vp[vp].seed = mix64(seed + vp + 1);
  set_interrupt_handler(kSint0Vector, on_intercept);
  set_ap_main(ap_main);
  printf("hostile-vtl: %u VPs, %lu s, seed 0x%lx, %u protected pages at 0x%lx\n", g_vps, seconds,
         seed, kPages, reinterpret_cast<std::uint64_t>(&g_region[1]));

  auto* pin = static_cast<tlfs::EnablePartitionVtlInput*>(hv_input_page());
  *pin = {tlfs::kPartitionIdSelf, 1, 0, {}};
  r = hv_call(hv_control(tlfs::CallCode::kEnablePartitionVtl), pin, nullptr);
  if (hv_status(r) == 0) {
    auto* vin = static_cast<tlfs::EnableVpVtlInput*>(hv_input_page());
    *vin = {};
    vin->partition_id = tlfs::kPartitionIdSelf;
    vin->vp_index = 0;
    vin->target_vtl = 1;
    vin->vp_context = context(0, 1);
    r = hv_call(hv_control(tlfs::CallCode::kEnableVpVtl), vin, nullptr);
  }
  if (hv_status(r) != 0) {
    printf("hostile-vtl: enabling VTL 1: %s\n", hv_status_name(hv_status(r)));
    return 1;
  }
  g_end = now_ref() + seconds * 1000 * kRefPerMs;
  vtl_call(g_call_offset);  // VTL 1 sets up, protects the region and starts the APs
  if (g_start_failure != 0) {
    printf("hostile-vtl: VTL 1's set-up failed: %s\n",
           hv_status_name(hv_status(g_start_failure & ~(1ull << 63))));
    return 1;
  }
  Rng rng{g_vp[0].seed};
  while (now_ref() < g_end) vtl0_access(0, rng);
  if (!wait_until([] { return __atomic_load_n(&g_done, __ATOMIC_SEQ_CST) == g_vps - 1; },
                  120'000)) {
    fail("only %u of %u APs ended their storm (%u began)", g_done, g_vps - 1, g_started);
  }
  g_vp[0].request = Request::kFinal;
  vtl_call(g_call_offset);
  if (g_hash_after != g_hash_before) {
    fail("the protected pages changed: hash 0x%lx, was 0x%lx", g_hash_after, g_hash_before);
  }
  std::uint64_t tried[3] = {}, stopped[3] = {}, flips = 0;
  for (std::uint32_t vp = 0; vp < g_vps; ++vp) {
    for (int k = 0; k < 3; ++k) {
      tried[k] += g_vp[vp].tried[k];
      stopped[k] += g_vp[vp].stopped[k];
    }
    flips += g_vp[vp].flips;
  }
  printf("hostile-vtl: reads %lu (%lu intercepted), writes %lu (%lu intercepted), executes %lu "
         "(%lu intercepted), %lu protection changes\n",
         tried[0], stopped[0], tried[1], stopped[1], tried[2], stopped[2], flips);
  const std::uint64_t n = failures();
  if (n != 0) {
    printf("hostile-vtl: FAIL: %lu failures\n", n);
    return 1;
  }
  printf("hostile-vtl: PASS: %u VPs stormed %u protected pages for %lu s: every write and every "
         "refused access intercepted exactly once, not one protected byte changed\n",
         g_vps, kPages, seconds);
  return 0;
}

}  // namespace hostile::vtl_storm

// VTL 1's requests from VTL 0 (vtl_loop.S calls it on a VtlCall entry).
extern "C" void vtl1_request() {
  using namespace hostile;
  using namespace hostile::vtl_storm;
  const std::uint32_t vp = guest::this_cpu()->vp_index;
  VpState& s = g_vp[vp];
  if (s.request == Request::kFlip) {
    Rng r{mix64(s.seed ^ s.flips ^ 0xF11F)};
    const auto first = 1 + static_cast<std::uint32_t>(r.below(kPages));
    const auto count = 1 + static_cast<std::uint32_t>(r.below(kPages - first + 1));
    const std::uint64_t res = vtl1_protect(vp, first, count, kMasks[r.below(3)]);
    if (guest::hv_status(res) != 0) {
      fail("ModifyVtlProtectionMask: %s", guest::hv_status_name(guest::hv_status(res)));
    }
  } else if (s.request == Request::kFinal) {
    g_hash_after = region_hash();
  }
  s.request = Request::kNone;
}
