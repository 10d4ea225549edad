#include "hv/synic/connections.h"

#include <algorithm>

#include "hv/partition.h"
#include "hvk/tlfs/synic.h"

namespace hvk::hv {

using tlfs::Status;

Status ConnectionTable::connect(std::uint32_t id, const Port& port) {
  if (tlfs::ConnectionId{id}.reserved_bits()) return Status::kInvalidConnectionId;
  if (port.sint >= tlfs::kSintCount) return Status::kInvalidParameter;
  if (port.kind == PortKind::kEvent &&
      (port.flag_count == 0 ||
       unsigned{port.flag_base} + unsigned{port.flag_count} > tlfs::kEventFlagsPerSint)) {
    return Status::kInvalidParameter;
  }
  if (port.partition == nullptr || port.vtl > tlfs::kMaxVtl) return Status::kInvalidVpIndex;
  Vp* vp = port.partition->vp(port.vp);
  if (vp == nullptr) return Status::kInvalidVpIndex;
  std::lock_guard lock(mu_);
  if (std::any_of(list_.begin(), list_.end(),
                  [&](const Connection& c) { return c.id == id && c.port.kind == port.kind; })) {
    return Status::kInvalidConnectionId;
  }
  if (port.kind == PortKind::kMessage) vp->synic(port.vtl).synic.reserve_queue(port.sint);
  list_.push_back({id, port});
  return Status::kSuccess;
}

bool ConnectionTable::disconnect(std::uint32_t id, PortKind kind) {
  std::lock_guard lock(mu_);
  const auto it = std::find_if(list_.begin(), list_.end(), [&](const Connection& c) {
    return c.id == id && c.port.kind == kind;
  });
  if (it == list_.end()) return false;
  list_.erase(it);  // messages already queued stay queued (TLFS)
  return true;
}

std::optional<Connection> ConnectionTable::find(std::uint32_t id, PortKind kind) const {
  std::lock_guard lock(mu_);
  std::optional<Connection> other;
  for (const Connection& c : list_) {
    if (c.id != id) continue;
    if (c.port.kind == kind) return c;
    other = c;
  }
  return other;
}

}  // namespace hvk::hv
