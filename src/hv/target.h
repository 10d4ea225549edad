// Resolving the PartitionId a caller names: the one rule every partition-targeted call shares.
#pragma once

#include "hv/call_context.h"
#include "hvk/tlfs/status.h"

namespace hvk::hv {

struct Target {
  tlfs::Status status;       // kSuccess, or why the id is refused
  Partition* partition;      // set on success
  bool self;                 // the caller's own partition
};

// SELF or the caller's own id: the caller's partition. A live child of the caller: that child, if
// the caller holds CpuManagement (else ACCESS_DENIED). Anything else: INVALID_PARTITION_ID.
Target resolve_partition(const CallContext& ctx, tlfs::PartitionId id);

// For calls that manage a child (initialize, finalize, delete): the caller must hold
// CpuManagement (else ACCESS_DENIED) and `id` must be a live child (else INVALID_PARTITION_ID;
// a partition cannot manage itself).
Target resolve_child(const CallContext& ctx, tlfs::PartitionId id);

}  // namespace hvk::hv
