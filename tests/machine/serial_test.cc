// COM1's 16550A: what Linux's 8250 driver probes and relies on.
#include "machine/devices/serial.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hvk::machine {
namespace {

struct SerialTest : ::testing::Test {
  std::string out;
  std::vector<bool> edges;
  Serial16550 uart{[this](char c) { out.push_back(c); },
                   [this](bool level) { edges.push_back(level); }};
};

TEST_F(SerialTest, TransmitsToTheConsoleAndIsAlwaysReady) {
  uart.write(0, 'h');
  uart.write(0, 'i');
  EXPECT_EQ(out, "hi");
  EXPECT_EQ(uart.read(5) & 0x60, 0x60);  // THR empty, transmitter idle
}

TEST_F(SerialTest, IdentifiesAs16550AWithFifos) {
  EXPECT_EQ(uart.read(2), 0x01);  // no interrupt, no FIFO
  uart.write(2, 0x01);            // FCR: enable FIFOs
  EXPECT_EQ(uart.read(2) & 0xC0, 0xC0);
  uart.write(7, 0x5A);
  EXPECT_EQ(uart.read(7), 0x5A);  // scratch register
}

TEST_F(SerialTest, DivisorLatchShadowsDataAndIer) {
  uart.write(3, 0x80);  // DLAB
  uart.write(0, 0x01);
  uart.write(1, 0x00);
  EXPECT_EQ(uart.read(0), 0x01);
  uart.write(3, 0x03);  // 8N1, DLAB off
  EXPECT_EQ(out, "");   // the divisor write was not a character
  EXPECT_EQ(uart.read(1), 0x00);
}

TEST_F(SerialTest, ThrEmptyInterruptFollowsIerAndIsAcknowledgedByIir) {
  uart.write(4, 0x08);  // OUT2: the line reaches the interrupt controller
  uart.write(1, 0x02);  // THRI on: the empty holding register raises it
  ASSERT_EQ(edges, std::vector<bool>{true});
  EXPECT_EQ(uart.read(2) & 0x0F, 0x02);  // reading IIR acknowledges it
  EXPECT_EQ(edges.back(), false);
  EXPECT_EQ(uart.read(2) & 0x0F, 0x01);
  uart.write(0, 'x');  // sent at once: empty again, raised again
  EXPECT_EQ(edges.back(), true);
  uart.write(1, 0x00);
  EXPECT_EQ(edges.back(), false);
}

TEST_F(SerialTest, NoLineWithoutOut2) {
  uart.write(1, 0x02);
  EXPECT_TRUE(edges.empty());
  EXPECT_EQ(uart.read(2) & 0x0F, 0x02);  // pending all the same
}

TEST_F(SerialTest, ReceivedBytesRaiseDataReadyAndTheRxInterrupt) {
  uart.write(4, 0x08);
  uart.write(1, 0x01);
  const std::uint8_t in[] = {'a', 'b'};
  EXPECT_EQ(uart.receive(in), 2u);
  EXPECT_EQ(edges.back(), true);
  EXPECT_EQ(uart.read(5) & 0x01, 0x01);
  EXPECT_EQ(uart.read(2) & 0x0F, 0x04);
  EXPECT_EQ(uart.read(0), 'a');
  EXPECT_EQ(uart.read(0), 'b');
  EXPECT_EQ(uart.read(5) & 0x01, 0x00);
  EXPECT_EQ(edges.back(), false);
}

TEST_F(SerialTest, FifoHoldsSixteenBytes) {
  std::vector<std::uint8_t> in(40, 'z');
  EXPECT_EQ(uart.receive(in), Serial16550::kFifoSize);
  EXPECT_FALSE(uart.can_receive());
}

TEST_F(SerialTest, LoopbackReturnsWhatIsSentAndMirrorsModemLines) {
  uart.write(4, 0x10 | 0x0A);  // loop, RTS, OUT2
  EXPECT_EQ(uart.read(6) & 0xF0, 0x90);  // CTS (from RTS) and DCD (from OUT2)
  uart.write(0, 'q');
  EXPECT_EQ(out, "");
  EXPECT_EQ(uart.read(0), 'q');
  const std::uint8_t in[] = {'n'};
  EXPECT_EQ(uart.receive(in), 0u);  // nothing arrives from outside while looped back
  uart.write(4, 0x00);
  EXPECT_EQ(uart.read(6) & 0xB0, 0xB0);  // far end ready: CTS, DSR, DCD
}

}  // namespace
}  // namespace hvk::machine
