#include "hv/hypervisor.h"

#include <mutex>

namespace hvk::hv {

Partition& Hypervisor::add(tlfs::PartitionId parent, const PartitionConfig& config) {
  std::unique_lock lock(mu_);
  const tlfs::PartitionId id = partitions_.size() + 1;
  partitions_.push_back(std::make_unique<Partition>(id, parent, config));
  return *partitions_.back();
}

Partition& Hypervisor::create_root(const PartitionConfig& config) {
  Partition& p = add(tlfs::kPartitionIdInvalid, config);
  p.transition(PartitionState::kCreated, PartitionState::kActive);
  p.vp(0)->mark_running_in(p.vp(0)->current_vtl());
  return p;
}

Partition& Hypervisor::create_child(Partition& parent, const PartitionConfig& config) {
  return add(parent.id(), config);
}

Partition* Hypervisor::find(tlfs::PartitionId id) const {
  std::shared_lock lock(mu_);
  if (id == tlfs::kPartitionIdInvalid || id > partitions_.size()) return nullptr;
  Partition* p = partitions_[id - 1].get();
  return p->state() == PartitionState::kDeleted ? nullptr : p;
}

tlfs::PartitionId Hypervisor::next_child(tlfs::PartitionId parent, tlfs::PartitionId after) const {
  std::shared_lock lock(mu_);
  for (tlfs::PartitionId id = after + 1; id >= 1 && id <= partitions_.size(); ++id) {
    const Partition& p = *partitions_[id - 1];
    if (p.parent() == parent && p.state() != PartitionState::kDeleted) return id;
  }
  return tlfs::kPartitionIdInvalid;
}

bool Hypervisor::delete_tree(Partition& p) {
  for (tlfs::PartitionId c = next_child(p.id(), 0); c != tlfs::kPartitionIdInvalid;
       c = next_child(p.id(), c)) {
    if (Partition* child = find(c)) delete_tree(*child);
  }
  // States only move forward (Created, Active, Finalized, Deleted), so trying them in that order
  // catches a concurrent Initialize or Finalize; only one of two racing deletions wins.
  for (PartitionState s :
       {PartitionState::kCreated, PartitionState::kActive, PartitionState::kFinalized}) {
    if (p.transition(s, PartitionState::kDeleted)) return true;
  }
  return false;
}

}  // namespace hvk::hv
