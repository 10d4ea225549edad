// The GDB remote serial protocol's framing (gdb's manual, "Overview" of the remote protocol):
// packets `$payload#cc`, acknowledgements `+`/`-`, and the interrupt byte 0x03. Pure byte work,
// no I/O: the server feeds what it reads and writes what frame() returns. A libFuzzer target
// drives the reader (fuzz/fuzz_gdb_packet.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hvk::gdb {

// What the reader found in the byte stream, in order.
struct PacketEvent {
  enum class Kind {
    kPacket,       // a whole packet whose checksum matched: `payload` is unescaped
    kInterrupt,    // 0x03 outside a packet (gdb's Ctrl-C)
    kAck,          // '+'
    kNack,         // '-': resend the last packet
    kBadChecksum,  // a whole packet whose checksum did not match (answer '-')
    kOversized,    // a packet longer than the limit, dropped whole (answer with an error)
  };
  Kind kind = Kind::kPacket;
  std::string payload;
};

// Splits a byte stream from gdb into events. Bytes outside a packet other than '+', '-' and 0x03
// are skipped. Inside a packet, '}' escapes the next byte (xor 0x20); the checksum is the sum
// modulo 256 of the bytes between '$' and '#' as sent (escaped); its two hex digits may be either
// case, and anything else counts as a bad checksum. A '$' inside a packet starts a new packet
// (the old one is dropped, as if cut off). A packet whose unescaped payload would pass
// `max_payload` is read to its end and reported as kOversized with an empty payload; the reader
// never holds more than max_payload + a few bytes, however long the input.
class PacketReader {
 public:
  explicit PacketReader(std::size_t max_payload) : max_payload_(max_payload) {}
  // Appends to `out` the events that `bytes` completes.
  void feed(std::span<const std::uint8_t> bytes, std::vector<PacketEvent>& out);

 private:
  enum class State { kIdle, kBody, kEscape, kSum1, kSum2 };
  std::size_t max_payload_;
  State state_ = State::kIdle;
  std::string payload_;
  bool oversized_ = false;
  std::uint8_t sum_ = 0;      // running checksum of the body as sent
  std::uint8_t got_sum_ = 0;  // the first checksum digit's value
  bool bad_digit_ = false;
};

// `$payload#cc`, with '$', '#', '}' and '*' in the payload escaped ('}' then the byte xor 0x20),
// so binary data (qXfer) is safe. No run-length encoding.
std::string frame(std::string_view payload);

// Lower-case hex of bytes, two digits each; and back. hex_decode fails on an odd length or a
// character that is not a hex digit.
std::string hex_encode(std::span<const std::uint8_t> bytes);
std::optional<std::vector<std::uint8_t>> hex_decode(std::string_view hex);

// A hex number of 1 to 16 digits, the whole of `text` (no sign, no prefix): nullopt otherwise.
std::optional<std::uint64_t> parse_hex(std::string_view text);

}  // namespace hvk::gdb
