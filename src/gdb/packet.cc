// The remote protocol's framing: an incremental reader (one byte at a time through a small state
// machine, so a packet may arrive in any number of pieces) and the writer's escaping.
#include "gdb/packet.h"

#include <algorithm>

namespace hvk::gdb {
namespace {

constexpr char kDigits[] = "0123456789abcdef";

// A hex digit's value, or -1.
int hex_value(std::uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool needs_escape(char c) {
  return c == '$' || c == '#' || c == '}' || c == '*';
}

}  // namespace

void PacketReader::feed(std::span<const std::uint8_t> bytes, std::vector<PacketEvent>& out) {
  // Forgets the packet so far and starts reading a new one.
  const auto start = [this] {
    state_ = State::kBody;
    payload_.clear();
    oversized_ = false;
    sum_ = 0;
    got_sum_ = 0;
    bad_digit_ = false;
  };
  // One unescaped payload byte. Past the limit the packet is only counted, never stored, so the
  // reader's memory stays bounded whatever the input.
  const auto append = [this](std::uint8_t c) {
    if (oversized_) return;
    if (payload_.size() >= max_payload_) {
      oversized_ = true;
      payload_.clear();
      payload_.shrink_to_fit();
      return;
    }
    // Grow by doubling but never past the limit (std::string's own growth could double it).
    if (payload_.size() == payload_.capacity()) {
      payload_.reserve(std::min(max_payload_, std::max<std::size_t>(64, 2 * payload_.size())));
    }
    payload_.push_back(static_cast<char>(c));
  };

  for (const std::uint8_t c : bytes) {
    // '$' anywhere inside a packet (the checksum digits included) means the old one was cut off.
    if (c == '$') {
      start();
      continue;
    }
    switch (state_) {
      case State::kIdle:
        if (c == '+') out.push_back({PacketEvent::Kind::kAck, {}});
        if (c == '-') out.push_back({PacketEvent::Kind::kNack, {}});
        if (c == 0x03) out.push_back({PacketEvent::Kind::kInterrupt, {}});
        break;
      case State::kBody:
        if (c == '#') {
          state_ = State::kSum1;
          break;
        }
        sum_ = static_cast<std::uint8_t>(sum_ + c);
        if (c == '}') {
          state_ = State::kEscape;
        } else {
          append(c);
        }
        break;
      case State::kEscape:
        // '#' ends the body even here (as in gdbserver); the dangling '}' spoils the packet.
        if (c == '#') {
          bad_digit_ = true;
          state_ = State::kSum1;
          break;
        }
        sum_ = static_cast<std::uint8_t>(sum_ + c);
        append(c ^ 0x20);
        state_ = State::kBody;
        break;
      case State::kSum1: {
        const int v = hex_value(c);
        if (v < 0) bad_digit_ = true;
        got_sum_ = static_cast<std::uint8_t>(v < 0 ? 0 : v << 4);
        state_ = State::kSum2;
        break;
      }
      case State::kSum2: {
        const int v = hex_value(c);
        const bool good = !bad_digit_ && v >= 0 && (got_sum_ | v) == sum_;
        if (oversized_) {
          out.push_back({PacketEvent::Kind::kOversized, {}});
        } else if (!good) {
          out.push_back({PacketEvent::Kind::kBadChecksum, {}});
        } else {
          out.push_back({PacketEvent::Kind::kPacket, std::move(payload_)});
        }
        payload_.clear();
        oversized_ = false;
        state_ = State::kIdle;
        break;
      }
    }
  }
}

std::string frame(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 4);
  out.push_back('$');
  std::uint8_t sum = 0;
  const auto put = [&](char c) {
    out.push_back(c);
    sum = static_cast<std::uint8_t>(sum + static_cast<std::uint8_t>(c));
  };
  for (const char c : payload) {
    if (needs_escape(c)) {
      put('}');
      put(static_cast<char>(c ^ 0x20));
    } else {
      put(c);
    }
  }
  out.push_back('#');
  out.push_back(kDigits[sum >> 4]);
  out.push_back(kDigits[sum & 0xf]);
  return out;
}

std::string hex_encode(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const std::uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

std::optional<std::vector<std::uint8_t>> hex_decode(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::vector<std::uint8_t> out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = hex_value(static_cast<std::uint8_t>(hex[i]));
    const int lo = hex_value(static_cast<std::uint8_t>(hex[i + 1]));
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<std::uint8_t>(hi << 4 | lo));
  }
  return out;
}

std::optional<std::uint64_t> parse_hex(std::string_view text) {
  // 16 digits fill 64 bits exactly, so the shifts below never lose a bit.
  if (text.empty() || text.size() > 16) return std::nullopt;
  std::uint64_t value = 0;
  for (const char c : text) {
    const int v = hex_value(static_cast<std::uint8_t>(c));
    if (v < 0) return std::nullopt;
    value = value << 4 | static_cast<std::uint64_t>(v);
  }
  return value;
}

}  // namespace hvk::gdb
