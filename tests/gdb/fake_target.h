// A gdb::Target with no machine behind it, for the session's unit tests and its fuzz target:
// threads as configured, registers per thread, 64 KiB of memory at kMemoryBase, and a record of
// every request the session made.
#pragma once

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gdb/target.h"

namespace hvk::gdb::testing {

class FakeTarget final : public Target {
 public:
  static constexpr std::uint64_t kMemoryBase = 0x10000;
  static constexpr std::size_t kMemorySize = 0x10000;

  FakeTarget() : memory(kMemorySize) {}

  std::vector<ThreadInfo> thread_list;
  std::map<std::uint64_t, X86Registers> regs;
  std::vector<std::uint8_t> memory;
  std::set<std::uint64_t> breakpoints;
  HwBreakpoints hw{};
  bool hw_allowed = true;
  std::deque<StopEvent> events;
  int stops = 0, interrupts = 0, detaches = 0, kills = 0;
  std::vector<std::optional<std::uint64_t>> resumes;
  bool stop_on_vtl_switch = false;
  bool alive = true;

  std::vector<ThreadInfo> threads() override { return thread_list; }
  bool stop() override {
    ++stops;
    return alive;
  }
  void resume(std::optional<std::uint64_t> step) override { resumes.push_back(step); }
  void interrupt() override { ++interrupts; }
  int event_fd() const override { return -1; }
  std::optional<StopEvent> take_event() override {
    if (events.empty()) return std::nullopt;
    StopEvent e = events.front();
    events.pop_front();
    return e;
  }
  bool read_registers(std::uint64_t thread, X86Registers& r) override {
    auto it = regs.find(thread);
    if (it == regs.end()) return false;
    r = it->second;
    return true;
  }
  bool write_registers(std::uint64_t thread, const X86Registers& r) override {
    auto it = regs.find(thread);
    if (it == regs.end()) return false;
    it->second = r;
    return true;
  }
  std::size_t read_memory(std::uint64_t, std::uint64_t address,
                          std::span<std::uint8_t> out) override {
    const std::size_t n = readable(address, out.size());
    if (n != 0) std::memcpy(out.data(), memory.data() + (address - kMemoryBase), n);
    return n;
  }
  std::size_t write_memory(std::uint64_t, std::uint64_t address,
                           std::span<const std::uint8_t> in) override {
    const std::size_t n = readable(address, in.size());
    if (n != 0) std::memcpy(memory.data() + (address - kMemoryBase), in.data(), n);
    return n;
  }
  bool insert_breakpoint(std::uint64_t, std::uint64_t address) override {
    if (readable(address, 1) == 0) return false;
    breakpoints.insert(address);
    return true;
  }
  bool remove_breakpoint(std::uint64_t, std::uint64_t address) override {
    return breakpoints.erase(address) != 0;
  }
  bool set_hw_breakpoints(std::uint64_t, const HwBreakpoints& b) override {
    if (!hw_allowed) return false;
    hw = b;
    return true;
  }
  void detach() override { ++detaches; }
  void kill() override { ++kills; }
  void set_stop_on_vtl_switch(bool on) override { stop_on_vtl_switch = on; }

 private:
  // How many of `len` bytes from `address` lie in the memory.
  static std::size_t readable(std::uint64_t address, std::size_t len) {
    if (address < kMemoryBase || address >= kMemoryBase + kMemorySize) return 0;
    return std::min<std::size_t>(len, kMemoryBase + kMemorySize - address);
  }
};

}  // namespace hvk::gdb::testing
