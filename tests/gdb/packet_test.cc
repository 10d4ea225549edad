// The remote protocol's framing: the incremental reader, frame()'s escaping, the hex helpers.
#include "gdb/packet.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace hvk::gdb {
namespace {

using Kind = PacketEvent::Kind;

std::span<const std::uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::vector<PacketEvent> read_all(std::string_view input, std::size_t max_payload = 64) {
  PacketReader reader(max_payload);
  std::vector<PacketEvent> out;
  reader.feed(as_bytes(input), out);
  return out;
}

TEST(PacketReader, ReadsAPacketWithItsChecksum) {
  const auto events = read_all("$g#67");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Kind::kPacket);
  EXPECT_EQ(events[0].payload, "g");
}

TEST(PacketReader, ChecksumDigitsInEitherCase) {
  // "qC": 'q' 0x71 + 'C' 0x43 = 0xb4.
  EXPECT_EQ(read_all("$qC#b4")[0].kind, Kind::kPacket);
  EXPECT_EQ(read_all("$qC#B4")[0].kind, Kind::kPacket);
}

TEST(PacketReader, EmptyPacket) {
  const auto events = read_all("$#00");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Kind::kPacket);
  EXPECT_EQ(events[0].payload, "");
}

TEST(PacketReader, SplitAByteAtATime) {
  const std::string input = frame("qSupported:multiprocess+;swbreak+");
  PacketReader reader(64);
  std::vector<PacketEvent> out;
  for (std::size_t i = 0; i < input.size(); ++i) {
    reader.feed(as_bytes(std::string_view(input).substr(i, 1)), out);
    EXPECT_EQ(out.size(), i + 1 == input.size() ? 1u : 0u) << "after byte " << i;
  }
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, "qSupported:multiprocess+;swbreak+");
}

TEST(PacketReader, SplitInsideTheChecksum) {
  PacketReader reader(64);
  std::vector<PacketEvent> out;
  reader.feed(as_bytes("$g#6"), out);
  EXPECT_TRUE(out.empty());
  reader.feed(as_bytes("7+"), out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].kind, Kind::kPacket);
  EXPECT_EQ(out[1].kind, Kind::kAck);
}

TEST(PacketReader, TwoPacketsInOneFeed) {
  const auto events = read_all(frame("g") + frame("m1000,4"));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].payload, "g");
  EXPECT_EQ(events[1].payload, "m1000,4");
}

TEST(PacketReader, AcksNacksAndInterruptOutsidePackets) {
  const auto events = read_all("+-\x03junk+");
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].kind, Kind::kAck);
  EXPECT_EQ(events[1].kind, Kind::kNack);
  EXPECT_EQ(events[2].kind, Kind::kInterrupt);
  EXPECT_EQ(events[3].kind, Kind::kAck);
}

TEST(PacketReader, AckBytesInsideAPacketAreData) {
  const auto events = read_all(frame("a+b-c\x03"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].payload, "a+b-c\x03");
}

TEST(PacketReader, WrongChecksum) {
  const auto events = read_all("$g#68$g#67");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Kind::kBadChecksum);
  EXPECT_EQ(events[0].payload, "");
  EXPECT_EQ(events[1].kind, Kind::kPacket);
}

TEST(PacketReader, NonHexChecksumDigitIsABadChecksum) {
  EXPECT_EQ(read_all("$g#6x")[0].kind, Kind::kBadChecksum);
  EXPECT_EQ(read_all("$g#x7")[0].kind, Kind::kBadChecksum);
  // A non-hex first digit contributes no value: "#\x00" must not pass for "#0?".
  EXPECT_EQ(read_all("$#z0")[0].kind, Kind::kBadChecksum);
}

TEST(PacketReader, EscapedBytesAreUnescapedAndSummedAsSent) {
  // "}\x03" is '#', "}\x5d" is '}'; the checksum covers the escape bytes as sent.
  const std::string body = "X}\x03}\x5d";
  unsigned sum = 0;
  for (const char c : body) sum += static_cast<std::uint8_t>(c);
  char digits[3];
  std::snprintf(digits, sizeof digits, "%02x", sum & 0xff);
  const auto events = read_all("$" + body + "#" + digits);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Kind::kPacket);
  EXPECT_EQ(events[0].payload, "X#}");
}

TEST(PacketReader, DanglingEscapeSpoilsThePacket) {
  // '}' then '#': the escape has nothing to escape. 'a' + '}' = 0xde.
  const auto events = read_all("$a}#de$g#67");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Kind::kBadChecksum);
  EXPECT_EQ(events[1].kind, Kind::kPacket);
}

TEST(PacketReader, DollarInsideAPacketRestarts) {
  const auto events = read_all("$m10$g#67");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].payload, "g");
  // Also while reading the checksum.
  const auto in_sum = read_all("$m10#4$g#67");
  ASSERT_EQ(in_sum.size(), 1u);
  EXPECT_EQ(in_sum[0].payload, "g");
}

TEST(PacketReader, OversizedPacketIsDroppedWholeThenReadingGoesOn) {
  const std::string big(100, 'a');
  const auto events = read_all(frame(big) + frame("g"), 16);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Kind::kOversized);
  EXPECT_EQ(events[0].payload, "");
  EXPECT_EQ(events[1].kind, Kind::kPacket);
  EXPECT_EQ(events[1].payload, "g");
}

TEST(PacketReader, OversizedEvenWithABadChecksum) {
  // Its answer is the same either way: the packet could never be taken.
  const auto events = read_all("$" + std::string(20, 'a') + "#00", 16);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Kind::kOversized);
}

TEST(PacketReader, PayloadExactlyAtTheLimitIsKept) {
  const std::string at(16, 'b');
  const auto events = read_all(frame(at) + frame(at + "b"), 16);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Kind::kPacket);
  EXPECT_EQ(events[0].payload, at);
  EXPECT_EQ(events[1].kind, Kind::kOversized);
}

TEST(PacketReader, LimitCountsUnescapedBytes) {
  // 8 '#' escape to 16 bytes on the wire, but are 8 payload bytes.
  const std::string hashes(8, '#');
  const auto events = read_all(frame(hashes), 8);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Kind::kPacket);
  EXPECT_EQ(events[0].payload, hashes);
}

TEST(PacketReader, OversizedStreamFedInPiecesStaysOversized) {
  PacketReader reader(8);
  std::vector<PacketEvent> out;
  reader.feed(as_bytes("$"), out);
  for (int i = 0; i < 1000; ++i) reader.feed(as_bytes("0123456789"), out);
  EXPECT_TRUE(out.empty());
  reader.feed(as_bytes("#00"), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Kind::kOversized);
}

TEST(Frame, EscapesFramingBytesAndRoundTrips) {
  EXPECT_EQ(frame("OK"), "$OK#9a");
  EXPECT_EQ(frame(""), "$#00");
  EXPECT_EQ(frame("$"), "$}\x04#81");
  std::string every;
  for (int c = 0; c < 256; ++c) every.push_back(static_cast<char>(c));
  const std::string framed = frame(every);
  // No raw framing byte inside the body.
  const std::string_view body = std::string_view(framed).substr(1, framed.size() - 4);
  EXPECT_EQ(body.find_first_of("$#*"), std::string_view::npos);
  const auto events = read_all(framed, 256);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Kind::kPacket);
  EXPECT_EQ(events[0].payload, every);
}

TEST(Hex, EncodeDecode) {
  const std::vector<std::uint8_t> bytes = {0x00, 0x0f, 0xa5, 0xff};
  EXPECT_EQ(hex_encode(bytes), "000fa5ff");
  EXPECT_EQ(hex_encode({}), "");
  EXPECT_EQ(hex_decode("000FA5ff"), bytes);
  EXPECT_EQ(hex_decode(""), std::vector<std::uint8_t>{});
  EXPECT_EQ(hex_decode("abc"), std::nullopt);
  EXPECT_EQ(hex_decode("0g"), std::nullopt);
  EXPECT_EQ(hex_decode("g0"), std::nullopt);
  EXPECT_EQ(hex_decode(" 0"), std::nullopt);
}

TEST(Hex, ParseHex) {
  EXPECT_EQ(parse_hex("0"), 0u);
  EXPECT_EQ(parse_hex("1a"), 0x1au);
  EXPECT_EQ(parse_hex("DeadBeef"), 0xdeadbeefu);
  EXPECT_EQ(parse_hex("ffffffffffffffff"), UINT64_MAX);
  EXPECT_EQ(parse_hex("0000000000000001"), 1u);
  EXPECT_EQ(parse_hex("00000000000000001"), std::nullopt);  // 17 digits
  EXPECT_EQ(parse_hex(""), std::nullopt);
  EXPECT_EQ(parse_hex("0x10"), std::nullopt);
  EXPECT_EQ(parse_hex("-1"), std::nullopt);
  EXPECT_EQ(parse_hex("+1"), std::nullopt);
  EXPECT_EQ(parse_hex("12 "), std::nullopt);
  EXPECT_EQ(parse_hex("g"), std::nullopt);
}

}  // namespace
}  // namespace hvk::gdb
