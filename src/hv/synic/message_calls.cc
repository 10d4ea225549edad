// HvCallPostMessage (0x005C) and HvCallSignalEvent (0x005D): a connection of the caller's
// partition names a port, the port a VP, VTL and SINT of the receiver (docs/conformance.md Y24-Y28).
#include <fmt/format.h>

#include <cstring>

#include "hv/calls.h"

namespace hvk::hv {

using tlfs::Privilege;
using tlfs::Status;

namespace {

// The port behind a connection id, with the checks both calls share.
Status resolve(const Partition& caller, tlfs::ConnectionId id, PortKind kind, Port& out) {
  if (id.reserved_bits()) return Status::kInvalidConnectionId;
  const std::optional<Connection> c = caller.connections().find(id.raw, kind);
  if (!c) return Status::kInvalidConnectionId;
  if (c->port.kind != kind || c->port.partition->state() != PartitionState::kActive) {
    return Status::kInvalidPortId;
  }
  out = c->port;
  return Status::kSuccess;
}

template <typename... Args>
std::size_t put(char* buf, std::size_t n, fmt::format_string<Args...> f, Args&&... args) {
  if (n == 0) return 0;
  const auto r = fmt::format_to_n(buf, n - 1, f, std::forward<Args>(args)...);
  const std::size_t len = r.size < n - 1 ? r.size : n - 1;
  buf[len] = '\0';
  return len;
}

}  // namespace

Status post_message(CallContext& ctx, const tlfs::PostMessageInput& in, NoOutput&) {
  if (!ctx.partition.privileges().has(Privilege::kPostMessages)) return Status::kAccessDenied;
  if (in.reserved != 0 || in.message_type == 0 ||
      (in.message_type & tlfs::kMessageTypeHypervisorBit) != 0 ||
      in.payload_size > tlfs::kMessageMaxPayload) {
    return Status::kInvalidParameter;
  }
  Port port;
  if (const Status s = resolve(ctx.partition, in.connection_id, PortKind::kMessage, port);
      s != Status::kSuccess) {
    return s;
  }
  Vp* target = port.partition->vp(port.vp);
  if (target == nullptr) return Status::kInvalidVpIndex;
  tlfs::Message m{};
  m.header.message_type = in.message_type;
  m.header.payload_size = static_cast<std::uint8_t>(in.payload_size);
  m.header.origination_id = port.port_id;
  std::memcpy(m.payload, in.payload, in.payload_size);
  IrqBatch irqs;
  const Status s = target->synic(port.vtl).synic.post(port.sint, m, port.partition->memory(), irqs);
  irqs.flush(port.partition->backend());
  return s;
}

Status signal_event(CallContext& ctx, const tlfs::SignalEventInput& in, NoOutput&) {
  if (!ctx.partition.privileges().has(Privilege::kSignalEvents)) return Status::kAccessDenied;
  if (in.reserved != 0) return Status::kInvalidParameter;
  Port port;
  if (const Status s = resolve(ctx.partition, in.connection_id, PortKind::kEvent, port);
      s != Status::kSuccess) {
    return s;
  }
  if (in.flag_number >= port.flag_count) return Status::kInvalidParameter;
  Vp* target = port.partition->vp(port.vp);
  if (target == nullptr) return Status::kInvalidVpIndex;
  IrqBatch irqs;
  const Status s = target->synic(port.vtl).synic.signal_event(
      port.sint, unsigned{port.flag_base} + in.flag_number, port.partition->memory(), irqs);
  irqs.flush(port.partition->backend());
  return s;
}

std::size_t describe_post_message(const tlfs::PostMessageInput& in, char* buf, std::size_t n) {
  return put(buf, n, "connection={:#x} type={:#x} size={}", in.connection_id.raw, in.message_type,
             in.payload_size);
}

std::size_t describe_signal_event(const tlfs::SignalEventInput& in, char* buf, std::size_t n) {
  return put(buf, n, "connection={:#x} flag={}", in.connection_id.raw, in.flag_number);
}

}  // namespace hvk::hv
