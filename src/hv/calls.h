// The typed handlers. Each gets an input the dispatcher has already checked against the ABI.
#pragma once

#include <cstddef>

#include "hv/call_table.h"
#include "hvk/tlfs/flush.h"
#include "hvk/tlfs/inputs.h"
#include "hvk/tlfs/synic.h"
#include "hvk/tlfs/translate.h"
#include "hvk/tlfs/vtl_protection.h"

namespace hvk::hv {

tlfs::Status start_virtual_processor(CallContext& ctx, const tlfs::StartVirtualProcessorInput& in,
                                     NoOutput&);
RepResult get_vp_index_from_apic_id(CallContext& ctx, const tlfs::GetVpIndexFromApicIdHeader& h,
                                    RepInput<tlfs::ApicIdElement> apic_ids,
                                    RepOutput<tlfs::VpIndexElement> vp_indexes);
tlfs::Status initialize_partition(CallContext& ctx, const tlfs::PartitionIdInput& in, NoOutput&);
tlfs::Status finalize_partition(CallContext& ctx, const tlfs::PartitionIdInput& in, NoOutput&);
tlfs::Status delete_partition(CallContext& ctx, const tlfs::PartitionIdInput& in, NoOutput&);
tlfs::Status get_next_child_partition(CallContext& ctx, const tlfs::GetNextChildPartitionInput& in,
                                      tlfs::GetNextChildPartitionOutput& out);
tlfs::Status get_partition_id(CallContext& ctx, const NoInput&, tlfs::GetPartitionIdOutput& out);

tlfs::Status enable_partition_vtl(CallContext& ctx, const tlfs::EnablePartitionVtlInput& in,
                                  NoOutput&);
tlfs::Status enable_vp_vtl(CallContext& ctx, const tlfs::EnableVpVtlInput& in, NoOutput&);
RepResult get_vp_registers(CallContext& ctx, const tlfs::VpRegistersHeader& h,
                           RepInput<tlfs::GetVpRegistersElement> names,
                           RepOutput<tlfs::RegisterValue> values);

RepResult set_vp_registers(CallContext& ctx, const tlfs::VpRegistersHeader& h,
                           RepInput<tlfs::SetVpRegistersElement> elements, RepOutput<NoOutput>);

// HvCallTranslateVirtualAddress (translate_gva.cc).
tlfs::Status translate_virtual_address(CallContext& ctx,
                                       const tlfs::TranslateVirtualAddressInput& in,
                                       tlfs::TranslateVirtualAddressOutput& out);

// HvCallSendSyntheticClusterIpi (ipi_calls.cc).
tlfs::Status send_synthetic_cluster_ipi(CallContext& ctx,
                                        const tlfs::SendSyntheticClusterIpiInput& in, NoOutput&);
tlfs::Status send_synthetic_cluster_ipi_ex(CallContext& ctx,
                                           const tlfs::SendSyntheticClusterIpiExInput& in,
                                           VarHeader banks);

// HvCallFlushVirtualAddressSpace and List, and their Ex forms (flush_calls.cc).
tlfs::Status flush_virtual_address_space(CallContext& ctx,
                                         const tlfs::FlushVirtualAddressInput& in, NoOutput&);
RepResult flush_virtual_address_list(CallContext& ctx, const tlfs::FlushVirtualAddressInput& in,
                                     RepInput<tlfs::GvaRange> ranges, RepOutput<NoOutput>);
tlfs::Status flush_virtual_address_space_ex(CallContext& ctx,
                                            const tlfs::FlushVirtualAddressExInput& in,
                                            VarHeader banks);
RepResult flush_virtual_address_list_ex(CallContext& ctx,
                                        const tlfs::FlushVirtualAddressExInput& in,
                                        VarHeader banks, RepInput<tlfs::GvaRange> ranges,
                                        RepOutput<NoOutput>);

// HvCallModifyVtlProtectionMask (vtl_protection_calls.cc); and what setting EnableVtlProtection
// in VTL `vtl`'s HvRegisterVsmPartitionConfig starts (its default mask on the VTL below).
RepResult modify_vtl_protection_mask(CallContext& ctx,
                                     const tlfs::ModifyVtlProtectionMaskHeader& h,
                                     RepInput<tlfs::GpaPageNumber> pages, RepOutput<NoOutput>);
void vtl_protection_enabled(Partition& p, tlfs::Vtl vtl);

// SynIC messages and events (synic/message_calls.cc).
tlfs::Status post_message(CallContext& ctx, const tlfs::PostMessageInput& in, NoOutput&);
tlfs::Status signal_event(CallContext& ctx, const tlfs::SignalEventInput& in, NoOutput&);

// Trace formatters (describe.cc).
std::size_t describe_start_vp(const tlfs::StartVirtualProcessorInput& in, char* buf, std::size_t n);
std::size_t describe_vp_index(const tlfs::GetVpIndexFromApicIdHeader& h,
                              RepInput<tlfs::ApicIdElement> ids, char* buf, std::size_t n);
std::size_t describe_partition_id(const tlfs::PartitionIdInput& in, char* buf, std::size_t n);
std::size_t describe_enable_partition_vtl(const tlfs::EnablePartitionVtlInput& in, char* buf,
                                          std::size_t n);
std::size_t describe_vp_registers(const tlfs::VpRegistersHeader& h,
                                  RepInput<tlfs::GetVpRegistersElement> names, char* buf,
                                  std::size_t n);
std::size_t describe_set_vp_registers(const tlfs::VpRegistersHeader& h,
                                      RepInput<tlfs::SetVpRegistersElement> elements, char* buf,
                                      std::size_t n);
std::size_t describe_post_message(const tlfs::PostMessageInput& in, char* buf, std::size_t n);
std::size_t describe_signal_event(const tlfs::SignalEventInput& in, char* buf, std::size_t n);
std::size_t describe_nothing(const NoInput&, char* buf, std::size_t n);
std::size_t describe_translate(const tlfs::TranslateVirtualAddressInput& in, char* buf,
                               std::size_t n);
std::size_t describe_send_ipi(const tlfs::SendSyntheticClusterIpiInput& in, char* buf,
                              std::size_t n);
std::size_t describe_flush(const tlfs::FlushVirtualAddressInput& in, char* buf, std::size_t n);
std::size_t describe_flush_list(const tlfs::FlushVirtualAddressInput& in,
                                RepInput<tlfs::GvaRange> ranges, char* buf, std::size_t n);
std::size_t describe_send_ipi_ex(const tlfs::SendSyntheticClusterIpiExInput& in, VarHeader banks,
                                 char* buf, std::size_t n);
std::size_t describe_flush_ex(const tlfs::FlushVirtualAddressExInput& in, VarHeader banks,
                              char* buf, std::size_t n);
std::size_t describe_flush_list_ex(const tlfs::FlushVirtualAddressExInput& in, VarHeader banks,
                                   RepInput<tlfs::GvaRange> ranges, char* buf, std::size_t n);
std::size_t describe_modify_vtl_protection(const tlfs::ModifyVtlProtectionMaskHeader& h,
                                           RepInput<tlfs::GpaPageNumber> pages, char* buf,
                                           std::size_t n);
std::size_t describe_next_child(const tlfs::GetNextChildPartitionInput& in, char* buf,
                                std::size_t n);

}  // namespace hvk::hv
