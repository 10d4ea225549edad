// Hypercall input and output layouts, byte-exact (TLFS tables; notes §4-6 and issue 2).
// All are trivially copyable and decoded from guest bytes with memcpy (hvk/tlfs/bytes.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "hvk/tlfs/types.h"
#include "hvk/tlfs/vp_context.h"
#include "hvk/tlfs/vp_set.h"
#include "hvk/tlfs/vtl.h"

namespace hvk::tlfs {

// HvCallStartVirtualProcessor (0x0099) and HvCallEnableVpVtl (0x000F) share this layout.
struct StartVirtualProcessorInput {
  PartitionId partition_id;
  VpIndex vp_index;
  Vtl target_vtl;
  std::uint8_t pad[3];
  InitialVpContext vp_context;
};
static_assert(sizeof(StartVirtualProcessorInput) == 240);
static_assert(offsetof(StartVirtualProcessorInput, partition_id) == 0);
static_assert(offsetof(StartVirtualProcessorInput, vp_index) == 8);
static_assert(offsetof(StartVirtualProcessorInput, target_vtl) == 12);
static_assert(offsetof(StartVirtualProcessorInput, pad) == 13);
static_assert(offsetof(StartVirtualProcessorInput, vp_context) == 16);

using EnableVpVtlInput = StartVirtualProcessorInput;

// HvCallEnablePartitionVtl (0x000D).
struct EnablePartitionVtlInput {
  PartitionId partition_id;
  Vtl target_vtl;
  std::uint8_t flags;  // bit 0 EnableMbec, others reserved
  std::uint8_t reserved[6];
};
static_assert(sizeof(EnablePartitionVtlInput) == 16);
static_assert(offsetof(EnablePartitionVtlInput, target_vtl) == 8);
static_assert(offsetof(EnablePartitionVtlInput, flags) == 9);
static_assert(offsetof(EnablePartitionVtlInput, reserved) == 10);

// HvCallGetVpIndexFromApicId (0x009A, rep): header, then packed u32 APIC IDs in and
// packed u32 VP indexes out (DECISION, notes §5).
struct GetVpIndexFromApicIdHeader {
  PartitionId partition_id;
  InputVtl target_vtl;
  std::uint8_t reserved[7];
};
static_assert(sizeof(GetVpIndexFromApicIdHeader) == 16);
static_assert(offsetof(GetVpIndexFromApicIdHeader, target_vtl) == 8);
using ApicIdElement = std::uint32_t;
using VpIndexElement = std::uint32_t;

// HvCallGetVpRegisters / HvCallSetVpRegisters (0x0050 / 0x0051, rep).
struct VpRegistersHeader {
  PartitionId partition_id;
  VpIndex vp_index;
  InputVtl target_vtl;
  std::uint8_t reserved[3];
};
static_assert(sizeof(VpRegistersHeader) == 16);
static_assert(offsetof(VpRegistersHeader, vp_index) == 8);
static_assert(offsetof(VpRegistersHeader, target_vtl) == 12);

// HV_REGISTER_VALUE: 16 bytes.
struct RegisterValue {
  std::uint64_t low;
  std::uint64_t high;
};
static_assert(sizeof(RegisterValue) == 16);

using GetVpRegistersElement = std::uint32_t;  // register name in; RegisterValue out

struct SetVpRegistersElement {
  std::uint32_t name;
  std::uint32_t reserved0;
  std::uint64_t reserved1;
  RegisterValue value;
};
static_assert(sizeof(SetVpRegistersElement) == 32);
static_assert(offsetof(SetVpRegistersElement, value) == 16);

// HvCallInitializePartition (0x0041), HvCallFinalizePartition (0x0042),
// HvCallDeletePartition (0x0043): the partition id alone.
struct PartitionIdInput {
  PartitionId partition_id;
};
static_assert(sizeof(PartitionIdInput) == 8);

// HvCallGetNextChildPartition (0x0047).
struct GetNextChildPartitionInput {
  PartitionId parent_id;
  PartitionId previous_child_id;
};
static_assert(sizeof(GetNextChildPartitionInput) == 16);
static_assert(offsetof(GetNextChildPartitionInput, previous_child_id) == 8);

struct GetNextChildPartitionOutput {
  PartitionId next_child_id;
};
static_assert(sizeof(GetNextChildPartitionOutput) == 8);

// HvCallSendSyntheticClusterIpi (0x000B): a fixed interrupt to the VPs of a 64-bit mask (bit i is
// VP index i), in the VTL HV_INPUT_VTL names. 16 bytes: the fast form carries it in RDX:R8.
struct SendSyntheticClusterIpiInput {
  std::uint32_t vector;  // 0x10..0xFF
  InputVtl target_vtl;
  std::uint8_t padding[3];
  std::uint64_t processor_mask;
};
static_assert(sizeof(SendSyntheticClusterIpiInput) == 16);
static_assert(offsetof(SendSyntheticClusterIpiInput, target_vtl) == 4);
static_assert(offsetof(SendSyntheticClusterIpiInput, processor_mask) == 8);

// HvCallSendSyntheticClusterIpiEx (0x0015): the same with an HV_VP_SET; its bank contents are the
// variable header. 24 fixed bytes: the fast form carries them in RDX, R8 and XMM0's low half.
struct SendSyntheticClusterIpiExInput {
  std::uint32_t vector;
  InputVtl target_vtl;
  std::uint8_t padding[3];
  VpSetHeader processors;
};
static_assert(sizeof(SendSyntheticClusterIpiExInput) == 24);
static_assert(offsetof(SendSyntheticClusterIpiExInput, target_vtl) == 4);
static_assert(offsetof(SendSyntheticClusterIpiExInput, processors) == 8);

// HvCallGetPartitionId (0x0046): no input.
struct GetPartitionIdOutput {
  PartitionId partition_id;
};
static_assert(sizeof(GetPartitionIdOutput) == 8);

}  // namespace hvk::tlfs
