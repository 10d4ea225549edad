#include "machine/vtl/vtl_vm.h"

#include <algorithm>
#include <cstring>

#include "hv/synthetic_msrs.h"
#include "machine/apic/apic_page.h"
#include "machine/cpuid.h"
#include "machine/loader/layout.h"

namespace hvk::machine {

namespace {
constexpr std::uint32_t kMsrTsc = 0x10;
}

kvm::Result<kvm::Vm> create_guest_vm(kvm::Kvm& kvm, kvm::Mapping& ram, std::uint64_t low_bytes) {
  auto vm = kvm.create_vm();
  if (!vm) return vm.error();
  if (auto r = vm->enable_split_irqchip(); !r) return r.error();
  if (auto r = vm->enable_user_space_msr(kvm::MsrExits::kFilter); !r) return r.error();
  const kvm::MsrRange synthetic{hv::msr::kSyntheticFirst, hv::msr::kSyntheticCount};
  if (auto r = vm->set_msr_filter({&synthetic, 1}); !r) return r.error();
  if (auto r = vm->set_tss_addr(kTssAddr); !r) return r.error();
  if (auto r = vm->set_identity_map_addr(kIdentityMapAddr); !r) return r.error();
  const std::uint64_t low = std::min<std::uint64_t>(low_bytes, ram.size());
  if (auto r = vm->set_user_memory_region(0, 0, low, ram.data()); !r) return r.error();
  if (ram.size() > low) {
    if (auto r = vm->set_user_memory_region(1, kHighRamBase, ram.size() - low, ram.bytes() + low);
        !r) {
      return r.error();
    }
  }
  return vm;
}

kvm::Result<kvm::Vcpu> create_vp_vcpu(kvm::Kvm& kvm, kvm::Vm& vm, const hv::Partition& partition,
                                      tlfs::VpIndex vp) {
  auto supported = kvm.supported_cpuid();
  if (!supported) return supported.error();
  auto vcpu = vm.create_vcpu(vp);
  if (!vcpu) return vcpu.error();
  if (auto r = vcpu->set_cpuid(vp_cpuid(*supported, partition, partition.vp(vp)->apic_id())); !r) {
    return r.error();
  }
  if (auto r = vcpu->enable_sync_regs(); !r) return r.error();
  return vcpu;
}

kvm::Result<void> share_tsc(kvm::Vcpu& vcpu, std::optional<std::int64_t> vtl0_offset,
                            std::uint64_t guest_tsc_now) {
  if (vtl0_offset) return vcpu.set_tsc_offset(*vtl0_offset);
  return vcpu.set_msr(kMsrTsc, guest_tsc_now);
}

kvm::Result<void> move_shared_state(kvm::Vcpu& from, tlfs::Vtl from_vtl, kvm::Vcpu& to,
                                    tlfs::Vtl to_vtl, FpuImages& images) {
  const kvm_regs& f = from.synced_regs();
  kvm_regs& t = to.edit_synced_regs();
  const std::uint64_t rip = t.rip, rsp = t.rsp, rflags = t.rflags;
  t = f;
  t.rip = rip;
  t.rsp = rsp;
  t.rflags = rflags;
  if (to.synced_sregs().cr2 != from.synced_sregs().cr2) {
    to.edit_synced_sregs().cr2 = from.synced_sregs().cr2;
  }
  kvm_xsave& moving = kvm::Vcpu::xsave_buffer(images.image[from_vtl]);
  if (auto r = from.xsave(moving); !r) return r;
  images.known[from_vtl] = true;
  if (images.known[to_vtl] && std::memcmp(images.image[to_vtl].get(), &moving, sizeof moving) == 0) {
    return {};
  }
  if (auto r = to.set_xsave(moving); !r) {
    images.known[to_vtl] = false;
    return r;
  }
  std::memcpy(&kvm::Vcpu::xsave_buffer(images.image[to_vtl]), &moving, sizeof moving);
  images.known[to_vtl] = true;
  return {};
}

void drop_latched_init(kvm::Vcpu& vcpu) {
  kvm_vcpu_events& e = vcpu.edit_synced_events();
  e.flags = (e.flags & KVM_VCPUEVENT_VALID_SHADOW) | KVM_VCPUEVENT_VALID_SMM;
  e.smi.latched_init = 0;
}

kvm::Result<void> software_enable_apic(kvm::Vcpu& vcpu) {
  constexpr std::uint32_t kSvrValue = 0x1FF;  // APIC software enable, spurious vector 0xFF
  auto apic = vcpu.lapic();
  if (!apic) return apic.error();
  std::memcpy(apic->regs + kApicSvr, &kSvrValue, sizeof kSvrValue);
  return vcpu.set_lapic(*apic);
}

}  // namespace hvk::machine
