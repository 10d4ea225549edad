// The connections of a partition (TLFS "Ports and connections"): what HvCallPostMessage and
// HvCallSignalEvent resolve a connection id to. The host side creates them (tests, and the
// hyperv-testdev device); a connection names its port's target directly: partition, VP, VTL, SINT,
// and for events the range of flags it may set.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "hvk/tlfs/status.h"
#include "hvk/tlfs/types.h"

namespace hvk::hv {

class Partition;

enum class PortKind : std::uint8_t { kMessage, kEvent };

struct Port {
  PortKind kind = PortKind::kMessage;
  Partition* partition = nullptr;  // the receiver; must outlive the connection
  tlfs::VpIndex vp = 0;
  tlfs::Vtl vtl = 0;
  std::uint8_t sint = 0;
  std::uint64_t port_id = 0;    // messages: the origination id the receiver sees
  std::uint16_t flag_base = 0;  // events: flags flag_base .. flag_base + flag_count - 1
  std::uint16_t flag_count = 0;
};

struct Connection {
  std::uint32_t id = 0;
  Port port;
};

class ConnectionTable {
 public:
  // Message and event connections are two namespaces: one id may name one of each (conformance
  // Y28, as QEMU and KVM, whose hyperv-testdev clients rely on it).
  //
  // Host side (allocates). SUCCESS; INVALID_CONNECTION_ID for an id with bits 31:24 set or one
  // in use by a connection of the same kind; INVALID_PARAMETER for a SINT above 15 or flags
  // beyond 2047; INVALID_VP_INDEX for a VP or VTL the receiver lacks. A message port gives its
  // SINT a message queue.
  tlfs::Status connect(std::uint32_t id, const Port& port);
  bool disconnect(std::uint32_t id, PortKind kind);
  // The hypercall path, no allocation: the connection of that kind with that id, or else one of
  // the other kind (the caller answers INVALID_PORT_ID), or none.
  std::optional<Connection> find(std::uint32_t id, PortKind kind) const;

 private:
  mutable std::mutex mu_;
  std::vector<Connection> list_;
};

}  // namespace hvk::hv
