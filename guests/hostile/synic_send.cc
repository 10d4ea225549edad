// The SynIC storm's senders: HvCallPostMessage and HvCallSignalEvent through the hypercall page,
// each status checked against docs/conformance.md (Y10, Y13, Y24, Y27).
#include "synic_storm.h"

namespace hostile::synic_storm {

bool post(std::uint32_t u, std::uint32_t v, unsigned s) {
  State& st = state();
  VpCounts& c = st.counts[u];
  auto* in = static_cast<tlfs::PostMessageInput*>(hv_input_page());
  const std::uint64_t seq = st.sent[u][v][s];
  const std::uint32_t target = v << 8 | s;
  in->connection_id.raw = connection_id(v, s);
  in->reserved = 0;
  in->message_type = kMessageType;
  in->payload_size = sizeof(Payload);
  const Payload p{u, target, seq, payload_check(u, target, seq)};
  memcpy(in->payload, &p, sizeof p);
  const std::uint64_t r = hv_call(hv_control(tlfs::CallCode::kPostMessage), in, nullptr);
  count(c.posts);
  if (r == static_cast<std::uint64_t>(Status::kSuccess)) {
    publish(st.sent[u][v][s], seq + 1);
    count(c.posted);
    return true;
  }
  if (r == static_cast<std::uint64_t>(Status::kInsufficientBuffers)) {
    count(c.retries);  // the queue is full: the same sequence number goes again later (Y10)
    return false;
  }
  fail(
      "SynIC: PostMessage from VP %u to VP %u SINT %u (connection %u, seq %lu) -> result 0x%lx "
      "(%s); allowed SUCCESS or INSUFFICIENT_BUFFERS, reps 0 (Y10, Y24)",
      u, v, s, connection_id(v, s), seq, r, hv_status_name(hv_status(r)));
  return false;
}

void signal(std::uint32_t u, std::uint32_t v, unsigned s, bool fast) {
  State& st = state();
  VpCounts& c = st.counts[u];
  // seen[v][s] can only grow; a flag this call finds set, or sets, is cleared (and counted) by
  // the receiver after this read.
  const std::uint64_t before = load(st.seen[v][s]);
  std::uint64_t r;
  if (fast) {
    // The 8-byte input in RDX: connection id, flag number 0, RsvdZ 0.
    r = hv_call(tlfs::HypercallControl::make(tlfs::CallCode::kSignalEvent, true).raw,
                std::uint64_t{connection_id(v, s)}, 0);
  } else {
    auto* in = static_cast<tlfs::SignalEventInput*>(hv_input_page());
    in->connection_id.raw = connection_id(v, s);
    in->flag_number = 0;
    in->reserved = 0;
    r = hv_call(hv_control(tlfs::CallCode::kSignalEvent), in, nullptr);
  }
  count(c.signals);
  const Status want = s == kPolledSint ? Status::kInvalidSynicState : Status::kSuccess;
  if (r != static_cast<std::uint64_t>(want)) {
    fail(
        "SynIC: SignalEvent (%s) from VP %u to VP %u SINT %u (connection %u) -> result 0x%lx "
        "(%s); allowed %s, reps 0 (%s)",
        fast ? "fast" : "memory", u, v, s, connection_id(v, s), r, hv_status_name(hv_status(r)),
        hv_status_name(static_cast<std::uint16_t>(want)),
        s == kPolledSint ? "Y13: the SINT is masked" : "Y12, Y27");
    return;
  }
  if (s == kPolledSint) {
    count(c.signals_masked);
    return;
  }
  count(c.signalled);
  publish(st.must_see[u][v][s], before + 1);
}

}  // namespace hostile::synic_storm
