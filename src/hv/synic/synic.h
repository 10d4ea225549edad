// The synthetic interrupt controller of one VP in one VTL (TLFS "Inter-partition communication",
// "SynIC"): its registers, the message-slot protocol of the SIM page, the per-SINT message queues,
// and the event flags of the SIEF page. It knows nothing of partitions: the caller passes the
// guest memory, and the interrupts to raise come back in an IrqBatch that the caller hands to
// the backend once every engine lock is released.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "hv/backend.h"
#include "hv/guest_memory.h"
#include "hvk/tlfs/status.h"
#include "hvk/tlfs/synic.h"

namespace hvk::hv {

// Interrupts collected under engine locks and raised after them.
class IrqBatch {
 public:
  void add(const SintInterrupt& irq) {
    if (count_ < list_.size()) list_[count_++] = irq;
  }
  std::size_t size() const { return count_; }
  const SintInterrupt& operator[](std::size_t i) const { return list_[i]; }
  // Hands every interrupt to `backend` (may be null: nothing raised) and empties the batch.
  void flush(Backend* backend) noexcept;

 private:
  // One call raises at most one interrupt per SINT plus one per direct timer.
  std::array<SintInterrupt, tlfs::kSintCount + tlfs::kStimerCount> list_{};
  std::size_t count_ = 0;
};

enum class Delivery : std::uint8_t {
  kDelivered,    // written into the SINT's slot (and the SINT's interrupt raised unless masked)
  kSlotBusy,     // the slot holds a message: its MessagePending flag is now set
  kUnavailable,  // the SynIC or its SIM page is disabled (or the page is not RAM)
};

// Every message and event accounted for, so that tests (and the hostile guest) can prove none
// is lost or duplicated: posted == delivered + queued at every moment.
struct SynicStats {
  std::uint64_t posted = 0;       // messages accepted into a queue
  std::uint64_t delivered = 0;    // queued messages written into their slot
  std::uint64_t direct = 0;       // messages written without queueing (timer buffers)
  std::uint64_t events_set = 0;   // event flags that went from clear to set
  std::uint64_t events_seen = 0;  // event flags that were set already
  std::uint64_t interrupts = 0;   // SINT interrupts raised
};

class Synic {
 public:
  // Guest message buffers per SINT (the TLFS gives each port 16; see docs/conformance.md Y10).
  static constexpr std::size_t kQueueDepth = 16;

  Synic(tlfs::VpIndex vp, tlfs::Vtl vtl) : vp_(vp), vtl_(vtl) {}
  Synic(const Synic&) = delete;
  Synic& operator=(const Synic&) = delete;

  // Registers, as the guest reads them.
  std::uint64_t scontrol() const;
  std::uint64_t simp() const;
  std::uint64_t siefp() const;
  std::uint64_t sint(unsigned index) const;
  bool enabled() const;  // SCONTROL.Enable

  // Register writes; false means the guest gets #GP. Enabling the SynIC or the SIM page retries
  // queued messages.
  void set_scontrol(std::uint64_t value, GuestMemory* memory, IrqBatch& irqs);
  bool set_simp(std::uint64_t value, GuestMemory* memory, IrqBatch& irqs);
  bool set_siefp(std::uint64_t value, GuestMemory* memory);
  bool set_sint(unsigned index, std::uint64_t value);

  // Tries to write the first queued message of every SINT into its slot (EOM, and whenever a
  // slot may have been freed).
  void retry(GuestMemory* memory, IrqBatch& irqs);

  // Host side: gives SINT `index` its queue of guest message buffers (allocates; not on the
  // hypercall path). False for a bad index.
  bool reserve_queue(unsigned index);
  // Queues `message` for SINT `index` and tries to deliver: SUCCESS (queued or delivered),
  // INVALID_SYNIC_STATE (SynIC or SIM page disabled), INSUFFICIENT_BUFFERS (queue full or none).
  tlfs::Status post(unsigned index, const tlfs::Message& message, GuestMemory* memory,
                    IrqBatch& irqs);
  // Writes `message` into SINT `index`'s slot if it is free, without queueing (the timers' own
  // message buffers); a busy slot gets its MessagePending flag.
  Delivery offer(unsigned index, const tlfs::Message& message, GuestMemory* memory, IrqBatch& irqs);

  // Sets flag `flag` of SINT `index` in the SIEF page atomically; raises the SINT only when the
  // flag was clear. SUCCESS, or INVALID_SYNIC_STATE (SynIC or SIEF page disabled, SINT masked).
  tlfs::Status signal_event(unsigned index, unsigned flag, GuestMemory* memory, IrqBatch& irqs);

  // Host side: raises SINT `index`'s vector as if a message had arrived; false if masked.
  bool assert_sint(unsigned index, IrqBatch& irqs);

  std::size_t queued(unsigned index) const;
  SynicStats stats() const;

 private:
  struct Queue {
    std::array<tlfs::Message, kQueueDepth> ring{};
    std::size_t head = 0;
    std::size_t count = 0;
  };
  Delivery offer_locked(unsigned index, const tlfs::Message& message, bool more,
                        GuestMemory* memory, IrqBatch& irqs);
  void retry_locked(unsigned index, GuestMemory* memory, IrqBatch& irqs);
  void raise_locked(unsigned index, IrqBatch& irqs);
  bool deliverable_locked() const;

  const tlfs::VpIndex vp_;
  const tlfs::Vtl vtl_;
  mutable std::mutex mu_;  // guards everything below
  std::uint64_t scontrol_ = 0;
  std::uint64_t simp_ = 0;
  std::uint64_t siefp_ = 0;
  std::array<tlfs::SintRegister, tlfs::kSintCount> sints_{};
  std::array<std::unique_ptr<Queue>, tlfs::kSintCount> queues_{};
  SynicStats stats_{};
};

}  // namespace hvk::hv
