#include "machine/machine.h"

#include <fmt/format.h>
#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "hv/synthetic_msrs.h"
#include "hv/vtl_control.h"
#include "hv/vtl_switch.h"
#include "kvm/kick.h"
#include "machine/apic/apic_msrs.h"
#include "machine/cpuid.h"
#include "machine/debug/machine_debugger.h"
#include "machine/firmware/acpi.h"
#include "machine/firmware/dtb.h"
#include "machine/hypercall_page.h"
#include "machine/loader/guest_ram.h"
#include "machine/msi.h"
#include "machine/vcpu_state.h"
#include "machine/vcpu_warmup.h"
#include "machine/vmm.h"
#include "machine/vtl/vtl_vm.h"

namespace hvk::machine {

namespace {

// The x86 reset state's RIP and CS base (SDM 9.1.4, APM 14.1.3).
constexpr std::uint64_t kResetRip = 0xfff0;
constexpr std::uint64_t kResetCsBase = 0xffff0000;


constexpr std::uint16_t kExitPort = 0xF4;
constexpr std::uint16_t kMarkPort = 0xF8;
constexpr std::uint8_t kVectorUd = 6;
constexpr std::uint8_t kVectorBp = 3;
constexpr std::uint8_t kVectorMf = 16;
constexpr std::uint8_t kOpcodeInt3 = 0xCC;
constexpr std::uint8_t kOpcodeFwait = 0x9B;
constexpr std::uint16_t kFswErrorSummary = 0x80;
constexpr std::uint32_t kSetupDtb = 2;            // SETUP_DTB (asm/bootparam.h)
constexpr std::uint64_t kApicHz = 1'000'000'000;  // KVM's APIC bus: one tick per ns

template <typename T>
Error kvm_error(const kvm::Result<T>& r) {
  return Error{r.error().message()};
}

}  // namespace

Result<std::unique_ptr<Machine>> Machine::create(Vmm& vmm, hv::Partition& partition,
                                                 std::span<const std::byte> image,
                                                 const MachineConfig& config) {
  const std::uint64_t max_mem = max_guest_ram(vmm.kvm());
  if (config.mem_bytes % 4096 != 0 || config.mem_bytes > max_mem) {
    return machine::fail(fmt::format(
        "--mem: {} bytes is not a multiple of 4 KiB of at most {} bytes (this host's KVM)",
        config.mem_bytes, max_mem));
  }
  const RamSplit split = RamSplit::of(config.mem_bytes);
  // Guest RAM: hvk's own view, and one view per VTL that can be protected by a VTL above it,
  // which that VTL's KVM VM maps (vtl/protected_ram.h mprotects it).
  auto memory = kvm::SharedMemory::create(config.mem_bytes);
  if (!memory) return kvm_error(memory);
  RamViews views;
  auto own = memory->map();
  if (!own) return kvm_error(own);
  views.own = std::move(*own);
  for (auto& v : views.vtl) {
    auto view = memory->map();
    if (!view) return kvm_error(view);
    v = std::move(*view);
  }
  views.memory = std::move(*memory);
  auto vm = create_guest_vm(vmm.kvm(), views.vtl[0], split.low);  // VTL 0's
  if (!vm) return kvm_error(vm);
  std::unique_ptr<Machine> m(new Machine(vmm, partition, std::move(*vm), std::move(views), config));
  // A device tree in setup_data tells a kernel without ACPI where its processors are.
  for (std::uint32_t i = 0; i < partition.vp_count(); ++i) {
    m->apic_ids_.push_back(partition.vp(i)->apic_id());
  }
  const std::vector<std::uint32_t>& apic_ids = m->apic_ids_;
  auto dtb = build_cpu_dtb(apic_ids);
  if (!dtb) return Error{dtb.error()};
  // The loader writes below the 32-bit hole only; the RAM above it is described to the guest.
  const std::span<std::byte> low_ram = m->ram_.span().first(split.low);
  SetupDataChain setup_data(low_ram);
  if (auto r = setup_data.add(kSetupDtb, *dtb); !r) return Error{r.error()};
  // ACPI tables in the BIOS area: processors, the IOAPIC, reset and power-off.
  AcpiPlatform acpi{.apic_ids = apic_ids,
                    .ioapic_address = Ioapic::kBase,
                    .ioapic_id = Ioapic::kId,
                    .reset_port = Platform::kI8042Command,
                    .reset_value = Platform::kI8042PulseReset,
                    .sleep_control_port = Platform::kSleepControlPort,
                    .sleep_status_port = Platform::kSleepStatusPort};
  auto tables = build_acpi_tables(kAcpiTablesAddr, kAcpiTablesEnd - kAcpiTablesAddr, acpi);
  if (!tables) return Error{tables.error()};
  if (!GuestRam(low_ram).write(kAcpiTablesAddr, tables->bytes)) {
    return machine::fail(fmt::format("--mem: {} bytes leave no room for the ACPI tables at {:#x}",
                                     config.mem_bytes, kAcpiTablesAddr));
  }
  auto boot = prepare_boot(image, low_ram,
                           {.cmdline = config.cmdline,
                            .setup_data = setup_data.head(),
                            .acpi_rsdp = tables->rsdp,
                            .initrd = config.initrd,
                            .initrd_name = config.initrd_name,
                            .image_name = config.image_name,
                            .bzimage = config.bzimage,
                            .high_ram = split.high});
  if (!boot) return Error{boot.error()};
  m->boot_ = *boot;

  for (std::uint32_t i = 0; i < partition.vp_count(); ++i) {
    auto vcpu = create_vp_vcpu(vmm.kvm(), *m->vms_[0], partition, i);
    if (!vcpu) return kvm_error(vcpu);
    m->slots_.push_back(std::make_unique<Slot>(std::move(*vcpu)));
  }
  if (auto offset = m->slots_[0]->vcpus[0]->tsc_offset(); offset) m->tsc_offset_ = *offset;
  // VTLs enabled from the start (a boot VTL): their VMs, and VP 0's vCPUs in them.
  for (tlfs::Vtl v = 1; v <= tlfs::kMaxVtl; ++v) {
    if (!partition.vtl_enabled(v)) continue;
    if (m->vtl_vm(v) == nullptr) return machine::fail(fmt::format("creating VTL {}'s VM", v));
    for (std::uint32_t i = 0; i < partition.vp_count(); ++i) {
      if (partition.vp(i)->vtl_enabled(v) && !m->add_vtl_vcpu(i, v)) {
        return machine::fail(fmt::format("creating VP {}'s vCPU in VTL {}", i, v));
      }
    }
  }
  // KVM's LAPIC timer counts at 1 GHz; the TSC at what KVM says.
  if (auto khz = m->slots_[0]->vcpus[0]->tsc_khz(); khz) {
    partition.set_frequencies(std::uint64_t{*khz} * 1000, kApicHz);
    // TIME_REF_COUNT and the timers read the guest's TSC through the page's formula.
    auto clock = GuestTscClock::calibrate(*m->slots_[0]->vcpus[0],
                                          hv::reference_tsc_page(partition.tsc_hz()));
    if (!clock) return kvm_error(clock);
    m->clock_.emplace(*clock);
    partition.set_reference_clock(&*m->clock_);
  }
  if (config.boot) {
    // VP 0 boots in its current VTL (the boot VTL).
    Slot& vp0 = *m->slots_[0];
    vp0.active = partition.vp(0)->current_vtl();
    vp0.entered[vp0.active] = true;
    auto r = load_context(vp0.vcpu(), context_from_boot_state(m->boot_.state),
                          entry_registers(m->boot_.state));
    if (!r) return kvm_error(r);
  }
  if (config.hyperv_testdev) m->testdev_ = std::make_unique<HypervTestdev>(partition);
  if (partition.privileges().has(tlfs::Privilege::kSynicRegs) ||
      partition.privileges().has(tlfs::Privilege::kSyntheticTimerRegs)) {
    Machine* self = m.get();
    m->synic_ = std::make_unique<SynicDelivery>(
        partition,
        SynicDelivery::Hooks{
            .msi = [self](tlfs::Vtl vtl, std::uint64_t address,
                          std::uint32_t data) { self->signal_msi(vtl, address, data); },
            .kick = [self](tlfs::VpIndex vp) { self->kick(*self->slots_[vp]); }});
  }
  if (config.gdb) m->debugger_ = std::make_unique<MachineDebugger>(*m, config.gdb_hold);
  partition.attach(m.get(), &m->memory_);
  partition.set_vsm_code_page_offsets(hypercall_page::kVsmCodePageOffsets);
  return m;
}

std::uint64_t Machine::max_guest_ram(kvm::Kvm& kvm) {
  // The guest's physical address width (CPUID 0x80000008 EAX[7:0]) bounds the highest RAM
  // address; RAM above 3 GiB sits 1 GiB higher, past the 32-bit hole.
  unsigned bits = 36;
  if (auto cpuid = kvm.supported_cpuid()) {
    for (const kvm_cpuid_entry2& e : *cpuid) {
      if (e.function == 0x8000'0008 && (e.eax & 0xFF) != 0) bits = e.eax & 0xFF;
    }
  }
  const std::uint64_t top = bits >= 64 ? UINT64_MAX : (std::uint64_t{1} << bits);
  const std::uint64_t max =
      top <= kHighRamBase ? std::min(top, kLowRamMax) : top - (kHighRamBase - kLowRamMax);
  return max & ~std::uint64_t{0xFFF};
}

Machine::Machine(Vmm& vmm, hv::Partition& partition, kvm::Vm vm, RamViews views,
                 const MachineConfig& config)
    : vmm_(vmm),
      partition_(partition),
      ram_memory_(std::move(views.memory)),
      ram_(std::move(views.own)),
      ram_split_(RamSplit::of(ram_.size())),
      vtl_ram_(std::move(views.vtl)),
      config_(config),
      console_(vmm.console(), config.console_prefix),
      gate_(partition.vp_count()),
      shootdown_(partition.vp_count()),
      platform_(std::make_unique<Platform>(
          [this](char c) { console_.put(c); },
          [this](const Ioapic::Msi& msi) { signal_msi(0, msi.address, msi.data); },
          Platform::Shape{.ram_bytes = config.mem_bytes,
                          .cpus = static_cast<std::uint16_t>(
                              std::min<std::uint32_t>(partition.vp_count(), 0xFFFF))})),
      vtl_watch_(partition.vp_count(), [this](tlfs::VpIndex vp, tlfs::Vtl vtl, bool timer_due) {
        poke_vtl(vp, vtl, timer_due);
      }) {
  // RAM around the 32-bit hole (loader/layout.h): its first part at 0, the rest at 4 GiB.
  memory_.add(0, ram_.span().first(ram_split_.low));
  if (ram_split_.high != 0) memory_.add(kHighRamBase, ram_.span().subspan(ram_split_.low));
  vms_[0] = std::make_unique<kvm::Vm>(std::move(vm));
  vm_ptrs_[0].store(vms_[0].get(), std::memory_order_release);
}

kvm::Vm* Machine::vtl_vm(tlfs::Vtl vtl) {
  if (vtl > tlfs::kMaxVtl) return nullptr;
  std::lock_guard lock(vms_mu_);
  if (!vms_[vtl]) {
    auto vm =
        create_guest_vm(vmm_.kvm(), vtl < tlfs::kMaxVtl ? vtl_ram_[vtl] : ram_, ram_split_.low);
    if (!vm) return nullptr;
    vms_[vtl] = std::make_unique<kvm::Vm>(std::move(*vm));
    vm_ptrs_[vtl].store(vms_[vtl].get(), std::memory_order_release);
  }
  return vms_[vtl].get();
}

bool Machine::add_vtl_vcpu(tlfs::VpIndex vp, tlfs::Vtl vtl) {
  if (vp >= slots_.size() || vtl == 0 || vtl > tlfs::kMaxVtl) return false;
  kvm::Vm* vm = vtl_vm(vtl);
  if (vm == nullptr) return false;
  Slot& slot = *slots_[vp];
  std::lock_guard lock(slot.mu);
  if (slot.vcpus[vtl]) return true;
  auto vcpu = create_vp_vcpu(vmm_.kvm(), *vm, partition_, vp);
  if (!vcpu) return false;
  if (!share_tsc(*vcpu, tsc_offset_, clock_ ? clock_->guest_tsc() : 0)) return false;
  if (!software_enable_apic(*vcpu)) return false;
  slot.vcpus[vtl] = std::make_unique<kvm::Vcpu>(std::move(*vcpu));
  slot.published[vtl].store(slot.vcpus[vtl].get(), std::memory_order_release);
  return true;
}

void Machine::send_ipi(tlfs::VpIndex vp_index, tlfs::Vtl vtl, std::uint8_t vector) noexcept {
  if (vp_index >= apic_ids_.size()) return;
  // Fixed, edge-triggered, physical destination (8-bit APIC IDs, as the SynIC's).
  signal_msi(vtl, msi_address(static_cast<std::uint8_t>(apic_ids_[vp_index]), false), vector);
  note_vtl_interrupt(vp_index, vtl, slots_[vp_index]->kick_target.is_self());
}

bool Machine::prepare_vtl(tlfs::Vtl vtl) noexcept {
  return vtl_vm(vtl) != nullptr;
}

bool Machine::prepare_vp_vtl(tlfs::VpIndex vp_index, tlfs::Vtl vtl) noexcept {
  return add_vtl_vcpu(vp_index, vtl);
}

Machine::~Machine() {
  stop();
  join();
  if (synic_) synic_->stop();
  vtl_watch_.stop();
  if (clock_) partition_.set_reference_clock(nullptr);
  partition_.attach(nullptr, nullptr);
}

void Machine::start_threads() {
  for (auto& s : slots_) {
    Slot* slot = s.get();
    slot->thread = std::thread([this, slot] { run_vp(*slot); });
  }
}

void Machine::signal_msi(tlfs::Vtl vtl, std::uint64_t address, std::uint32_t data) {
  kvm::Vm* vm = vtl <= tlfs::kMaxVtl ? vm_ptrs_[vtl].load(std::memory_order_acquire) : nullptr;
  if (vm == nullptr) return;
  auto hold = gate_.sending();
  (void)vm->signal_msi(address, data);
}

void Machine::kick(Slot& slot) {
  for (auto& v : slot.published) {
    if (kvm::Vcpu* vcpu = v.load(std::memory_order_acquire)) vcpu->set_immediate_exit(true);
  }
  slot.cv.notify_all();
  (void)slot.kick_target.kick();
}

bool Machine::give_guest_int3(Slot& slot) {
  slot.vcpu().edit_synced_regs().rip += 1;
  return slot.vcpu().inject_exception(kVectorBp).ok();
}

gdb::Target* Machine::debug_target() {
  return debugger_.get();
}

bool Machine::apply_guest_debug(Slot& slot, tlfs::Vtl vtl) {
  kvm::Vcpu* v = slot.vcpus[vtl].get();
  if (v == nullptr) return false;
  const bool hole_step = slot.hole_stepping && slot.hole_vtl == vtl;
  if (debugger_) return v->set_guest_debug(debugger_->guest_debug(slot, vtl, hole_step)).ok();
  return v->set_single_step(hole_step).ok();
}

void Machine::stop() {
  if (stopping_.exchange(true)) return;
  if (debugger_) debugger_->machine_stopping();
  for (auto& s : slots_) {
    { std::lock_guard lock(s->mu); }  // a waiter sees stopping_ before it sleeps again
    kick(*s);
  }
}

void Machine::join() {
  for (auto& s : slots_) {
    if (s->thread.joinable() && s->thread.get_id() != std::this_thread::get_id()) s->thread.join();
  }
  console_.flush();
}

namespace {
// --trace-starts: when this VP thread's last KVM_RUN returned (host TSC).
thread_local std::uint64_t t_last_exit_tsc = 0;
}  // namespace

void Machine::start_vp(const hv::StartRequest& request) noexcept {
  Slot& slot = *slots_[request.vp_index];
  {
    std::lock_guard lock(slot.mu);
    slot.pending = request;
    if (config_.trace_starts) {
      slot.pending_trace = StartTrace{.exit = t_last_exit_tsc, .request = host_tsc()};
    }
  }
  kick(slot);
}

void Machine::refresh_vp_state(tlfs::VpIndex vp_index) noexcept {
  if (vp_index >= slots_.size()) return;
  Slot& slot = *slots_[vp_index];
  std::unique_lock lock(slot.mu);
  slot.refresh_requested = true;
  slot.refresh_done = false;
  lock.unlock();
  kick(slot);
  lock.lock();
  // Bounded: two VPs asking each other at once must not deadlock; a late answer only means the
  // engine's view is refreshed a moment later.
  slot.cv.wait_for(lock, std::chrono::milliseconds(100),
                   [&] { return slot.refresh_done || stopping_.load(); });
}

void Machine::answer_refresh(Slot& slot) {
  std::unique_lock lock(slot.mu);
  if (!slot.refresh_requested) return;
  slot.refresh_requested = false;
  lock.unlock();
  // KVM's LAPIC handles INIT by itself; the vCPU's MP state tells whether one arrived. Only
  // INIT_RECEIVED counts: UNINITIALIZED is also the state of a VP whose start request is still on
  // its way, and reading that as an INIT would let a second caller win the start race.
  if (auto mp = slot.vcpu().mp_state(); mp && mp->mp_state == KVM_MP_STATE_INIT_RECEIVED) {
    partition_.vp(slot.id())->reset_to_wait_for_sipi();
    slot.pat_in_vcpu = {};  // it ran (INIT keeps the PAT the guest left)
  }
  lock.lock();
  slot.refresh_done = true;
  slot.cv.notify_all();
}

void Machine::assert_sint(const hv::SintInterrupt& irq) noexcept {
  if (!synic_ || irq.vp_index >= slots_.size()) return;
  const Slot& target = *slots_[irq.vp_index];
  synic_->raise(irq, target.kick_target.is_self());
  note_vtl_interrupt(irq.vp_index, irq.vtl, target.kick_target.is_self());
}

void Machine::timers_changed(tlfs::VpIndex vp_index, tlfs::Vtl vtl,
                             std::uint64_t deadline) noexcept {
  if (synic_) synic_->timers_changed(vp_index, vtl, deadline);
}

void Machine::partition_state_changed(hv::PartitionState state) noexcept {
  if (state == hv::PartitionState::kFinalized || state == hv::PartitionState::kDeleted) stop();
}

void Machine::end(int status, const std::string& message) {
  if (partition_.parent() == tlfs::kPartitionIdInvalid) {
    vmm_.end(status, message);
  } else {
    // A child that ends stops itself; the run goes on with its parent.
    if (!message.empty())
      std::fprintf(stderr, "hvk: partition %llu: %s\n",
                   static_cast<unsigned long long>(partition_.id()), message.c_str());
    stop();
  }
}

void Machine::fail(Slot& slot, int status, const std::string& what) {
  auto regs = slot.vcpu().regs();
  const std::uint64_t rip = regs ? regs->rip : 0;
  std::string bytes = "unreadable";
  if (auto gpa = slot.vcpu().translate(rip); gpa && gpa->has_value()) {
    std::array<std::byte, 16> b{};
    const std::uint64_t n = std::min<std::uint64_t>(16, 4096 - (**gpa % 4096));
    if (memory_.read(**gpa, std::span(b).first(n))) {
      bytes.clear();
      for (std::uint64_t i = 0; i < n; ++i) {
        bytes += fmt::format("{}{:02x}", i ? " " : "", static_cast<unsigned>(b[i]));
      }
    }
  }
  end(status, fmt::format("partition {} VP {}: {} at RIP {:#x} (bytes: {})", partition_.id(),
                          slot.id(), what, rip, bytes));
}

void Machine::run_vp(Slot& slot) {
  slot.kick_target.publish_self();
  // Whatever way the thread leaves, kicks (other VPs', the SynIC's, the VTL watch's) stop first.
  struct Retire {
    kvm::KickTarget& target;
    ~Retire() { target.retire(); }
  } retire{slot.kick_target};
  hv::Vp& vp = *partition_.vp(slot.id());
  if (slot.id() != 0 && !warm_up(slot)) return;
  // A VP that only HvCallStartVirtualProcessor may start does not enter KVM_RUN before it is
  // started (APs do: KVM's LAPIC holds them until INIT-SIPI).
  if (slot.id() == 0 && !config_.boot) {
    std::unique_lock lock(slot.mu);
    while (!slot.pending.has_value() && !stopping_.load()) {
      slot.cv.wait(lock, [&] {
        return slot.pending.has_value() || stopping_.load() || shootdown_.pending(slot.id());
      });
      lock.unlock();
      serve_tlb_flushes(slot);  // other VPs' flushes name every VP, started or not
      lock.lock();
    }
  }
  while (!stopping_.load(std::memory_order_acquire)) {
    if (debugger_ && debugger_->wants_park(slot)) {
      debugger_->park(slot);
      continue;
    }
    std::optional<hv::StartRequest> start;
    {
      std::lock_guard lock(slot.mu);
      start.swap(slot.pending);
      if (start && config_.trace_starts) {
        slot.start_trace = slot.pending_trace;
        slot.start_trace->woke = t_last_exit_tsc;
      }
    }
    if (start) {
      // A started VP begins afresh in every VTL: the run VTL from the request's context, the
      // others from their recorded contexts when first entered.
      slot.entered = {};
      slot.fpu.forget();
      slot.active = start->run_vtl;
      vtl_switched(slot);
      slot.entered[slot.active] = true;
      if (auto r = load_context(slot.vcpu(), start->context, {}, &slot.pat_in_vcpu[slot.active]);
          !r) {
        fail(slot, kExitVcpuFailure, "loading the start context failed: " + r.error().message());
        return;
      }
      if (slot.start_trace) slot.start_trace->loaded = host_tsc();
    }
    if (slot.suspended) {
      slot.suspended = false;
      wait_unsuspended(slot);
    }
    serve_tlb_flushes(slot);
    if (slot.describe_requested.load(std::memory_order_acquire)) answer_describe(slot);
    if (slot.vtl_check.exchange(false, std::memory_order_acq_rel)) take_vtl_interrupt(slot);
    if (synic_ && synic_->pending(slot.id(), slot.active)) {
      synic_->before_run(slot.id(), slot.active, slot.vcpu());
    }
    if (debugger_) debugger_->before_run(slot);
    if (!gate_.enter_run(slot.id())) {
      gate_.wait_open();
      continue;
    }
    if (slot.start_trace && slot.start_trace->run == 0) slot.start_trace->run = host_tsc();
    auto exit = slot.vcpu().run();
    if (config_.trace_starts) t_last_exit_tsc = host_tsc();
    gate_.leave_run(slot.id());
    if (slot.start_trace && slot.start_trace->run != 0) {
      // Printed after the started VP's first exit, so that it costs the start nothing.
      std::fprintf(stderr, "%s\n",
                   format_start_trace(slot.id(), *slot.start_trace, tsc_offset_).c_str());
      slot.start_trace.reset();
    }
    if (!exit) {
      fail(slot, kExitVcpuFailure, "KVM_RUN failed: " + exit.error().message());
      return;
    }
    ++slot.exits;
    if (!std::holds_alternative<kvm::exits::Intr>(*exit)) slot.last_exit = exit->index();
    // An AP brought up by INIT-SIPI runs without the engine having started it. A kick (the
    // LAPIC gate, the SynIC, a start request) also ends KVM_RUN of an AP that KVM still holds
    // for its SIPI: that one has run nothing yet.
    if (vp.run_state() != hv::VpRunState::kRunning && ran_guest(slot, *exit)) {
      vp.mark_running_in(vp.current_vtl());
      slot.pat_in_vcpu[slot.active].reset();  // INIT-SIPI started it: guest code ran
    }
    if (!handle_exit(slot, *exit)) return;
  }
}

bool Machine::warm_up(Slot& slot) {
  while (!gate_.enter_run(slot.id())) gate_.wait_open();
  auto w = warm_up_ap(slot.vcpu());
  gate_.leave_run(slot.id());
  if (!w) {
    fail(slot, kExitVcpuFailure, "warming up the AP's vCPU: " + w.error().message());
    return false;
  }
  if (!*w) return true;
  // The guest's INIT-SIPI started the AP during the warm-up: its exit is the first of many.
  hv::Vp& vp = *partition_.vp(slot.id());
  if (vp.run_state() != hv::VpRunState::kRunning) vp.mark_running_in(vp.current_vtl());
  slot.pat_in_vcpu[slot.active].reset();
  return handle_exit(slot, **w);
}

bool Machine::ran_guest(const Slot& slot, const kvm::Exit& exit) {
  if (!std::holds_alternative<kvm::exits::Intr>(exit)) return true;
  const auto mp = slot.vcpu().mp_state();
  return mp && (mp->mp_state == KVM_MP_STATE_RUNNABLE || mp->mp_state == KVM_MP_STATE_HALTED);
}

bool Machine::handle_exit(Slot& slot, kvm::Exit& exit) {
  using namespace kvm::exits;
  // A hole opened for one read closes at the vCPU's next exit whatever it is (on_ram_mmio closes
  // it after the read itself).
  if (slot.hole && !std::holds_alternative<Mmio>(exit)) close_hole(slot, false);
  if (auto* io = std::get_if<Io>(&exit)) return on_io(slot, *io);
  if (auto* rd = std::get_if<MsrRead>(&exit)) {
    on_msr_read(slot, *rd);
    return true;
  }
  if (auto* wr = std::get_if<MsrWrite>(&exit)) {
    on_msr_write(slot, *wr);
    return true;
  }
  if (std::holds_alternative<Intr>(exit)) {
    slot.vcpu().set_immediate_exit(false);
    answer_refresh(slot);
    return true;
  }
  if (auto* mmio = std::get_if<Mmio>(&exit)) {
    if (memory_.contains(mmio->addr, 1) && on_ram_mmio(slot, *mmio)) return true;
    // The IOAPIC; elsewhere reads of unbacked addresses see all ones, writes are dropped.
    if (platform_->mmio(mmio->addr, mmio->is_write, mmio->data)) return true;
    if (!mmio->is_write) std::fill(mmio->data.begin(), mmio->data.end(), std::uint8_t{0xFF});
    return true;
  }
  if (std::holds_alternative<Hlt>(exit) || std::holds_alternative<Again>(exit)) return true;
  if (auto* d = std::get_if<Debug>(&exit)) {
    if (debugger_ && debugger_->on_debug_exit(slot, *d)) return true;  // the VP stops for gdb
    // The guest's own int3, trapped because gdb has breakpoints in: it gets its #BP.
    if (d->exception == kVectorBp) (void)give_guest_int3(slot);
    return true;  // else the single step a hole asked for (closed above)
  }
  if (std::holds_alternative<Shutdown>(exit)) {
    // KVM on AMD resets the vCPU at a shutdown (the VMCB is undefined after one): its registers
    // are the reset state, and the faulting RIP is gone. Say so rather than show 0xfff0.
    if (slot.vcpu().synced_regs().rip == kResetRip &&
        slot.vcpu().synced_sregs().cs.base == kResetCsBase) {
      end(kExitTripleFault,
          fmt::format("partition {} VP {}: triple fault (KVM reset the vCPU at the shutdown, as it "
                      "does on AMD: the faulting RIP is not known)",
                      partition_.id(), slot.id()));
      return false;
    }
    fail(slot, kExitTripleFault, "triple fault");
    return false;
  }
  if (auto* ie = std::get_if<InternalError>(&exit)) return on_internal_error(slot, *ie);
  if (auto* mf = std::get_if<MemoryFault>(&exit)) {
    if (on_memory_fault(slot, *mf)) return true;
    fail(slot, kExitVcpuFailure, "KVM_RUN failed: " + kvm::describe(exit));
    return false;
  }
  if (auto* ev = std::get_if<SystemEvent>(&exit)) {
    end(0, fmt::format("partition {}: system event {} from VP {}", partition_.id(), ev->type,
                       slot.id()));
    return false;
  }
  fail(slot, kExitVcpuFailure, "unexpected exit: " + kvm::describe(exit));
  return false;
}

bool Machine::on_io(Slot& slot, const kvm::exits::Io& io) {
  if (io.is_out() && io.size == 1 && io.count == 1) {
    if (io.port == kHypercallPort) {
      on_hypercall(slot);
      return true;
    }
    if (io.port == kVtlCallPort || io.port == kVtlReturnPort) {
      on_vtl_switch(slot,
                    io.port == kVtlCallPort ? hv::VtlDirection::kCall : hv::VtlDirection::kReturn);
      return true;
    }
  }
  if (io.is_out() && io.port == kMarkPort && config_.on_mark) {
    for (std::uint8_t b : io.data) config_.on_mark(slot.id(), b);
    return true;
  }
  if (io.is_out() && io.port == kExitPort) {
    end(io.data.empty() ? 0 : io.data[0], "");
    return false;
  }
  if (testdev_ && testdev_->io(io.port, io.is_out(), io.data)) return true;
  Platform::Event event = Platform::Event::kNone;
  if (platform_->io(io.port, io.is_out(), io.size, io.data, event)) {
    if (event == Platform::Event::kReset) {
      end(0, fmt::format("partition {}: the guest reset the machine (i8042); hvk has no reset, "
                         "so the run ends", partition_.id()));
      return false;
    }
    if (event == Platform::Event::kPowerOff) {
      end(0, "");
      return false;
    }
    return true;
  }
  // Nothing at this port: reads float high, writes are dropped.
  if (!io.is_out()) std::fill(io.data.begin(), io.data.end(), std::uint8_t{0xFF});
  return true;
}

void Machine::on_hypercall(Slot& slot) {
  kvm_regs& regs = slot.vcpu().edit_synced_regs();
  hv::VpCallState state = call_state(regs, slot.vcpu().synced_sregs());
  hv::Vp& vp = *partition_.vp(slot.id());
  // Where the exit left RIP: at the `out` (KVM skips it on re-entry unless RIP changes) or
  // already past it (some hosts). Either way the entry is known from the page offset.
  const std::optional<std::uint64_t> base = hypercall_page::entry_address(regs.rip);
  SlotState registers(*this, slot);
  // Read before the call: a lock lifted after the engine looked at it wakes a suspended VP.
  std::uint64_t epoch = tlb_epoch_.load(std::memory_order_acquire);
  hv::Outcome o = vmm_.dispatcher().dispatch(partition_, vp, state, &registers);
  if (!base) {
    // An `out 0xf5` outside the hypercall page: finish rep and suspended calls here, #UD by
    // injection.
    while ((o.action == hv::Action::kRetry || o.action == hv::Action::kSuspend) &&
           !stopping_.load(std::memory_order_acquire)) {
      if (o.action == hv::Action::kSuspend) {
        slot.suspend_epoch = epoch;
        wait_unsuspended(slot);
        epoch = tlb_epoch_.load(std::memory_order_acquire);
      }
      o = vmm_.dispatcher().dispatch(partition_, vp, state, &registers);
    }
    if (o.action == hv::Action::kInjectUd) (void)slot.vcpu().inject_exception(kVectorUd);
  }
  store_call_regs(regs, state.regs);
  if (!base) return;
  // A rep call goes on, and a suspended one is issued again, through the entry's `jmp` back to
  // its `out`; a suspended VP first waits before KVM_RUN (wait_unsuspended).
  if (o.action == hv::Action::kRetry || o.action == hv::Action::kSuspend) {
    regs.rip = *base + hypercall_page::kRetryOffset;
  }
  if (o.action == hv::Action::kSuspend) {
    slot.suspended = true;
    slot.suspend_epoch = epoch;
  }
  if (o.action == hv::Action::kInjectUd) regs.rip = *base + hypercall_page::kUdOffset;
}

tlfs::InitialVpContext Machine::SlotState::context(tlfs::Vtl vtl) {
  const hv::Vp& vp = *machine_.partition_.vp(slot_.id());
  // A VTL that has run keeps its registers in its own vCPU; the synced copies of one that is not
  // running are what it left KVM_RUN with. Only this thread runs the VP's vCPUs.
  if (vtl <= tlfs::kMaxVtl && slot_.vcpus[vtl] && slot_.entered[vtl]) {
    const kvm::Vcpu& v = *slot_.vcpus[vtl];
    const auto pat = v.msr(kMsrPat);
    return context_from_kvm(v.synced_regs(), v.synced_sregs(), pat ? *pat : 0);
  }
  return vp.vtl_context(vtl).value_or(tlfs::InitialVpContext{});
}

// XMM0-5 live in the vCPU's XSAVE image (the legacy area's XMM slots from byte 160), which only
// the VP's own thread touches; they are the running VTL's and shared by all (conformance T5).
// Only XMM fast calls pay for the ioctls. A write also sets XSTATE_BV's SSE bit: KVM restores the
// guest's registers with XRSTOR, which would load the init state for a component whose bit is
// clear (KVM_SET_FPU alone would be lost that way).
namespace {
constexpr std::size_t kXsaveXmmOffset = 160;
constexpr std::size_t kXsaveHeaderOffset = 512;  // XSTATE_BV, the first 8 bytes of the header
constexpr std::uint64_t kXstateSse = 1u << 1;
}  // namespace

bool Machine::SlotState::xmm(std::span<std::byte, kXmmBytes> out) {
  kvm_xsave& x = kvm::Vcpu::xsave_buffer(slot_.xsave);
  if (!slot_.vcpu().xsave(x)) return false;
  std::memcpy(out.data(), reinterpret_cast<const std::byte*>(x.region) + kXsaveXmmOffset,
              out.size());
  return true;
}

bool Machine::SlotState::set_xmm(std::span<const std::byte, kXmmBytes> in) {
  kvm_xsave& x = kvm::Vcpu::xsave_buffer(slot_.xsave);
  if (!slot_.vcpu().xsave(x)) return false;
  auto* bytes = reinterpret_cast<std::byte*>(x.region);
  std::memcpy(bytes + kXsaveXmmOffset, in.data(), in.size());
  std::uint64_t bv = 0;
  std::memcpy(&bv, bytes + kXsaveHeaderOffset, sizeof bv);
  bv |= kXstateSse;
  std::memcpy(bytes + kXsaveHeaderOffset, &bv, sizeof bv);
  return slot_.vcpu().set_xsave(x).ok();
}

void Machine::SlotState::set_context(tlfs::Vtl vtl, const tlfs::InitialVpContext& c) {
  hv::Vp& vp = *machine_.partition_.vp(slot_.id());
  if (vtl <= tlfs::kMaxVtl && slot_.vcpus[vtl] && slot_.entered[vtl]) {
    kvm::Vcpu& v = *slot_.vcpus[vtl];
    apply_context(v.edit_synced_regs(), v.edit_synced_sregs(), c);
    (void)v.set_msr(kMsrPat, c.msr_cr_pat);
  } else {
    vp.set_vtl_context(vtl, c);  // the VTL's first entry will use it
  }
}

bool Machine::enter_vtl_vcpu(Slot& slot, const hv::VtlTransfer& t) {
  kvm::Vcpu& to = *slot.vcpus[t.to];
  if (!slot.entered[t.to]) {
    if (auto r = load_context(to, *t.first_entry, {}, &slot.pat_in_vcpu[t.to]); !r) {
      fail(slot, kExitVcpuFailure, "entering VTL: " + r.error().message());
      return false;
    }
    slot.entered[t.to] = true;
  }
  if (t.drop_init_sipi) drop_latched_init(to);
  if (auto r = move_shared_state(slot.vcpu(), t.from, to, t.to, slot.fpu); !r) {
    fail(slot, kExitVcpuFailure,
         "moving the shared registers between VTLs: " + r.error().message());
    return false;
  }
  slot.active = t.to;
  vtl_switched(slot);
  if (debugger_) debugger_->on_vtl_switched(slot);
  return true;
}

void Machine::on_vtl_switch(Slot& slot, hv::VtlDirection direction) {
  kvm::Vcpu& from = slot.vcpu();
  kvm_regs& regs = from.edit_synced_regs();
  const hv::VpCallState state = call_state(regs, from.synced_sregs());
  hv::Vp& vp = *partition_.vp(slot.id());
  const std::optional<std::uint64_t> base = hypercall_page::entry_address(regs.rip);
  const std::uint64_t control = hv::decode_call_regs(state.mode, state.regs).control.raw;
  hv::VtlTransfer t = hv::transfer_vtl(vp, direction, state.mode, state.cpl, control);
  // A VTL without a vCPU, or never given a context, has nothing to run: refuse the switch.
  if (!t.ud && (!slot.vcpus[t.to] || (!slot.entered[t.to] && !t.first_entry))) {
    vp.set_current_vtl(t.from);
    t.ud = true;
  }
  if (t.ud) {
    // Outside the page, #UD by injection; inside it, the entry's `ud2`.
    if (!base) (void)from.inject_exception(kVectorUd);
    if (base) regs.rip = *base + hypercall_page::kUdOffset;
    return;
  }
  // The leaving VTL resumes after the entry's `out` when it is next entered; its vCPU keeps
  // everything else of its own (conformance T5, T7).
  if (base) regs.rip = *base + hypercall_page::kRetOffset;
  if (t.released_tlb_locks) tlb_locks_released();
  if (!enter_vtl_vcpu(slot, t)) return;
  kvm::Vcpu& to = slot.vcpu();
  // The VTL control areas (conformance T9-T11): the entered VTL learns why; a non-fast return
  // loads the lower VTL's RAX and RCX (EAX, ECX, EDX) from the returning VTL's.
  if (direction == hv::VtlDirection::kCall) {
    hv::note_vtl_entry(partition_, vp, t.to, tlfs::VtlEntryReason::kVtlCall);
  } else if (!t.fast) {
    const hv::ExecMode mode = call_state(to.synced_regs(), to.synced_sregs()).mode;
    if (const auto back = hv::vtl_return_registers(partition_, vp, t.from, mode)) {
      kvm_regs& r = to.edit_synced_regs();
      r.rax = back->rax;
      r.rcx = back->rcx;
      if (back->rdx) r.rdx = *back->rdx;
    }
  }
}

void Machine::on_msr_read(Slot& slot, const kvm::exits::MsrRead& msr) {
  if (!hv::is_synthetic_msr(msr.index)) {
    msr.set_error();
    return;
  }
  const hv::MsrAccess a =
      hv::read_synthetic_msr(partition_, *partition_.vp(slot.id()), msr.index);
  if (a.gp) {
    msr.set_error();
    return;
  }
  if (a.apic != hv::ApicAccess::kNone) {
    const auto v = on_apic_msr(slot, a.apic, 0);
    if (!v) {
      msr.set_error();
      return;
    }
    msr.set_data(*v);
    return;
  }
  msr.set_data(a.value);
  // GUEST_IDLE: KVM finishes the rdmsr, then holds the VP until an interrupt arrives. KVM wakes a
  // halted VP only for an interrupt it may take, so with RFLAGS.IF clear the read returns at once
  // (docs/conformance.md, M5).
  constexpr std::uint64_t kRflagsIf = 1u << 9;
  if (a.idle && (slot.vcpu().synced_regs().rflags & kRflagsIf)) {
    (void)slot.vcpu().set_mp_state(KVM_MP_STATE_HALTED);
  }
}

std::optional<std::uint64_t> Machine::on_apic_msr(Slot& slot, hv::ApicAccess what,
                                                  std::uint64_t value) {
  const ApicMsrContext c{
      .vcpu = slot.vcpu(),
      .slot = slot.id(),
      .gate = gate_,
      .kick = [this](std::size_t i) { kick(*slots_[i]); },
      // Sent while the gate is closed by this thread: straight to the VM, not through signal_msi.
      .send =
          [vm = vm_ptrs_[slot.active].load(std::memory_order_acquire)](const ApicMsi& m) {
            if (vm != nullptr) (void)vm->signal_msi(m.address, m.data);
          },
      .apic_ids = apic_ids_};
  return apic_msr_access(c, what, value);
}

void Machine::on_guest_crash(Slot& slot, const hv::MsrAccess& a) {
  const auto& p = a.crash_params;
  std::string what = fmt::format(
      "partition {} VP {}: the guest reported a crash (P0={:#x} P1={:#x} P2={:#x} P3={:#x} "
      "P4={:#x})",
      partition_.id(), slot.id(), p[0], p[1], p[2], p[3], p[4]);
  // With CrashMessage, P3 and P4 give the GPA and length of a text (at most a page is shown).
  if (a.crash_ctl & hv::crash_ctl::kMessage) {
    std::array<std::byte, 4096> text{};
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(p[4], text.size()));
    if (n != 0 && memory_.read(p[3], std::span(text).first(n))) {
      std::string message;
      for (std::size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        message += (c == '\n' || (c >= 0x20 && c < 0x7F)) ? static_cast<char>(c) : '.';
      }
      what += "; its message:\n" + message;
    }
  }
  end(kExitGuestCrash, what);
}

void Machine::on_msr_write(Slot& slot, const kvm::exits::MsrWrite& msr) {
  if (!hv::is_synthetic_msr(msr.index)) {
    msr.set_error();
    return;
  }
  const hv::MsrAccess a =
      hv::write_synthetic_msr(partition_, *partition_.vp(slot.id()), msr.index, msr.data);
  if (a.gp) {
    msr.set_error();
    return;
  }
  if (a.crash) {
    on_guest_crash(slot, a);
    return;
  }
  if (a.apic != hv::ApicAccess::kNone) {
    if (!on_apic_msr(slot, a.apic, a.value)) msr.set_error();
    return;
  }
  if (a.install_reference_tsc) {
    std::span<std::byte> page = memory_.host_span(a.reference_tsc_gpa, 4096);
    if (!page.empty()) {
      std::fill(page.begin(), page.end(), std::byte{0});
      std::memcpy(page.data(), &a.reference_tsc, sizeof a.reference_tsc);
    }
  }
  if (a.install_hypercall_page) {
    // The page is hvk's to fill; a GPA outside RAM gets no code (calls through it fault).
    std::span<std::byte> page = memory_.host_span(a.hypercall_page_gpa, 4096);
    if (!page.empty()) hypercall_page::install(page);  // other VPs may be calling through it
  }
}

bool Machine::on_internal_error(Slot& slot, const kvm::exits::InternalError& e) {
  if (e.suberror == KVM_INTERNAL_ERROR_EMULATION && on_denied_fetch(slot)) return true;
  // Some KVM hosts fail to emulate int3 and fwait (notes §9): finish them as the CPU would. int3
  // raises #BP after itself; fwait raises #MF when an unmasked x87 exception is pending (FSW.ES)
  // and does nothing otherwise.
  if (e.suberror == KVM_INTERNAL_ERROR_EMULATION && !e.instruction.empty()) {
    if (e.instruction[0] == kOpcodeInt3) {
      if (debugger_ && debugger_->on_int3(slot)) return true;  // a gdb breakpoint: the VP stops
      if (give_guest_int3(slot)) return true;
    }
    if (e.instruction[0] == kOpcodeFwait) {
      if (auto fpu = slot.vcpu().fpu(); fpu) {
        slot.vcpu().edit_synced_regs().rip += 1;
        if (!(fpu->fsw & kFswErrorSummary)) return true;
        if (auto r = slot.vcpu().inject_exception(kVectorMf); r) return true;
      }
    }
  }
  std::string what = fmt::format("KVM internal error (suberror {})", e.suberror);
  if (!e.instruction.empty()) {
    what += " on instruction";
    for (std::uint8_t b : e.instruction) what += fmt::format(" {:02x}", b);
  }
  fail(slot, kExitVcpuFailure, what);
  return false;
}

}  // namespace hvk::machine
