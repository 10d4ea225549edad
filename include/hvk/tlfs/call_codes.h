// Hypercall call codes (control word bits 15:0) that hvk knows by name (notes §3, issue 2).
#pragma once

#include <cstdint>

namespace hvk::tlfs {

enum class CallCode : std::uint16_t {
  kFlushVirtualAddressSpace = 0x0002,
  kFlushVirtualAddressList = 0x0003,
  kSendSyntheticClusterIpi = 0x000B,
  kModifyVtlProtectionMask = 0x000C,
  kEnablePartitionVtl = 0x000D,
  kEnableVpVtl = 0x000F,
  kVtlCall = 0x0011,
  kVtlReturn = 0x0012,
  kFlushVirtualAddressSpaceEx = 0x0013,
  kFlushVirtualAddressListEx = 0x0014,
  kSendSyntheticClusterIpiEx = 0x0015,
  kInitializePartition = 0x0041,
  kFinalizePartition = 0x0042,
  kDeletePartition = 0x0043,
  kGetPartitionId = 0x0046,
  kGetNextChildPartition = 0x0047,
  kGetVpRegisters = 0x0050,
  kSetVpRegisters = 0x0051,
  kTranslateVirtualAddress = 0x0052,
  kPostMessage = 0x005C,
  kSignalEvent = 0x005D,
  kStartVirtualProcessor = 0x0099,
  kGetVpIndexFromApicId = 0x009A,
};

constexpr const char* call_name(CallCode c) {
  switch (c) {
    case CallCode::kFlushVirtualAddressSpace:
      return "HvCallFlushVirtualAddressSpace";
    case CallCode::kFlushVirtualAddressList:
      return "HvCallFlushVirtualAddressList";
    case CallCode::kSendSyntheticClusterIpi:
      return "HvCallSendSyntheticClusterIpi";
    case CallCode::kModifyVtlProtectionMask:
      return "HvCallModifyVtlProtectionMask";
    case CallCode::kEnablePartitionVtl:
      return "HvCallEnablePartitionVtl";
    case CallCode::kEnableVpVtl:
      return "HvCallEnableVpVtl";
    case CallCode::kVtlCall:
      return "HvCallVtlCall";
    case CallCode::kVtlReturn:
      return "HvCallVtlReturn";
    case CallCode::kFlushVirtualAddressSpaceEx:
      return "HvCallFlushVirtualAddressSpaceEx";
    case CallCode::kFlushVirtualAddressListEx:
      return "HvCallFlushVirtualAddressListEx";
    case CallCode::kSendSyntheticClusterIpiEx:
      return "HvCallSendSyntheticClusterIpiEx";
    case CallCode::kInitializePartition:
      return "HvCallInitializePartition";
    case CallCode::kFinalizePartition:
      return "HvCallFinalizePartition";
    case CallCode::kDeletePartition:
      return "HvCallDeletePartition";
    case CallCode::kGetPartitionId:
      return "HvCallGetPartitionId";
    case CallCode::kGetNextChildPartition:
      return "HvCallGetNextChildPartition";
    case CallCode::kGetVpRegisters:
      return "HvCallGetVpRegisters";
    case CallCode::kSetVpRegisters:
      return "HvCallSetVpRegisters";
    case CallCode::kTranslateVirtualAddress:
      return "HvCallTranslateVirtualAddress";
    case CallCode::kPostMessage:
      return "HvCallPostMessage";
    case CallCode::kSignalEvent:
      return "HvCallSignalEvent";
    case CallCode::kStartVirtualProcessor:
      return "HvCallStartVirtualProcessor";
    case CallCode::kGetVpIndexFromApicId:
      return "HvCallGetVpIndexFromApicId";
  }
  return nullptr;
}

}  // namespace hvk::tlfs
