// The synthetic interrupt controller's ABI: messages, event flags, the SIM and SIEF pages, the
// SynIC and synthetic-timer register bits, and the inputs of HvCallPostMessage (0x005C) and
// HvCallSignalEvent (0x005D). TLFS "Inter-partition communication", "Timers", datatypes
// HV_MESSAGE, HV_SYNIC_EVENT_FLAGS, HV_TIMER_MESSAGE_PAYLOAD, HV_CONNECTION_ID.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hvk::tlfs {

inline constexpr unsigned kSintCount = 16;
inline constexpr unsigned kStimerCount = 4;
inline constexpr std::uint32_t kSynicVersion = 1;  // SVERSION
inline constexpr unsigned kMessageSize = 256;
inline constexpr unsigned kMessageMaxPayload = 240;
inline constexpr unsigned kEventFlagsPerSint = 256 * 8;
inline constexpr unsigned kFirstValidSintVector = 16;  // vectors 0-15 are the CPU's exceptions

// HV_MESSAGE_TYPE: types with bit 31 set belong to the hypervisor; a guest posts the others.
inline constexpr std::uint32_t kMessageTypeHypervisorBit = 0x8000'0000u;
enum class MessageType : std::uint32_t {
  kNone = 0x0000'0000,
  kUnmappedGpa = 0x8000'0000,
  kGpaIntercept = 0x8000'0001,
  kTimerExpired = 0x8000'0010,
  kInvalidVpRegisterValue = 0x8000'0020,
  kUnrecoverableException = 0x8000'0021,
  kUnsupportedFeature = 0x8000'0022,
  kEventLogBufferComplete = 0x8000'0040,
  kX64IoPortIntercept = 0x8001'0000,
  kX64MsrIntercept = 0x8001'0001,
  kX64CpuidIntercept = 0x8001'0002,
  kX64ExceptionIntercept = 0x8001'0003,
  kX64ApicEoi = 0x8001'0004,
  kX64LegacyFpError = 0x8001'0005,
};

// HV_MESSAGE_HEADER. The TLFS markdown lists Reserved (u16) before MessageFlags and PayloadSize;
// every implementation guests run on (Hyper-V as Linux's VMBus driver reads it, KVM, QEMU) puts
// PayloadSize at byte 4 and MessageFlags at byte 5. DECISION: the layout guests use.
struct MessageHeader {
  std::uint32_t message_type;
  std::uint8_t payload_size;
  std::uint8_t message_flags;  // bit 0 MessagePending, 7:1 reserved
  std::uint16_t reserved;
  std::uint64_t origination_id;  // sender partition or port id; 0 for timer messages
};
static_assert(sizeof(MessageHeader) == 16);
static_assert(offsetof(MessageHeader, message_type) == 0);
static_assert(offsetof(MessageHeader, payload_size) == 4);
static_assert(offsetof(MessageHeader, message_flags) == 5);
static_assert(offsetof(MessageHeader, reserved) == 6);
static_assert(offsetof(MessageHeader, origination_id) == 8);

inline constexpr std::uint8_t kMessagePending = 1;  // HV_MESSAGE_FLAGS.MessagePending

// The first qword of a slot holds the type and the flags: hvk updates it with one atomic
// compare-and-swap so that a guest clearing the type at the same moment is never overwritten.
constexpr std::uint64_t header_word(std::uint32_t type, std::uint8_t size, std::uint8_t flags) {
  return std::uint64_t{type} | std::uint64_t{size} << 32 | std::uint64_t{flags} << 40;
}
constexpr std::uint32_t header_word_type(std::uint64_t w) {
  return static_cast<std::uint32_t>(w);
}
constexpr std::uint8_t header_word_flags(std::uint64_t w) {
  return static_cast<std::uint8_t>(w >> 40);
}

// HV_MESSAGE: 256 bytes, the header and up to 240 bytes of payload.
struct Message {
  MessageHeader header;
  std::uint8_t payload[kMessageMaxPayload];
};
static_assert(sizeof(Message) == kMessageSize);
static_assert(offsetof(Message, payload) == 16);

// The SIM page: one message slot per SINT.
struct MessagePage {
  Message slots[kSintCount];
};
static_assert(sizeof(MessagePage) == 4096);

// HV_SYNIC_EVENT_FLAGS: 2048 flags per SINT; the SIEF page holds one set per SINT.
struct EventFlags {
  std::uint8_t bits[kEventFlagsPerSint / 8];
};
static_assert(sizeof(EventFlags) == 256);
struct EventFlagsPage {
  EventFlags sints[kSintCount];
};
static_assert(sizeof(EventFlagsPage) == 4096);

// HV_TIMER_MESSAGE_PAYLOAD, the payload of HvMessageTimerExpired.
struct TimerMessagePayload {
  std::uint32_t timer_index;
  std::uint32_t reserved;
  std::uint64_t expiration_time;  // reference time the timer was due
  std::uint64_t delivery_time;    // reference time the message was written
};
static_assert(sizeof(TimerMessagePayload) == 24);
static_assert(offsetof(TimerMessagePayload, expiration_time) == 8);
static_assert(offsetof(TimerMessagePayload, delivery_time) == 16);

// HV_CONNECTION_ID: 23:0 id, 31:24 reserved (must be zero).
struct ConnectionId {
  std::uint32_t raw = 0;
  static constexpr std::uint32_t kIdMask = 0x00FF'FFFFu;
  constexpr std::uint32_t id() const { return raw & kIdMask; }
  constexpr bool reserved_bits() const { return (raw & ~kIdMask) != 0; }
};
static_assert(sizeof(ConnectionId) == 4);

// HvCallPostMessage (0x005C, simple, 256 bytes of input).
struct PostMessageInput {
  ConnectionId connection_id;
  std::uint32_t reserved;  // RsvdZ
  std::uint32_t message_type;
  std::uint32_t payload_size;
  std::uint8_t payload[kMessageMaxPayload];
};
static_assert(sizeof(PostMessageInput) == 256);
static_assert(offsetof(PostMessageInput, reserved) == 4);
static_assert(offsetof(PostMessageInput, message_type) == 8);
static_assert(offsetof(PostMessageInput, payload_size) == 12);
static_assert(offsetof(PostMessageInput, payload) == 16);

// HvCallSignalEvent (0x005D, simple, 8 bytes: fits a fast call).
struct SignalEventInput {
  ConnectionId connection_id;
  std::uint16_t flag_number;  // relative to the port's base flag
  std::uint16_t reserved;     // RsvdZ
};
static_assert(sizeof(SignalEventInput) == 8);
static_assert(offsetof(SignalEventInput, flag_number) == 4);
static_assert(offsetof(SignalEventInput, reserved) == 6);

// SCONTROL: bit 0 Enable, 63:1 RsvdP. SIMP and SIEFP: 63:12 page GPA, 11:1 RsvdP, bit 0 Enable.
inline constexpr std::uint64_t kSynicEnable = 1;
inline constexpr std::uint64_t kSynicPageMask = ~std::uint64_t{0xFFF};

// SINT0-15: 7:0 vector, 16 masked, 17 auto-EOI, 18 polling; the rest RsvdP.
struct SintRegister {
  std::uint64_t raw = kMasked;  // masked at VP creation and reset
  static constexpr std::uint64_t kMasked = 1ull << 16;
  static constexpr std::uint64_t kAutoEoi = 1ull << 17;
  static constexpr std::uint64_t kPolling = 1ull << 18;
  constexpr std::uint8_t vector() const { return static_cast<std::uint8_t>(raw); }
  constexpr bool masked() const { return (raw & kMasked) != 0; }
  constexpr bool auto_eoi() const { return (raw & kAutoEoi) != 0; }
  constexpr bool polling() const { return (raw & kPolling) != 0; }
};

// STIMERx_CONFIG: 0 Enable, 1 Periodic, 2 Lazy, 3 AutoEnable, 11:4 ApicVector (direct mode),
// 12 DirectMode, 15:13 RsvdZ, 19:16 SINTx, 63:20 RsvdZ.
struct StimerConfig {
  std::uint64_t raw = 0;
  static constexpr std::uint64_t kEnable = 1ull << 0;
  static constexpr std::uint64_t kPeriodic = 1ull << 1;
  static constexpr std::uint64_t kLazy = 1ull << 2;
  static constexpr std::uint64_t kAutoEnable = 1ull << 3;
  static constexpr std::uint64_t kDirectMode = 1ull << 12;
  static constexpr std::uint64_t kDefinedBits = 0xF'1FFFull;
  constexpr bool enabled() const { return (raw & kEnable) != 0; }
  constexpr bool periodic() const { return (raw & kPeriodic) != 0; }
  constexpr bool lazy() const { return (raw & kLazy) != 0; }
  constexpr bool auto_enable() const { return (raw & kAutoEnable) != 0; }
  constexpr bool direct() const { return (raw & kDirectMode) != 0; }
  constexpr std::uint8_t apic_vector() const { return static_cast<std::uint8_t>(raw >> 4); }
  constexpr unsigned sintx() const { return static_cast<unsigned>(raw >> 16) & 0xFu; }
};
static_assert(StimerConfig{0x5'0B31}.sintx() == 5 && StimerConfig{0x5'0B31}.apic_vector() == 0xB3);

}  // namespace hvk::tlfs
