// The call table: every hypercall hvk implements, with its ABI shape.
#include "hv/calls.h"

#include <array>

namespace hvk::hv {

using tlfs::CallCode;
namespace t = tlfs;

namespace {

constexpr std::array kCalls = {
    simple_call<t::StartVirtualProcessorInput, NoOutput, start_virtual_processor,
                describe_start_vp>(CallCode::kStartVirtualProcessor),
    rep_call<t::GetVpIndexFromApicIdHeader, t::ApicIdElement, t::VpIndexElement,
             get_vp_index_from_apic_id, describe_vp_index>(CallCode::kGetVpIndexFromApicId),
    simple_call<t::PartitionIdInput, NoOutput, initialize_partition, describe_partition_id>(
        CallCode::kInitializePartition),
    simple_call<t::PartitionIdInput, NoOutput, finalize_partition, describe_partition_id>(
        CallCode::kFinalizePartition),
    simple_call<t::PartitionIdInput, NoOutput, delete_partition, describe_partition_id>(
        CallCode::kDeletePartition),
    simple_call<t::GetNextChildPartitionInput, t::GetNextChildPartitionOutput,
                get_next_child_partition, describe_next_child>(CallCode::kGetNextChildPartition),
    simple_call<t::EnablePartitionVtlInput, NoOutput, enable_partition_vtl,
                describe_enable_partition_vtl>(CallCode::kEnablePartitionVtl),
    simple_call<t::EnableVpVtlInput, NoOutput, enable_vp_vtl, describe_start_vp>(
        CallCode::kEnableVpVtl),
    rep_call<t::VpRegistersHeader, t::GetVpRegistersElement, t::RegisterValue, get_vp_registers,
             describe_vp_registers>(CallCode::kGetVpRegisters),
    rep_call<t::VpRegistersHeader, t::SetVpRegistersElement, NoOutput, set_vp_registers,
             describe_set_vp_registers>(CallCode::kSetVpRegisters),
    simple_call<NoInput, t::GetPartitionIdOutput, get_partition_id, describe_nothing>(
        CallCode::kGetPartitionId),
    simple_call<t::PostMessageInput, NoOutput, post_message, describe_post_message>(
        CallCode::kPostMessage),
    simple_call<t::SignalEventInput, NoOutput, signal_event, describe_signal_event>(
        CallCode::kSignalEvent),
    simple_call<t::TranslateVirtualAddressInput, t::TranslateVirtualAddressOutput,
                translate_virtual_address, describe_translate>(CallCode::kTranslateVirtualAddress),
    simple_call<t::SendSyntheticClusterIpiInput, NoOutput, send_synthetic_cluster_ipi,
                describe_send_ipi>(CallCode::kSendSyntheticClusterIpi),
    simple_call<t::FlushVirtualAddressInput, NoOutput, flush_virtual_address_space,
                describe_flush>(CallCode::kFlushVirtualAddressSpace),
    rep_call<t::FlushVirtualAddressInput, t::GvaRange, NoOutput, flush_virtual_address_list,
             describe_flush_list>(CallCode::kFlushVirtualAddressList),
    simple_var_call<t::FlushVirtualAddressExInput, flush_virtual_address_space_ex,
                    describe_flush_ex>(CallCode::kFlushVirtualAddressSpaceEx),
    rep_var_call<t::FlushVirtualAddressExInput, t::GvaRange, NoOutput,
                 flush_virtual_address_list_ex, describe_flush_list_ex>(
        CallCode::kFlushVirtualAddressListEx),
    simple_var_call<t::SendSyntheticClusterIpiExInput, send_synthetic_cluster_ipi_ex,
                    describe_send_ipi_ex>(CallCode::kSendSyntheticClusterIpiEx),
    rep_call<t::ModifyVtlProtectionMaskHeader, t::GpaPageNumber, NoOutput,
             modify_vtl_protection_mask, describe_modify_vtl_protection>(
        CallCode::kModifyVtlProtectionMask),
};

}  // namespace

const CallDescriptor* find_call(std::uint16_t code) {
  for (const CallDescriptor& d : kCalls) {
    if (static_cast<std::uint16_t>(d.code) == code) return &d;
  }
  return nullptr;
}

std::span<const CallDescriptor> all_calls() {
  return kCalls;
}

}  // namespace hvk::hv
