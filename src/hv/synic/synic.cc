#include "hv/synic/synic.h"

#include <algorithm>

#include "hvk/tlfs/bytes.h"

namespace hvk::hv {

using tlfs::Status;

namespace {

constexpr std::uint64_t kPendingBit = std::uint64_t{tlfs::kMessagePending} << 40;

bool page_enabled(std::uint64_t reg) {
  return (reg & tlfs::kSynicEnable) != 0;
}
std::uint64_t page_gpa(std::uint64_t reg) {
  return reg & tlfs::kSynicPageMask;
}

// A SIM or SIEF page the guest enables (or moves) starts out zero, as at VP creation.
bool zero_page_if_new(std::uint64_t old_reg, std::uint64_t new_reg, GuestMemory* memory) {
  if (!page_enabled(new_reg)) return true;
  if (page_enabled(old_reg) && page_gpa(old_reg) == page_gpa(new_reg)) return true;
  static constexpr std::array<std::byte, tlfs::kPageSize> kZero{};
  return memory != nullptr && memory->write(page_gpa(new_reg), kZero);
}

}  // namespace

void IrqBatch::flush(Backend* backend) noexcept {
  if (backend != nullptr) {
    for (std::size_t i = 0; i < count_; ++i) backend->assert_sint(list_[i]);
  }
  count_ = 0;
}

std::uint64_t Synic::scontrol() const {
  std::lock_guard lock(mu_);
  return scontrol_;
}
std::uint64_t Synic::simp() const {
  std::lock_guard lock(mu_);
  return simp_;
}
std::uint64_t Synic::siefp() const {
  std::lock_guard lock(mu_);
  return siefp_;
}
std::uint64_t Synic::sint(unsigned index) const {
  std::lock_guard lock(mu_);
  return index < tlfs::kSintCount ? sints_[index].raw : 0;
}
bool Synic::enabled() const {
  std::lock_guard lock(mu_);
  return (scontrol_ & tlfs::kSynicEnable) != 0;
}

bool Synic::deliverable_locked() const {
  return (scontrol_ & tlfs::kSynicEnable) != 0 && page_enabled(simp_);
}

void Synic::set_scontrol(std::uint64_t value, GuestMemory* memory, IrqBatch& irqs) {
  std::lock_guard lock(mu_);
  scontrol_ = value;  // bits 63:1 are RsvdP: kept as written
  for (unsigned i = 0; i < tlfs::kSintCount; ++i) retry_locked(i, memory, irqs);
}

bool Synic::set_simp(std::uint64_t value, GuestMemory* memory, IrqBatch& irqs) {
  std::lock_guard lock(mu_);
  if (!zero_page_if_new(simp_, value, memory)) return false;
  simp_ = value;
  for (unsigned i = 0; i < tlfs::kSintCount; ++i) retry_locked(i, memory, irqs);
  return true;
}

bool Synic::set_siefp(std::uint64_t value, GuestMemory* memory) {
  std::lock_guard lock(mu_);
  if (!zero_page_if_new(siefp_, value, memory)) return false;
  siefp_ = value;
  return true;
}

bool Synic::set_sint(unsigned index, std::uint64_t value) {
  if (index >= tlfs::kSintCount) return false;
  const tlfs::SintRegister next{value};
  if (!next.masked() && next.vector() < tlfs::kFirstValidSintVector) return false;
  std::lock_guard lock(mu_);
  sints_[index] = next;
  return true;
}

void Synic::retry(GuestMemory* memory, IrqBatch& irqs) {
  std::lock_guard lock(mu_);
  for (unsigned i = 0; i < tlfs::kSintCount; ++i) retry_locked(i, memory, irqs);
}

bool Synic::reserve_queue(unsigned index) {
  if (index >= tlfs::kSintCount) return false;
  auto fresh = std::make_unique<Queue>();  // allocated outside the lock
  std::lock_guard lock(mu_);
  if (!queues_[index]) queues_[index] = std::move(fresh);
  return true;
}

Status Synic::post(unsigned index, const tlfs::Message& message, GuestMemory* memory,
                   IrqBatch& irqs) {
  std::lock_guard lock(mu_);
  if (!deliverable_locked()) return Status::kInvalidSynicState;
  Queue* q = index < tlfs::kSintCount ? queues_[index].get() : nullptr;
  if (q == nullptr || q->count == kQueueDepth) return Status::kInsufficientBuffers;
  q->ring[(q->head + q->count) % kQueueDepth] = message;
  ++q->count;
  ++stats_.posted;
  retry_locked(index, memory, irqs);
  return Status::kSuccess;
}

Delivery Synic::offer(unsigned index, const tlfs::Message& message, GuestMemory* memory,
                      IrqBatch& irqs) {
  if (index >= tlfs::kSintCount) return Delivery::kUnavailable;
  std::lock_guard lock(mu_);
  const Delivery d = offer_locked(index, message, false, memory, irqs);
  if (d == Delivery::kDelivered) ++stats_.direct;
  return d;
}

void Synic::retry_locked(unsigned index, GuestMemory* memory, IrqBatch& irqs) {
  Queue* q = queues_[index].get();
  if (q == nullptr || q->count == 0) return;
  // One message per slot: the next waits for the guest to empty the slot and write EOM.
  if (offer_locked(index, q->ring[q->head], q->count > 1, memory, irqs) == Delivery::kDelivered) {
    q->head = (q->head + 1) % kQueueDepth;
    --q->count;
    ++stats_.delivered;
  }
}

// The slot protocol (TLFS "Messages"): a slot whose type is HvMessageTypeNone is free. The first
// qword (type, size, flags) changes only through compare-and-swap, so a guest that empties the
// slot at the same moment either sees MessagePending set or gets the new message.
Delivery Synic::offer_locked(unsigned index, const tlfs::Message& message, bool more,
                             GuestMemory* memory, IrqBatch& irqs) {
  if (!deliverable_locked() || memory == nullptr) return Delivery::kUnavailable;
  const std::uint64_t slot = page_gpa(simp_) + std::uint64_t{index} * tlfs::kMessageSize;
  const std::uint8_t size = static_cast<std::uint8_t>(
      std::min<unsigned>(message.header.payload_size, tlfs::kMessageMaxPayload));
  std::uint64_t word = 0;
  for (;;) {
    // A swap of the value with itself reads the qword atomically.
    if (!memory->compare_exchange_u64(slot, word, word)) return Delivery::kUnavailable;
    if (tlfs::header_word_type(word) != 0) {
      if ((word & kPendingBit) != 0) return Delivery::kSlotBusy;
      const auto swapped = memory->compare_exchange_u64(slot, word, word | kPendingBit);
      if (!swapped) return Delivery::kUnavailable;
      if (*swapped) return Delivery::kSlotBusy;
      continue;  // the guest changed the slot meanwhile: look again
    }
    // Free: the origination id and the payload first, the header qword last.
    const auto bytes = tlfs::as_bytes(message);
    if (!memory->write(slot + 8, bytes.subspan(8, 8 + std::size_t{size}))) {
      return Delivery::kUnavailable;
    }
    const std::uint64_t header =
        tlfs::header_word(message.header.message_type, size, more ? tlfs::kMessagePending : 0);
    const auto swapped = memory->compare_exchange_u64(slot, word, header);
    if (!swapped) return Delivery::kUnavailable;
    if (*swapped) break;
  }
  raise_locked(index, irqs);
  return Delivery::kDelivered;
}

void Synic::raise_locked(unsigned index, IrqBatch& irqs) {
  const tlfs::SintRegister s = sints_[index];
  if (s.masked()) return;  // TLFS: the interrupt of a masked SINT is lost
  irqs.add({vp_, vtl_, s.vector(), s.auto_eoi(), static_cast<std::uint8_t>(index)});
  ++stats_.interrupts;
}

Status Synic::signal_event(unsigned index, unsigned flag, GuestMemory* memory, IrqBatch& irqs) {
  if (index >= tlfs::kSintCount || flag >= tlfs::kEventFlagsPerSint) {
    return Status::kInvalidParameter;
  }
  std::lock_guard lock(mu_);
  if ((scontrol_ & tlfs::kSynicEnable) == 0 || !page_enabled(siefp_) || sints_[index].masked() ||
      memory == nullptr) {
    return Status::kInvalidSynicState;
  }
  const std::uint64_t gpa = page_gpa(siefp_) + std::uint64_t{index} * sizeof(tlfs::EventFlags) +
                            std::uint64_t{flag / 64} * 8;
  const std::uint64_t bit = std::uint64_t{1} << (flag % 64);
  std::uint64_t word = 0;
  for (;;) {
    const auto swapped = memory->compare_exchange_u64(gpa, word, word | bit);
    if (!swapped) return Status::kInvalidSynicState;
    if (*swapped) break;
  }
  if ((word & bit) != 0) {
    ++stats_.events_seen;  // already set: the guest has not consumed it yet, no new interrupt
    return Status::kSuccess;
  }
  ++stats_.events_set;
  raise_locked(index, irqs);
  return Status::kSuccess;
}

bool Synic::assert_sint(unsigned index, IrqBatch& irqs) {
  if (index >= tlfs::kSintCount) return false;
  std::lock_guard lock(mu_);
  if (sints_[index].masked()) return false;
  raise_locked(index, irqs);
  return true;
}

std::size_t Synic::queued(unsigned index) const {
  std::lock_guard lock(mu_);
  return index < tlfs::kSintCount && queues_[index] ? queues_[index]->count : 0;
}

SynicStats Synic::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace hvk::hv
