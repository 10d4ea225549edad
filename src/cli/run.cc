#include "cli/run.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

#include "cli/console_escape.h"
#include "cli/files.h"
#include "cli/privileges.h"
#include "cli/sandbox.h"
#include "cli/terminal.h"
#include "gdb/server.h"
#include "hv/hyperv_cpuid.h"
#include "kvm/kick.h"
#include "kvm/kvm.h"
#include "machine/guest_tsc_clock.h"
#include "machine/machine.h"
#include "machine/vmm.h"

namespace hvk::cli {

namespace {

int error(const std::string& message) {
  std::fprintf(stderr, "hvk: %s\n", message.c_str());
  return 1;
}

}  // namespace

std::optional<kvm::Kvm> open_kvm(std::string& why) {
  if (std::string missing = kvm::Kvm::check_capabilities(); !missing.empty()) {
    why = std::move(missing);
    return std::nullopt;
  }
  auto kvm = kvm::Kvm::open();
  if (!kvm) {
    why = kvm.error().message();
    return std::nullopt;
  }
  return std::move(*kvm);
}

std::optional<std::uint64_t> parse_size(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  std::size_t i = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    const auto digit = static_cast<std::uint64_t>(text[i] - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  if (i == 0) return std::nullopt;
  unsigned shift = 0;
  if (i < text.size()) {
    switch (text[i]) {
      case 'K':
      case 'k':
        shift = 10;
        break;
      case 'M':
      case 'm':
        shift = 20;
        break;
      case 'G':
      case 'g':
        shift = 30;
        break;
      default:
        return std::nullopt;
    }
    if (i + 1 != text.size()) return std::nullopt;
  }
  if (shift != 0 && value > (UINT64_MAX >> shift)) return std::nullopt;
  return value << shift;
}

namespace {

// A guest's RAM: a multiple of 4 KiB with room for the image at 1 MiB; past 3 GiB it goes on at
// 4 GiB (loader/layout.h), up to what the host's KVM addresses (checked once KVM is open).
constexpr std::uint64_t kMinMem = 2ull << 20;
constexpr double kMaxTimeout = 1e7;  // seconds (about 115 days): any more is a mistake

// `text` as a guest RAM size, or nullopt with `why` set.
std::optional<std::uint64_t> parse_mem(const char* option, const std::string& text,
                                       std::string& why) {
  const auto bytes = parse_size(text);
  if (!bytes) {
    why = fmt::format("{}: '{}' is not a size (examples: 256M, 1G)", option, text);
    return std::nullopt;
  }
  if (*bytes % 4096 != 0 || *bytes < kMinMem) {
    why = fmt::format("{}: {} ({} bytes) must be a multiple of 4 KiB and at least 2 MiB", option,
                      text, *bytes);
    return std::nullopt;
  }
  return bytes;
}

}  // namespace

int run(const RunOptions& o) {
  std::string why;
  const auto mem = parse_mem("--mem", o.mem, why);
  if (!mem) return error(why);
  if (!(o.timeout >= 0 && o.timeout <= kMaxTimeout)) {
    return error(fmt::format("--timeout: {} is not a number of seconds from 0 (none) to {}",
                             o.timeout, kMaxTimeout));
  }
  if (o.gdb_wait && o.gdb.empty()) return error("--gdb-wait: needs --gdb [HOST:]PORT");
  const auto image = read_file(o.image, why);
  if (!image) return error(why);
  std::vector<std::vector<std::byte>> child_images;
  for (const std::string& path : o.children) {
    auto bytes = read_file(path, why);
    if (!bytes) return error(why);
    child_images.push_back(std::move(*bytes));
  }
  if (o.sandbox) close_inherited_fds();
  auto kvm = open_kvm(why);
  if (!kvm) return error(why);
  const std::uint64_t max_mem = machine::Machine::max_guest_ram(*kvm);
  if (*mem > max_mem) {
    return error(
        fmt::format("--mem: {} is more than this host's KVM can address: at most {} bytes "
                    "({} GiB)",
                    o.mem, max_mem, max_mem >> 30));
  }
  if (o.vps == 0 || o.vps > kvm->max_vcpus()) {
    return error(
        fmt::format("--vps: {} is outside 1..{} (this host's KVM limit)", o.vps, kvm->max_vcpus()));
  }
  if (auto r = kvm::install_kick_handler(); !r) return error(r.error().message());

  // A partition holds CpuManagement and AccessPartitionId only when it has children to manage,
  // as Hyper-V's own guests do not: Linux takes CpuManagement for "root partition" (and then
  // tries to create VPs), and with AccessPartitionId alone it asks for its partition id into an
  // output page it allocates only as the root.
  const std::uint64_t parent_only = tlfs::privilege_bit(tlfs::Privilege::kCpuManagement) |
                                    tlfs::privilege_bit(tlfs::Privilege::kAccessPartitionId);
  tlfs::PrivilegeMask base = hv::default_privileges();
  if (o.children.empty()) base.raw &= ~parent_only;
  const auto privileges = parse_privileges(o.privileges, why, base);
  if (!privileges) return error(why);
  const auto child_mem = parse_mem("--child-mem", o.child_mem, why);
  if (!child_mem) return error(why);
  if (*child_mem > max_mem) {
    return error(
        fmt::format("--child-mem: {} is more than this host's KVM can address: at most {} "
                    "bytes",
                    o.child_mem, max_mem));
  }
  if (o.child_vps == 0 || o.child_vps > kvm->max_vcpus()) {
    return error(fmt::format("--child-vps: {} is outside 1..{}", o.child_vps, kvm->max_vcpus()));
  }

  std::vector<std::byte> initrd;
  if (!o.initrd.empty()) {
    auto bytes = read_file(o.initrd, why);
    if (!bytes) return error(fmt::format("--initrd: {}", why));
    initrd = std::move(*bytes);
  }

  machine::Vmm vmm(std::move(*kvm), o.trace);
  hv::PartitionConfig pc;
  pc.vp_count = o.vps;
  pc.privileges = *privileges;
  pc.boot_vtl = static_cast<tlfs::Vtl>(o.vtl);
  pc.synic = o.synic;
  pc.vtl_execute_either_bit = o.vtl_exec_bits == "either";
  hv::Partition& root = vmm.hv().create_root(pc);
  const bool prefixed = !o.children.empty();

  // Children first: the parent's command line names each child's partition id and entry point.
  std::string cmdline = o.cmdline;
  for (std::size_t i = 0; i < child_images.size(); ++i) {
    hv::PartitionConfig cc;
    cc.vp_count = o.child_vps;
    cc.privileges = {hv::default_privileges().raw & ~parent_only};
    hv::Partition& child = vmm.hv().create_child(root, cc);
    machine::MachineConfig mc;
    mc.mem_bytes = *child_mem;
    mc.boot = false;
    mc.console_prefix = fmt::format("[P{}] ", child.id());
    mc.image_name = o.children[i];
    auto m = machine::Machine::create(vmm, child, child_images[i], mc);
    if (!m) return error(fmt::format("{}: {}", o.children[i], m.error()));
    cmdline +=
        fmt::format("{}hvk.child={},{:#x}", cmdline.empty() ? "" : " ", child.id(), (*m)->entry());
    vmm.add(std::move(*m));
  }

  machine::MachineConfig mc;
  mc.mem_bytes = *mem;
  mc.cmdline = cmdline;
  if (prefixed) mc.console_prefix = fmt::format("[P{}] ", root.id());
  mc.initrd = initrd;
  mc.initrd_name = o.initrd;
  mc.image_name = o.image;
  mc.hyperv_testdev = o.hyperv_testdev;
  mc.trace_starts = o.trace_starts;
  mc.bzimage = o.bzimage == "unpack" ? machine::BzImageMode::kUnpack : machine::BzImageMode::kBoot;
  std::unique_ptr<gdb::Server> gdb_server;
  if (!o.gdb.empty()) {
    gdb_server = gdb::Server::listen(o.gdb, why);
    if (!gdb_server) return error(why);
    mc.gdb = true;
    mc.gdb_hold = o.gdb_wait;
  }
  auto m = machine::Machine::create(vmm, root, *image, mc);
  if (!m) return error(fmt::format("{}: {}", o.image, m.error()));
  gdb::Target* debug_target = (*m)->debug_target();
  // A terminal on stdin types into the root partition's COM1, raw: every key goes to the guest
  // but the escapes (cli/console_escape.h); the terminal's modes come back however hvk ends.
  std::optional<RawTerminal> terminal;
  std::optional<ConsoleEscape> escape;
  if (isatty(STDIN_FILENO)) {
    terminal.emplace(STDIN_FILENO);
    vmm.console().set_immediate(true);
    escape.emplace([&vmm] { vmm.end(0, "ended from the console (Ctrl-A x)"); },
                   [] { (void)!::write(STDERR_FILENO, kEscapeHelp.data(), kEscapeHelp.size()); });
    (*m)->attach_input(STDIN_FILENO,
                       [&escape](std::span<std::uint8_t> bytes) { return escape->filter(bytes); });
  }
  vmm.add(std::move(*m));
  // Everything is set up: from here on hvk only runs the VPs (and whatever partitions they
  // create), so the sandbox goes on before the first VP thread starts.
  SandboxOptions sandbox = sandbox_options_from_env();
  sandbox.gdb_server = gdb_server != nullptr;
  if (o.sandbox && !install_sandbox(sandbox, why)) return error(why);
  if (gdb_server) {
    std::fprintf(stderr, "hvk: gdb server on %s%s\n", gdb_server->address().c_str(),
                 o.gdb_wait ? " (every VP waits for gdb)" : "");
    gdb_server->start(*debug_target);
  }
  vmm.start();
  const int status = vmm.wait(o.timeout);
  if (gdb_server) gdb_server->finish(status);  // before the machine goes
  return status;
}

namespace {

// Where the partition reference time comes from on this host (conformance M-9, M-12).
void print_reference_time(const kvm::Kvm& kvm) {
  auto vm = kvm.create_vm();
  auto vcpu = vm ? vm->create_vcpu(0) : kvm::Result<kvm::Vcpu>(vm.error());
  auto khz = vcpu ? vcpu->tsc_khz() : kvm::Result<std::uint32_t>(vcpu.error());
  if (!khz || *khz == 0) {
    fmt::print("reference time: the host's steady clock (KVM tells no TSC frequency: {}); "
               "reference TSC page not offered\n",
               khz ? "0 kHz" : khz.error().message());
    return;
  }
  auto clock = machine::GuestTscClock::calibrate(
      *vcpu, hv::reference_tsc_page(std::uint64_t{*khz} * 1000));
  if (!clock) {
    fmt::print("reference time: cannot read the guest's TSC: {}\n", clock.error().message());
  } else if (clock->reads_guest_tsc()) {
    fmt::print("reference time: the guest's TSC at {} kHz; reference TSC page offered\n", *khz);
  } else {
    fmt::print("reference time: the host's steady clock; reference TSC page not offered "
               "(KVM stops the guest's TSC between runs here: an unstable host TSC)\n");
  }
}

}  // namespace

int info() {
  std::string why;
  auto kvm = open_kvm(why);
  if (!kvm) return error(why);
  fmt::print("KVM: /dev/kvm usable, API 12\n");
  fmt::print("max VPs per partition: {}\n", kvm->max_vcpus());
  hv::Hypervisor hv;
  hv::PartitionConfig pc;
  pc.vp_count = 1;
  pc.privileges = hv::default_privileges();
  const hv::Partition& p = hv.create_root(pc);
  fmt::print("Hyper-V CPUID leaves presented to a 1-VP partition:\n");
  for (const hv::CpuidLeaf& l : hv::hyperv_cpuid_leaves(p)) {
    fmt::print("  {:#010x}: eax={:#010x} ebx={:#010x} ecx={:#010x} edx={:#010x}\n", l.function,
               l.eax, l.ebx, l.ecx, l.edx);
  }
  fmt::print("privilege mask: {:#018x}\n", p.privileges().raw);
  print_reference_time(*kvm);
  return 0;
}

}  // namespace hvk::cli
