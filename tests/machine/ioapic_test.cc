// hvk's IOAPIC: register access and the MSI each redirection entry turns into.
#include "machine/devices/ioapic.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <vector>

namespace hvk::machine {
namespace {

struct IoapicTest : ::testing::Test {
  std::vector<Ioapic::Msi> sent;
  Ioapic ioapic{[this](const Ioapic::Msi& m) { sent.push_back(m); }};

  void write_reg(std::uint32_t index, std::uint32_t value) {
    std::array<std::uint8_t, 4> b{};
    std::memcpy(b.data(), &index, 4);
    ioapic.mmio_write(Ioapic::kBase, b);
    std::memcpy(b.data(), &value, 4);
    ioapic.mmio_write(Ioapic::kBase + 0x10, b);
  }
  std::uint32_t read_reg(std::uint32_t index) {
    std::array<std::uint8_t, 4> b{};
    std::memcpy(b.data(), &index, 4);
    ioapic.mmio_write(Ioapic::kBase, b);
    ioapic.mmio_read(Ioapic::kBase + 0x10, b);
    std::uint32_t v;
    std::memcpy(&v, b.data(), 4);
    return v;
  }
};

TEST_F(IoapicTest, VersionSaysTwentyFourPins) {
  EXPECT_EQ(read_reg(1), 0x00170011u);
  EXPECT_TRUE(ioapic.contains(Ioapic::kBase + 0xFFF));
  EXPECT_FALSE(ioapic.contains(Ioapic::kBase + 0x1000));
  EXPECT_FALSE(ioapic.contains(Ioapic::kBase - 1));
}

TEST_F(IoapicTest, PinsStartMaskedAndDeliverNothing) {
  EXPECT_EQ(read_reg(0x10 + 2 * 4) & (1u << 16), 1u << 16);
  ioapic.set_irq(4, true);
  EXPECT_TRUE(sent.empty());
}

TEST_F(IoapicTest, EdgePinSendsOneMsiPerRisingEdge) {
  write_reg(0x10 + 2 * 4 + 1, 3u << 24);  // destination APIC 3
  write_reg(0x10 + 2 * 4, 0x34);          // vector 0x34, fixed, physical, edge, unmasked
  ioapic.set_irq(4, true);
  ioapic.set_irq(4, true);  // still high: no new edge
  ioapic.set_irq(4, false);
  ioapic.set_irq(4, true);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].address, 0xFEE03000u);
  EXPECT_EQ(sent[0].data, 0x34u);
}

TEST_F(IoapicTest, LogicalDestinationAndLevelTrigger) {
  write_reg(0x10 + 1, 0x0Fu << 24);
  write_reg(0x10, 0x41 | (1u << 11) | (1u << 15) | (1u << 16));  // logical, level, masked
  ioapic.set_irq(0, true);
  EXPECT_TRUE(sent.empty());
  write_reg(0x10, 0x41 | (1u << 11) | (1u << 15));  // unmasked while the line is high
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].address, 0xFEE0F004u);
  EXPECT_EQ(sent[0].data, 0x41u | (1u << 14) | (1u << 15));
}

TEST_F(IoapicTest, ReadOnlyBitsStayClear) {
  write_reg(0x10, 0xFFFFFFFF);
  EXPECT_EQ(read_reg(0x10) & ((1u << 12) | (1u << 14)), 0u);
  EXPECT_EQ(read_reg(0x10 + 2 * 24), 0u);  // past the table
  ioapic.set_irq(99, true);                // no such pin: ignored
}

}  // namespace
}  // namespace hvk::machine
