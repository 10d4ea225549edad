// Resolving the PartitionId a caller names: the one rule every partition-targeted call shares.
#pragma once

#include "hv/call_context.h"
#include "hvk/tlfs/status.h"
#include "hvk/tlfs/vtl.h"

namespace hvk::hv {

struct Target {
  tlfs::Status status;   // kSuccess, or why the id is refused
  Partition* partition;  // set on success
  bool self;             // the caller's own partition
};

// SELF or the caller's own id: the caller's partition. A live child of the caller: that child, if
// the caller holds CpuManagement (else ACCESS_DENIED). Anything else: INVALID_PARTITION_ID.
Target resolve_partition(const CallContext& ctx, tlfs::PartitionId id);

// For calls that manage a child (initialize, finalize, delete): the caller must hold
// CpuManagement (else ACCESS_DENIED) and `id` must be a live child (else INVALID_PARTITION_ID;
// a partition cannot manage itself).
Target resolve_child(const CallContext& ctx, tlfs::PartitionId id);

// resolve_partition, then: the partition must be active (else INVALID_PARTITION_STATE) and
// `vp_index` one of its VPs (else INVALID_VP_INDEX); HV_VP_INDEX_SELF names the caller, within
// its own partition only.
struct VpTarget {
  tlfs::Status status;
  Partition* partition;
  Vp* vp;
  bool self;
};
VpTarget resolve_vp(const CallContext& ctx, tlfs::PartitionId id, tlfs::VpIndex vp_index);

// The VTL an HV_INPUT_VTL names: reserved bits set → INVALID_PARAMETER; UseTargetVtl gives
// TargetVtl, otherwise the caller's current VTL (VTL 0 in a child partition); a VTL above the
// caller's within its own partition → ACCESS_DENIED.
struct VtlTarget {
  tlfs::Status status;
  tlfs::Vtl vtl;
};
VtlTarget resolve_input_vtl(const CallContext& ctx, bool self, tlfs::InputVtl in);

}  // namespace hvk::hv
