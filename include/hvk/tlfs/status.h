// HV_STATUS: the 16-bit status in a hypercall result value (TLFS, notes §2).
#pragma once

#include <cstdint>

namespace hvk::tlfs {

enum class Status : std::uint16_t {
  kSuccess = 0x0000,
  kInvalidHypercallCode = 0x0002,
  kInvalidHypercallInput = 0x0003,
  kInvalidAlignment = 0x0004,
  kInvalidParameter = 0x0005,
  kAccessDenied = 0x0006,
  kInvalidPartitionState = 0x0007,
  kOperationDenied = 0x0008,
  kUnknownProperty = 0x0009,
  kPropertyValueOutOfRange = 0x000A,
  kInsufficientMemory = 0x000B,
  kPartitionTooDeep = 0x000C,
  kInvalidPartitionId = 0x000D,
  kInvalidVpIndex = 0x000E,
  kNotFound = 0x0010,
  kInvalidPortId = 0x0011,
  kInvalidConnectionId = 0x0012,
  kInsufficientBuffers = 0x0013,
  kNotAcknowledged = 0x0014,
  kInvalidVpState = 0x0015,
  kAcknowledged = 0x0016,
  kInvalidSaveRestoreState = 0x0017,
  kInvalidSynicState = 0x0018,
  kObjectInUse = 0x0019,
  kInvalidProximityDomainInfo = 0x001A,
  kNoData = 0x001B,
  kInactive = 0x001C,
  kNoResources = 0x001D,
  kFeatureUnavailable = 0x001E,
  kPartialPacket = 0x001F,
  kProcessorFeatureNotSupported = 0x0020,
  kInsufficientBuffer = 0x0033,
  kInvalidLpIndex = 0x0041,
  kInvalidRegisterValue = 0x0050,
  kInvalidVtlState = 0x0051,
  kNxNotDetected = 0x0055,
  kOperationFailed = 0x0071,
  kTimeOut = 0x0078,
  kCallPending = 0x0079,
  kVtlAlreadyEnabled = 0x0086,
  kUnknownRegisterName = 0x0087,
};

// Every status above, for tables and exhaustive tests.
inline constexpr Status kAllStatuses[] = {
    Status::kSuccess,
    Status::kInvalidHypercallCode,
    Status::kInvalidHypercallInput,
    Status::kInvalidAlignment,
    Status::kInvalidParameter,
    Status::kAccessDenied,
    Status::kInvalidPartitionState,
    Status::kOperationDenied,
    Status::kUnknownProperty,
    Status::kPropertyValueOutOfRange,
    Status::kInsufficientMemory,
    Status::kPartitionTooDeep,
    Status::kInvalidPartitionId,
    Status::kInvalidVpIndex,
    Status::kNotFound,
    Status::kInvalidPortId,
    Status::kInvalidConnectionId,
    Status::kInsufficientBuffers,
    Status::kNotAcknowledged,
    Status::kInvalidVpState,
    Status::kAcknowledged,
    Status::kInvalidSaveRestoreState,
    Status::kInvalidSynicState,
    Status::kObjectInUse,
    Status::kInvalidProximityDomainInfo,
    Status::kNoData,
    Status::kInactive,
    Status::kNoResources,
    Status::kFeatureUnavailable,
    Status::kPartialPacket,
    Status::kProcessorFeatureNotSupported,
    Status::kInsufficientBuffer,
    Status::kInvalidLpIndex,
    Status::kInvalidRegisterValue,
    Status::kInvalidVtlState,
    Status::kNxNotDetected,
    Status::kOperationFailed,
    Status::kTimeOut,
    Status::kCallPending,
    Status::kVtlAlreadyEnabled,
    Status::kUnknownRegisterName,
};

// The TLFS name, e.g. "HV_STATUS_INVALID_VP_STATE"; nullptr for a value the TLFS does not name.
constexpr const char* status_name(Status s) {
  switch (s) {
    case Status::kSuccess:
      return "HV_STATUS_SUCCESS";
    case Status::kInvalidHypercallCode:
      return "HV_STATUS_INVALID_HYPERCALL_CODE";
    case Status::kInvalidHypercallInput:
      return "HV_STATUS_INVALID_HYPERCALL_INPUT";
    case Status::kInvalidAlignment:
      return "HV_STATUS_INVALID_ALIGNMENT";
    case Status::kInvalidParameter:
      return "HV_STATUS_INVALID_PARAMETER";
    case Status::kAccessDenied:
      return "HV_STATUS_ACCESS_DENIED";
    case Status::kInvalidPartitionState:
      return "HV_STATUS_INVALID_PARTITION_STATE";
    case Status::kOperationDenied:
      return "HV_STATUS_OPERATION_DENIED";
    case Status::kUnknownProperty:
      return "HV_STATUS_UNKNOWN_PROPERTY";
    case Status::kPropertyValueOutOfRange:
      return "HV_STATUS_PROPERTY_VALUE_OUT_OF_RANGE";
    case Status::kInsufficientMemory:
      return "HV_STATUS_INSUFFICIENT_MEMORY";
    case Status::kPartitionTooDeep:
      return "HV_STATUS_PARTITION_TOO_DEEP";
    case Status::kInvalidPartitionId:
      return "HV_STATUS_INVALID_PARTITION_ID";
    case Status::kInvalidVpIndex:
      return "HV_STATUS_INVALID_VP_INDEX";
    case Status::kNotFound:
      return "HV_STATUS_NOT_FOUND";
    case Status::kInvalidPortId:
      return "HV_STATUS_INVALID_PORT_ID";
    case Status::kInvalidConnectionId:
      return "HV_STATUS_INVALID_CONNECTION_ID";
    case Status::kInsufficientBuffers:
      return "HV_STATUS_INSUFFICIENT_BUFFERS";
    case Status::kNotAcknowledged:
      return "HV_STATUS_NOT_ACKNOWLEDGED";
    case Status::kInvalidVpState:
      return "HV_STATUS_INVALID_VP_STATE";
    case Status::kAcknowledged:
      return "HV_STATUS_ACKNOWLEDGED";
    case Status::kInvalidSaveRestoreState:
      return "HV_STATUS_INVALID_SAVE_RESTORE_STATE";
    case Status::kInvalidSynicState:
      return "HV_STATUS_INVALID_SYNIC_STATE";
    case Status::kObjectInUse:
      return "HV_STATUS_OBJECT_IN_USE";
    case Status::kInvalidProximityDomainInfo:
      return "HV_STATUS_INVALID_PROXIMITY_DOMAIN_INFO";
    case Status::kNoData:
      return "HV_STATUS_NO_DATA";
    case Status::kInactive:
      return "HV_STATUS_INACTIVE";
    case Status::kNoResources:
      return "HV_STATUS_NO_RESOURCES";
    case Status::kFeatureUnavailable:
      return "HV_STATUS_FEATURE_UNAVAILABLE";
    case Status::kPartialPacket:
      return "HV_STATUS_PARTIAL_PACKET";
    case Status::kProcessorFeatureNotSupported:
      return "HV_STATUS_PROCESSOR_FEATURE_NOT_SUPPORTED";
    case Status::kInsufficientBuffer:
      return "HV_STATUS_INSUFFICIENT_BUFFER";
    case Status::kInvalidLpIndex:
      return "HV_STATUS_INVALID_LP_INDEX";
    case Status::kInvalidRegisterValue:
      return "HV_STATUS_INVALID_REGISTER_VALUE";
    case Status::kInvalidVtlState:
      return "HV_STATUS_INVALID_VTL_STATE";
    case Status::kNxNotDetected:
      return "HV_STATUS_NX_NOT_DETECTED";
    case Status::kOperationFailed:
      return "HV_STATUS_OPERATION_FAILED";
    case Status::kTimeOut:
      return "HV_STATUS_TIME_OUT";
    case Status::kCallPending:
      return "HV_STATUS_CALL_PENDING";
    case Status::kVtlAlreadyEnabled:
      return "HV_STATUS_VTL_ALREADY_ENABLED";
    case Status::kUnknownRegisterName:
      return "HV_STATUS_UNKNOWN_REGISTER_NAME";
  }
  return nullptr;
}

}  // namespace hvk::tlfs
