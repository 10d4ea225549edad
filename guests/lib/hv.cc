// The Hyper-V interface: detection, the hypercall page and the calls the bundled guests make.
#include <cstddef>
#include <cstdint>

#include "guest/guest.h"

namespace guest {

namespace {
bool g_hv_ready = false;

template <typename T>
T* as(void* page) {
  return static_cast<T*>(page);
}
}  // namespace

const char* hv_init() {
  if ((cpuid(1).ecx & (1u << 31)) == 0) return "CPUID.1:ECX.hypervisor is clear";
  const Cpuid v = cpuid(kCpuidHvVendor);
  // "Microsoft Hv" in EBX, ECX, EDX.
  if (v.ebx != 0x7263694D || v.ecx != 0x666F736F || v.edx != 0x76482074) {
    return "CPUID 0x40000000 does not say \"Microsoft Hv\"";
  }
  if (v.eax < kCpuidHvLimits) return "CPUID 0x40000000 EAX < 0x40000005";
  if (cpuid(kCpuidHvInterface).eax != 0x31237648) return "CPUID 0x40000001 is not \"Hv#1\"";

  wrmsr(kMsrGuestOsId, kGuestOsId);
  const auto page = reinterpret_cast<std::uint64_t>(guest_hypercall_page);
  wrmsr(kMsrHypercall, page | 1);
  if ((rdmsr(kMsrHypercall) & 1) == 0) return "the HYPERCALL MSR did not keep its enable bit";
  this_cpu()->vp_index = static_cast<std::uint32_t>(rdmsr(kMsrVpIndex));
  g_hv_ready = true;
  return nullptr;
}

bool hv_ready() {
  return g_hv_ready;
}

const char* hv_status_name(std::uint16_t status) {
  const char* n = tlfs::status_name(static_cast<tlfs::Status>(status));
  return n ? n : "unknown status";
}

void* hv_input_page() {
  return this_block() + GUEST_VP_BLOCK_HV_INPUT;
}
void* hv_output_page() {
  return this_block() + GUEST_VP_BLOCK_HV_OUTPUT;
}

std::uint32_t vp_index() {
  return static_cast<std::uint32_t>(rdmsr(kMsrVpIndex));
}
std::uint32_t vp_count() {
  return cpuid(kCpuidHvLimits).eax;
}

std::uint64_t hv_get_vp_index_from_apic_id(std::uint32_t apic_id, std::uint32_t* vp_index) {
  // Header (16 bytes), then packed u32 APIC IDs; output: packed u32 VP indexes.
  struct Input {
    tlfs::GetVpIndexFromApicIdHeader header;
    tlfs::ApicIdElement apic_ids[1];
  };
  static_assert(offsetof(Input, apic_ids) == 16);  // 20 bytes used (the struct pads to 24)
  auto* in = as<Input>(hv_input_page());
  auto* out = as<tlfs::VpIndexElement>(hv_output_page());
  memset(in, 0, sizeof *in);
  in->header.partition_id = tlfs::kPartitionIdSelf;
  in->header.target_vtl = tlfs::InputVtl::current();
  in->apic_ids[0] = apic_id;
  *out = 0xFFFFFFFF;
  const std::uint64_t r = hv_call(hv_control(tlfs::CallCode::kGetVpIndexFromApicId, 1), in, out);
  *vp_index = *out;
  return r;
}

std::uint64_t hv_start_virtual_processor(std::uint32_t vp_index, std::uint8_t target_vtl,
                                         const tlfs::InitialVpContext& ctx) {
  auto* in = as<tlfs::StartVirtualProcessorInput>(hv_input_page());
  memset(in, 0, sizeof *in);
  in->partition_id = tlfs::kPartitionIdSelf;
  in->vp_index = vp_index;
  in->target_vtl = target_vtl;
  in->vp_context = ctx;
  return hv_call(hv_control(tlfs::CallCode::kStartVirtualProcessor), in, nullptr);
}

std::uint64_t hv_get_vp_register(std::uint32_t vp_index, tlfs::InputVtl input_vtl,
                                 tlfs::RegisterName name, tlfs::RegisterValue* value) {
  struct Input {
    tlfs::VpRegistersHeader header;
    tlfs::GetVpRegistersElement names[1];
  };
  static_assert(offsetof(Input, names) == 16);  // 20 bytes used (the struct pads to 24)
  auto* in = as<Input>(hv_input_page());
  auto* out = as<tlfs::RegisterValue>(hv_output_page());
  memset(in, 0, sizeof *in);
  in->header.partition_id = tlfs::kPartitionIdSelf;
  in->header.vp_index = vp_index;
  in->header.target_vtl = input_vtl;
  in->names[0] = static_cast<std::uint32_t>(name);
  out->low = out->high = 0;
  const std::uint64_t r = hv_call(hv_control(tlfs::CallCode::kGetVpRegisters, 1), in, out);
  *value = *out;
  return r;
}

int hv_active_vtl() {
  tlfs::RegisterValue v;
  const std::uint64_t r = hv_get_vp_register(tlfs::kVpIndexSelf, tlfs::InputVtl::current(),
                                             tlfs::RegisterName::kVsmVpStatus, &v);
  if (hv_status(r) != 0 || hv_reps(r) != 1) return -1;
  return static_cast<int>(v.low & 0xF);
}

}  // namespace guest
