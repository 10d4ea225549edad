#include "machine/debug/machine_debugger.h"

#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "gdb/command.h"
#include "hv/translate_gva.h"
#include "hv/vtl_protection.h"
#include "kvm/debug_probe.h"
#include "machine/debug/gdb_registers.h"
#include "machine/vcpu_state.h"
#include "machine/vmm.h"

namespace hvk::machine {

namespace {

constexpr auto kParkWait = std::chrono::seconds(3);  // a VP that does not stop by then is busy
// How often a parked VP's thread looks at what other VPs asked of it (kicks do not reach it).
constexpr auto kParkedServe = std::chrono::milliseconds(5);
constexpr std::uint8_t kInt3 = 0xCC;
constexpr std::uint32_t kMsrKernelGsBase = 0xC000'0102;
constexpr std::uint64_t kDr6Hits = 0xF;  // B0-B3
std::uint64_t dr7_len(std::uint8_t length) {
  switch (length) {
    case 2:
      return 1;
    case 8:
      return 2;
    case 4:
      return 3;
    default:
      return 0;
  }
}

}  // namespace

MachineDebugger::MachineDebugger(Machine& machine, bool hold) : m_(machine) {
  for (std::size_t i = 0; i < m_.slots_.size(); ++i) vps_.push_back(std::make_unique<VpDebug>());
  (void)::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, event_fds_.data());
  stop_requested_.store(hold);
  const auto probe = kvm::data_breakpoints_work(m_.vmm_.kvm());
  dr_data_ = probe && *probe;
}

MachineDebugger::~MachineDebugger() {
  for (int fd : event_fds_) {
    if (fd >= 0) ::close(fd);
  }
}

std::uint64_t MachineDebugger::thread_of(const Machine::Slot& slot) const {
  return gdb::thread_number(slot.id(), slot.active);
}

// --- gdb::Target

std::vector<gdb::ThreadInfo> MachineDebugger::threads() {
  std::vector<gdb::ThreadInfo> out;
  for (const auto& s : m_.slots_) {
    const hv::Vp& vp = *m_.partition_.vp(s->id());
    const bool started = vp.run_state() == hv::VpRunState::kRunning;
    const tlfs::Vtl running = vp.current_vtl();
    for (tlfs::Vtl vtl = 0; vtl <= tlfs::kMaxVtl; ++vtl) {
      if (s->published[vtl].load(std::memory_order_acquire) == nullptr) continue;
      const char* state = !started         ? "not started"
                          : vtl == running ? "running"
                          : vtl < running  ? "below the running VTL"
                                           : "above the running VTL";
      out.push_back({gdb::thread_number(s->id(), vtl),
                     fmt::format("VP {} VTL {}, {}", s->id(), vtl, state),
                     started && vtl == running});
    }
  }
  return out;
}

void MachineDebugger::kick_all() {
  for (auto& s : m_.slots_) m_.kick(*s);
}

bool MachineDebugger::stop() {
  std::unique_lock lock(mu_);
  stop_requested_.store(true);
  for (auto& v : vps_) v->stepping.store(false);
  lock.unlock();
  kick_all();
  lock.lock();
  cv_.wait_for(lock, kParkWait, [&] { return stopping_ || parked_ == vps_.size(); });
  return !stopping_;
}

void MachineDebugger::resume(std::optional<std::uint64_t> step) {
  std::lock_guard lock(mu_);
  round_reported_ = false;
  if (auto pair = step ? gdb::vp_vtl(*step) : std::nullopt; pair && pair->vp < vps_.size()) {
    vps_[pair->vp]->stepping.store(true);  // it alone leaves its park; the others stay stopped
  } else {
    stop_requested_.store(false);
  }
  cv_.notify_all();
}

void MachineDebugger::interrupt() {
  std::uint64_t thread = 0;
  for (std::size_t i = 0; i < vps_.size(); ++i) {
    if (vps_[i]->stepping.load()) thread = thread_of(*m_.slots_[i]);
  }
  if (thread == 0 && !m_.slots_.empty()) {
    thread = gdb::thread_number(0, m_.partition_.vp(0)->current_vtl());
  }
  gdb::StopEvent ev;
  ev.kind = gdb::StopEvent::Kind::kInterrupt;
  ev.thread = thread;
  report(ev);
}

void MachineDebugger::report(const gdb::StopEvent& ev) {
  {
    std::lock_guard lock(mu_);
    stop_requested_.store(true);
    for (auto& v : vps_) v->stepping.store(false);
    if (round_reported_) return;
    round_reported_ = true;
    events_.push_back(ev);
  }
  const char byte = 1;
  (void)::send(event_fds_[1], &byte, 1, MSG_NOSIGNAL);
  kick_all();
}

std::optional<gdb::StopEvent> MachineDebugger::take_event() {
  std::lock_guard lock(mu_);
  char byte = 0;
  (void)::recv(event_fds_[0], &byte, 1, MSG_DONTWAIT);
  if (events_.empty()) return std::nullopt;
  gdb::StopEvent ev = events_.front();
  events_.pop_front();
  return ev;
}

bool MachineDebugger::run_on(std::uint32_t vp, const std::function<void(Machine::Slot&)>& job) {
  if (vp >= vps_.size()) return false;
  VpDebug& d = *vps_[vp];
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, kParkWait, [&] { return stopping_ || (d.parked && !d.job); }) ||
      stopping_) {
    return false;
  }
  d.job = job;
  d.job_state = VpDebug::Job::kPosted;
  cv_.notify_all();
  // A posted job either runs (then wait for it: it holds references to the caller's frame) or
  // is dropped when the machine stops first.
  cv_.wait(lock, [&] {
    return d.job_state == VpDebug::Job::kDone ||
           (stopping_ && d.job_state == VpDebug::Job::kPosted);
  });
  const bool done = d.job_state == VpDebug::Job::kDone;
  d.job = nullptr;
  d.job_state = VpDebug::Job::kNone;
  return done;
}

bool MachineDebugger::on_thread(std::uint64_t thread,
                                const std::function<void(Machine::Slot&, tlfs::Vtl)>& job) {
  const auto pair = gdb::vp_vtl(thread);
  if (!pair || pair->vtl > tlfs::kMaxVtl) return false;
  const auto vtl = static_cast<tlfs::Vtl>(pair->vtl);
  return run_on(pair->vp, [&](Machine::Slot& s) { job(s, vtl); });
}

bool MachineDebugger::read_registers(std::uint64_t thread, gdb::X86Registers& regs) {
  bool ok = false;
  return on_thread(thread,
                   [&](Machine::Slot& s, tlfs::Vtl vtl) { ok = read_vcpu(s, vtl, regs); }) &&
         ok;
}

bool MachineDebugger::write_registers(std::uint64_t thread, const gdb::X86Registers& regs) {
  bool ok = false;
  return on_thread(thread,
                   [&](Machine::Slot& s, tlfs::Vtl vtl) { ok = write_vcpu(s, vtl, regs); }) &&
         ok;
}

std::size_t MachineDebugger::read_memory(std::uint64_t thread, std::uint64_t address,
                                         std::span<std::uint8_t> out) {
  std::size_t done = 0;
  (void)on_thread(thread, [&](Machine::Slot& s, tlfs::Vtl vtl) {
    done = access(s, vtl, address, out.data(), out.size(), false);
  });
  return done;
}

std::size_t MachineDebugger::write_memory(std::uint64_t thread, std::uint64_t address,
                                          std::span<const std::uint8_t> in) {
  std::size_t done = 0;
  std::vector<std::uint8_t> copy(in.begin(), in.end());
  (void)on_thread(thread, [&](Machine::Slot& s, tlfs::Vtl vtl) {
    done = access(s, vtl, address, copy.data(), copy.size(), true);
  });
  return done;
}

bool MachineDebugger::insert_breakpoint(std::uint64_t thread, std::uint64_t address) {
  std::optional<std::uint64_t> gpa;
  (void)on_thread(thread, [&](Machine::Slot& s, tlfs::Vtl vtl) {
    gpa = translate(s, vtl, address);
    // The thread's VTL must be able to see the byte; a breakpoint, like ptrace, ignores write
    // protection (docs/debugging.md).
    if (gpa && !hv::lower_vtl_access(m_.partition_, vtl, *gpa / kPageSize).read) gpa.reset();
  });
  if (!gpa) return false;
  std::span<std::byte> byte = m_.memory_.host_span(*gpa, 1);
  if (byte.empty()) return false;
  std::lock_guard lock(mu_);
  if (breakpoints_.count(address) != 0) return true;
  breakpoints_[address] = {*gpa, static_cast<std::uint8_t>(byte[0])};
  byte[0] = std::byte{kInt3};
  debug_gen_.fetch_add(1);
  return true;
}

void MachineDebugger::put_back(const Breakpoint& bp) {
  if (std::span<std::byte> byte = m_.memory_.host_span(bp.gpa, 1); !byte.empty()) {
    byte[0] = std::byte{bp.original};
  }
}

bool MachineDebugger::remove_breakpoint(std::uint64_t /*thread*/, std::uint64_t address) {
  std::lock_guard lock(mu_);
  auto it = breakpoints_.find(address);
  if (it == breakpoints_.end()) return false;
  put_back(it->second);
  breakpoints_.erase(it);
  debug_gen_.fetch_add(1);
  return true;
}

bool MachineDebugger::set_hw_breakpoints(std::uint64_t thread,
                                         const gdb::HwBreakpoints& breakpoints) {
  std::array<std::optional<SoftWatch>, 4> soft{};
  if (!dr_data_) {
    for (std::size_t i = 0; i < breakpoints.size(); ++i) {
      const auto& b = breakpoints[i];
      if (!b || b->kind == gdb::HwBreakpoint::Kind::kExecute) continue;
      if (b->kind == gdb::HwBreakpoint::Kind::kAccess) return false;
      std::optional<std::uint64_t> gpa;
      (void)on_thread(
          thread, [&](Machine::Slot& s, tlfs::Vtl vtl) { gpa = translate(s, vtl, b->address); });
      // Aligned to its length (1-8): never across a page.
      std::span<std::byte> host =
          gpa ? m_.memory_.host_span(*gpa, b->length) : std::span<std::byte>{};
      if (host.empty()) return false;
      SoftWatch w{*gpa, {}};
      for (std::byte x : host) w.last.push_back(static_cast<std::uint8_t>(x));
      soft[i] = std::move(w);
    }
  }
  std::lock_guard lock(mu_);
  hw_ = breakpoints;
  soft_ = std::move(soft);
  soft_active_.store(
      std::any_of(soft_.begin(), soft_.end(), [](const auto& w) { return w.has_value(); }));
  debug_gen_.fetch_add(1);
  return true;
}

std::optional<int> MachineDebugger::soft_watch_hit() {
  std::lock_guard lock(mu_);
  for (std::size_t i = 0; i < soft_.size(); ++i) {
    if (!soft_[i]) continue;
    SoftWatch& w = *soft_[i];
    std::span<std::byte> host = m_.memory_.host_span(w.gpa, w.last.size());
    if (host.empty() || std::memcmp(host.data(), w.last.data(), w.last.size()) == 0) continue;
    std::memcpy(w.last.data(), host.data(), w.last.size());
    return static_cast<int>(i);
  }
  return std::nullopt;
}

void MachineDebugger::detach() {
  {
    std::lock_guard lock(mu_);
    for (const auto& [va, bp] : breakpoints_) put_back(bp);
    breakpoints_.clear();
    hw_ = {};
    soft_ = {};
    soft_active_.store(false);
    debug_gen_.fetch_add(1);
    stop_on_vtl_switch_.store(false);
    events_.clear();
    round_reported_ = false;
    for (auto& v : vps_) v->stepping.store(false);
    stop_requested_.store(false);
  }
  cv_.notify_all();
}

void MachineDebugger::kill() {
  m_.end(kExitGdbKill, fmt::format("partition {}: killed from gdb", m_.partition_.id()));
}

// --- Hooks on the VP threads

bool MachineDebugger::wants_park(const Machine::Slot& slot) const {
  return stop_requested_.load(std::memory_order_acquire) &&
         !vps_[slot.id()]->stepping.load(std::memory_order_acquire);
}

void MachineDebugger::park(Machine::Slot& slot) {
  VpDebug& d = *vps_[slot.id()];
  std::unique_lock lock(mu_);
  d.parked = true;
  ++parked_;
  cv_.notify_all();
  for (;;) {
    cv_.wait_for(lock, kParkedServe, [&] {
      return stopping_ || d.job_state == VpDebug::Job::kPosted || !stop_requested_.load() ||
             d.stepping.load();
    });
    if (stopping_) break;
    // What other VPs (one stepping, or the timeout report) ask of this one's thread goes on
    // while it is stopped: their TLB flushes and INIT checks would otherwise wait for gdb.
    lock.unlock();
    m_.serve_tlb_flushes(slot);
    m_.answer_refresh(slot);
    if (slot.describe_requested.load(std::memory_order_acquire)) m_.answer_describe(slot);
    lock.lock();
    if (d.job_state == VpDebug::Job::kPosted) {
      d.job_state = VpDebug::Job::kTaken;
      lock.unlock();
      d.job(slot);
      lock.lock();
      d.job_state = VpDebug::Job::kDone;
      cv_.notify_all();
      continue;
    }
    if (!stop_requested_.load() || d.stepping.load()) break;  // resumed, or this VP steps
  }
  d.parked = false;
  --parked_;
  // A kick that asked for this stop may have left immediate_exit set: it has done its work.
  slot.vcpu().set_immediate_exit(false);
}

void MachineDebugger::before_run(Machine::Slot& slot) {
  VpDebug& d = *vps_[slot.id()];
  const tlfs::Vtl vtl = slot.active;
  const std::uint64_t gen = debug_gen_.load(std::memory_order_acquire);
  const bool step = d.stepping.load(std::memory_order_acquire);
  if (d.applied_gen[vtl] == gen && d.applied_step[vtl] == step) return;
  m_.apply_guest_debug(slot, vtl);
  d.applied_gen[vtl] = gen;
  d.applied_step[vtl] = step;
}

kvm_guest_debug MachineDebugger::guest_debug(const Machine::Slot& slot, tlfs::Vtl vtl,
                                             bool extra_step) const {
  kvm_guest_debug g{};
  const bool step =
      extra_step || soft_active_.load() || (slot.active == vtl && vps_[slot.id()]->stepping.load());
  std::lock_guard lock(mu_);
  if (step) g.control |= KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
  if (!breakpoints_.empty()) g.control |= KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP;
  std::uint64_t dr7 = 0;
  for (std::size_t i = 0; i < hw_.size(); ++i) {
    if (!hw_[i] || soft_[i]) continue;  // a watch hvk keeps itself takes no debug register
    const gdb::HwBreakpoint& b = *hw_[i];
    const std::uint64_t rw = b.kind == gdb::HwBreakpoint::Kind::kExecute ? 0
                             : b.kind == gdb::HwBreakpoint::Kind::kWrite ? 1
                                                                         : 3;
    const std::uint64_t len = b.kind == gdb::HwBreakpoint::Kind::kExecute ? 0 : dr7_len(b.length);
    g.arch.debugreg[i] = b.address;
    dr7 |= (2ull << (i * 2)) | (rw << (16 + i * 4)) | (len << (18 + i * 4));
  }
  if (dr7 != 0) {
    g.control |= KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
    g.arch.debugreg[7] = dr7 | (1u << 9);  // GE, as the SDM recommends for data breakpoints
  }
  return g;
}

bool MachineDebugger::on_debug_exit(Machine::Slot& slot, const kvm::exits::Debug& d) {
  VpDebug& v = *vps_[slot.id()];
  if (d.exception == 3) return on_int3(slot);
  if (d.exception != 1) return false;
  gdb::StopEvent ev;
  ev.thread = thread_of(slot);
  if (const std::uint64_t hits = d.dr6 & kDr6Hits; hits != 0) {
    std::unique_lock lock(mu_);
    for (int i = 0; i < 4; ++i) {
      if ((hits & (1u << i)) && hw_[static_cast<std::size_t>(i)]) {
        lock.unlock();
        ev.kind = gdb::StopEvent::Kind::kHardwareBreak;
        ev.slot = i;
        report(ev);
        return true;
      }
    }
  }
  if (soft_active_.load()) {
    if (auto i = soft_watch_hit()) {
      ev.kind = gdb::StopEvent::Kind::kHardwareBreak;
      ev.slot = *i;
      report(ev);
      return true;
    }
  }
  if (v.stepping.load()) {
    ev.kind = gdb::StopEvent::Kind::kStep;
    report(ev);
    return true;
  }
  return soft_active_.load();  // a step for the watches hvk keeps: on it goes
}

bool MachineDebugger::on_int3(Machine::Slot& slot) {
  const kvm_sregs& sregs = slot.vcpu().synced_sregs();
  const std::uint64_t rip = slot.vcpu().synced_regs().rip;
  const bool long_mode = (sregs.efer & (1u << 10)) != 0 && sregs.cs.l;
  const std::uint64_t linear = long_mode ? rip : (sregs.cs.base + rip) & 0xFFFF'FFFFull;
  const auto gpa = translate(slot, slot.active, linear);
  if (!gpa) return false;
  {
    std::lock_guard lock(mu_);
    if (std::none_of(breakpoints_.begin(), breakpoints_.end(),
                     [&](const auto& b) { return b.second.gpa == *gpa; })) {
      // A breakpoint removed between its trap and now (gdb detached while the guest ran): the
      // byte is the guest's again, and the VP runs it as if nothing had happened.
      std::span<std::byte> byte = m_.memory_.host_span(*gpa, 1);
      return !byte.empty() && byte[0] != std::byte{kInt3};
    }
  }
  gdb::StopEvent ev;
  ev.kind = gdb::StopEvent::Kind::kSoftwareBreak;
  ev.thread = thread_of(slot);
  report(ev);
  return true;
}

void MachineDebugger::on_vtl_switched(Machine::Slot& slot) {
  VpDebug& v = *vps_[slot.id()];
  gdb::StopEvent ev;
  ev.thread = thread_of(slot);
  if (v.stepping.load()) {
    // A step over VtlCall or VtlReturn ends at the first instruction of the VTL entered.
    ev.kind = gdb::StopEvent::Kind::kStep;
    report(ev);
  } else if (stop_on_vtl_switch_.load()) {
    ev.kind = gdb::StopEvent::Kind::kVtlSwitch;
    report(ev);
  }
}

void MachineDebugger::machine_stopping() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
}

// --- On the VP's own thread

std::optional<std::uint64_t> MachineDebugger::translate(Machine::Slot& slot, tlfs::Vtl vtl,
                                                        std::uint64_t va) {
  Machine::SlotState state(m_, slot);
  const tlfs::InitialVpContext c = state.context(vtl);
  hv::GvaAccess a;
  a.check_privilege = false;
  const hv::GvaWalk w = hv::walk_gva(m_.memory_, c, va, a);
  if (w.code != tlfs::TranslateGvaResultCode::kSuccess) return std::nullopt;
  return w.gpa;
}

std::size_t MachineDebugger::access(Machine::Slot& slot, tlfs::Vtl vtl, std::uint64_t va,
                                    std::uint8_t* buf, std::size_t len, bool write) {
  std::size_t done = 0;
  while (done < len) {
    const std::uint64_t at = va + done;
    const std::size_t chunk =
        static_cast<std::size_t>(std::min<std::uint64_t>(len - done, kPageSize - at % kPageSize));
    const auto gpa = translate(slot, vtl, at);
    if (!gpa) break;
    const hv::PageAccess allowed = hv::lower_vtl_access(m_.partition_, vtl, *gpa / kPageSize);
    if (!(write ? allowed.write : allowed.read)) break;
    std::span<std::byte> host = m_.memory_.host_span(*gpa, chunk);
    if (host.empty()) break;
    std::lock_guard lock(mu_);
    if (write) {
      std::memcpy(host.data(), buf + done, chunk);
    } else {
      std::memcpy(buf + done, host.data(), chunk);
    }
    // hvk's int3s stay in RAM and out of gdb's sight: reads see the guest's byte, writes change
    // the byte the breakpoint will put back.
    for (auto& [bva, bp] : breakpoints_) {
      if (bp.gpa < *gpa || bp.gpa >= *gpa + chunk) continue;
      const std::size_t i = done + static_cast<std::size_t>(bp.gpa - *gpa);
      if (write) {
        bp.original = buf[i];
        host[bp.gpa - *gpa] = std::byte{kInt3};
      } else {
        buf[i] = bp.original;
      }
    }
    done += chunk;
  }
  return done;
}

bool MachineDebugger::read_vcpu(Machine::Slot& slot, tlfs::Vtl vtl, gdb::X86Registers& regs) {
  kvm::Vcpu* v = slot.vcpus[vtl].get();
  if (v == nullptr) return false;
  if (!slot.entered[vtl]) {
    // A VTL not entered since the VP started: the context it will start from.
    Machine::SlotState state(m_, slot);
    kvm_regs r{};
    kvm_sregs s{};
    apply_context(r, s, state.context(vtl));
    regs = gdb_registers(r, s);
    return true;
  }
  regs = gdb_registers(v->synced_regs(), v->synced_sregs());
  if (auto k = v->msr(kMsrKernelGsBase)) regs.kernel_gs_base = *k;
  auto x = std::make_unique<kvm_xsave>();
  if (v->xsave(*x)) add_fpu(regs, *x);  // else the integer state is still worth showing
  return true;
}

bool MachineDebugger::write_vcpu(Machine::Slot& slot, tlfs::Vtl vtl,
                                 const gdb::X86Registers& regs) {
  kvm::Vcpu* v = slot.vcpus[vtl].get();
  if (v == nullptr || !slot.entered[vtl]) return false;  // nothing to write into yet
  gdb::X86Registers now;
  if (!read_vcpu(slot, vtl, now)) return false;
  apply_integer(v->edit_synced_regs(), regs);
  if (system_differs(regs, now)) apply_system(v->edit_synced_sregs(), regs);
  if (regs.kernel_gs_base != now.kernel_gs_base &&
      !v->set_msr(kMsrKernelGsBase, regs.kernel_gs_base)) {
    return false;
  }
  if (!fpu_differs(regs, now)) return true;
  auto x = std::make_unique<kvm_xsave>();
  if (!v->xsave(*x)) return false;
  apply_fpu(*x, regs);
  return v->set_xsave(*x).ok();
}

}  // namespace hvk::machine
