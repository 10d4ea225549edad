#include "cli/bench_floor.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

#include "cli/bench_common.h"
#include "cli/run.h"
#include "kvm/mapping.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"

namespace hvk::cli::bench_detail {

namespace {

using Clock = std::chrono::steady_clock;

// Guest physical layout of the floor VM: identity-mapped first 2 MiB, code at kCode.
constexpr std::uint64_t kPml4 = 0x1000, kPdpt = 0x2000, kPd = 0x3000, kCode = 0x10000;
constexpr std::uint64_t kRam = 2 << 20;
constexpr std::uint16_t kPort = 0xF8;

void write_u64(std::byte* ram, std::uint64_t gpa, std::uint64_t v) {
  std::memcpy(ram + gpa, &v, sizeof v);
}

kvm_segment flat(std::uint16_t selector, std::uint8_t type, bool code) {
  kvm_segment s{};
  s.base = 0;
  s.limit = 0xFFFFFFFF;
  s.selector = selector;
  s.type = type;
  s.present = 1;
  s.s = 1;
  s.g = 1;
  s.l = code ? 1 : 0;
  s.db = code ? 0 : 1;
  return s;
}

struct Slot {
  kvm::Vcpu vcpu;
  std::atomic<int> go{0};
  Clock::time_point done{};
  bool ok = false;
  std::thread thread;
  explicit Slot(kvm::Vcpu v) : vcpu(std::move(v)) {}
};

// One bring-up of n vCPUs: vCPU 0 runs first, untimed (the boot VP of a bring-up, which has run
// already: the VM's first entry pays for setting up its memory); then the time from releasing
// vCPU 1 to the last of 1..n-1 running its first instruction.
bool bringup_once(std::uint32_t n, double& ms, std::string& why) {
  auto kvm = open_kvm(why);
  if (!kvm) return false;
  auto vm = kvm->create_vm();
  if (!vm) return (why = vm.error().message(), false);
  auto ram = kvm::Mapping::anonymous(kRam);
  if (!ram) return (why = ram.error().message(), false);
  std::byte* m = ram->bytes();
  write_u64(m, kPml4, kPdpt | 3);
  write_u64(m, kPdpt, kPd | 3);
  write_u64(m, kPd, 0x83);                                      // 2 MiB page at 0
  const std::uint8_t code[] = {0xE6, kPort, 0xF4, 0xEB, 0xFD};  // out imm8, al; hlt; jmp hlt
  std::memcpy(m + kCode, code, sizeof code);
  if (auto r = vm->set_user_memory_region(0, 0, kRam, ram->data()); !r) {
    return (why = r.error().message(), false);
  }
  auto cpuid = kvm->supported_cpuid();
  if (!cpuid) return (why = cpuid.error().message(), false);

  std::vector<std::unique_ptr<Slot>> slots;
  for (std::uint32_t i = 0; i < n; ++i) {
    auto v = vm->create_vcpu(i);
    if (!v) return (why = v.error().message(), false);
    if (auto r = v->set_cpuid(*cpuid); !r) return (why = r.error().message(), false);
    slots.push_back(std::make_unique<Slot>(std::move(*v)));
  }
  kvm_sregs proto{};
  {
    auto s = slots[0]->vcpu.sregs();
    if (!s) return (why = s.error().message(), false);
    proto = *s;
  }
  proto.cs = flat(0x10, 0xB, true);
  proto.ds = proto.es = proto.fs = proto.gs = proto.ss = flat(0x18, 0x3, false);
  proto.cr0 = 0x80000011;  // PG, ET, PE
  proto.cr3 = kPml4;
  proto.cr4 = 0x20;    // PAE
  proto.efer = 0x500;  // LME, LMA
  kvm_regs regs{};
  regs.rip = kCode;
  regs.rflags = 2;

  for (auto& s : slots) {
    Slot* slot = s.get();
    slot->thread = std::thread([slot, &proto, &regs] {
      slot->go.wait(0);
      if (slot->go.load() != 1) return;  // abandoned
      if (!slot->vcpu.set_sregs(proto) || !slot->vcpu.set_regs(regs)) return;
      auto exit = slot->vcpu.run();
      slot->done = Clock::now();
      if (!exit) return;
      const auto* io = std::get_if<kvm::exits::Io>(&*exit);
      slot->ok = io != nullptr && io->port == kPort;
    });
  }
  slots[0]->go.store(1);
  slots[0]->go.notify_one();
  slots[0]->thread.join();
  const auto t0 = Clock::now();
  for (std::size_t i = 1; i < slots.size(); ++i) {
    slots[i]->go.store(1);
    slots[i]->go.notify_one();
  }
  Clock::time_point last = t0;
  bool ok = true;
  for (auto& s : slots) {
    if (s->thread.joinable()) s->thread.join();
    ok = ok && s->ok;
    if (s != slots[0]) last = std::max(last, s->done);
  }
  if (!ok) return (why = "a floor vCPU did not reach its first instruction", false);
  ms = std::chrono::duration<double, std::milli>(last - t0).count();
  return true;
}

}  // namespace

bool measure_floor(const std::vector<std::uint32_t>& counts, std::size_t reps,
                   std::vector<Bringup>& out, std::string& why) {
  std::vector<std::vector<double>> ms(counts.size());
  for (std::size_t rep = 0; rep < reps; ++rep) {
    for (std::size_t i = 0; i < counts.size(); ++i) {
      if (counts[i] < 2) continue;  // nothing to start
      double t = 0;
      if (!bringup_once(counts[i], t, why)) return false;
      ms[i].push_back(t);
    }
  }
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (ms[i].empty()) continue;
    Bringup b;
    b.runner = "kvm";
    b.method = "floor";
    b.n = counts[i];
    b.reps = ms[i].size();
    b.ms = median(ms[i]);
    b.min_ms = *std::min_element(ms[i].begin(), ms[i].end());
    b.per_vp_us = b.ms * 1e3 / (b.n - 1);
    out.push_back(b);
  }
  return true;
}

}  // namespace hvk::cli::bench_detail
