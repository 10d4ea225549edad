// The set of partitions one hvk process hosts, and their parent/child relation.
#pragma once

#include <memory>
#include <shared_mutex>
#include <vector>

#include "hv/partition.h"

namespace hvk::hv {

class Hypervisor {
 public:
  // A root partition: active at once, VP 0 running in its boot VTL.
  Partition& create_root(const PartitionConfig& config);
  // A child of `parent`: created (not active); none of its VPs runs until its parent initializes
  // it and starts them with HvCallStartVirtualProcessor.
  Partition& create_child(Partition& parent, const PartitionConfig& config);

  // The partition with this id, or nullptr when there is none or it was deleted. Partitions live
  // as long as the Hypervisor, so the pointer stays valid; its state may change.
  Partition* find(tlfs::PartitionId id) const;
  // The smallest id of a live child of `parent` above `after`, or kPartitionIdInvalid.
  tlfs::PartitionId next_child(tlfs::PartitionId parent, tlfs::PartitionId after) const;
  // Marks `p` and, recursively, its children deleted. False when `p` was already deleted (by a
  // racing caller).
  bool delete_tree(Partition& p);

 private:
  Partition& add(tlfs::PartitionId parent, const PartitionConfig& config);
  mutable std::shared_mutex mu_;
  std::vector<std::unique_ptr<Partition>> partitions_;  // ordered by id; ids are 1, 2, ...
};

}  // namespace hvk::hv
