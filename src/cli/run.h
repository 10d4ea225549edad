// `hvk run` and `hvk info`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kvm/kvm.h"

namespace hvk::cli {

struct RunOptions {
  std::string image;
  std::uint32_t vps = 1;
  std::string mem = "256M";
  std::string cmdline;
  bool trace = false;
  double timeout = 0;      // seconds; 0: none
  unsigned vtl = 0;        // the VTL VP 0 boots in (VTLs 0..vtl enabled on the partition)
  std::string privileges;  // empty: the default mask (cli/privileges.h)
  std::vector<std::string> children;  // child partition images
  std::uint32_t child_vps = 1;
  std::string child_mem = "64M";
  std::string initrd;            // initial ramdisk for a Linux kernel, empty: none
  std::string bzimage = "boot";  // a bzImage: "boot" (its decompressor runs) or "unpack" (hvk's)
  std::string vtl_exec_bits = "tlfs";  // tlfs | either (hv::PartitionConfig)
  bool synic = false;           // the SynIC, synthetic timers, PostMessage and SignalEvent
  bool trace_starts = false;  // where each VP start's time goes (machine/report/start_trace.h)
  bool hyperv_testdev = false;  // QEMU's hyperv-testdev (port 0x3000), for kvm-unit-tests
  std::string gdb;              // --gdb [HOST:]PORT: serve gdb there (gdb/server.h); empty: no
  bool gdb_wait = false;        // --gdb-wait: every VP waits for gdb before its first instruction
  bool sandbox = true;  // the seccomp filter once set up (cli/sandbox.h); --no-sandbox: off
};

// Parses "256M", "1G", "4096", "64K" into bytes; nullopt for anything else or an overflow.
std::optional<std::uint64_t> parse_size(const std::string& text);

// /dev/kvm checked for everything hvk needs (`why`: one line naming what is missing), opened.
std::optional<kvm::Kvm> open_kvm(std::string& why);

int run(const RunOptions& options);
int info();

}  // namespace hvk::cli
