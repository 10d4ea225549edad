// Remote TLB flushes between VP threads (HvCallFlushVirtualAddressSpace/List). Only a vCPU's own
// thread may touch it, so a caller posts the VTLs to flush to each target VP, kicks it, and waits
// until the target's thread has flushed them (kvm::Vcpu::flush_guest_tlb) and said so. A caller
// that waits keeps serving the flushes posted to itself: two VPs flushing each other at once do
// not deadlock.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "hvk/tlfs/types.h"

namespace hvk::machine {

class TlbShootdown {
 public:
  explicit TlbShootdown(std::size_t vps);

  // Asks VP `vp` to flush the VTLs of `vtl_mask` (bit v: VTL v). Returns the ticket that
  // wait_served() waits for. The caller then kicks the VP out of KVM_RUN.
  std::uint64_t post(tlfs::VpIndex vp, std::uint32_t vtl_mask);

  // Whether `vp` has flushes to serve (any thread; lock-free).
  bool pending(tlfs::VpIndex vp) const;

  // On VP `vp`'s own thread: runs `flush` with the VTL mask posted since the last serve, then
  // marks every ticket posted until then served. Nothing to do: `flush` is not called.
  void serve(tlfs::VpIndex vp, const std::function<void(std::uint32_t vtl_mask)>& flush);

  // On VP `self`'s thread: waits until `target` has served `ticket`, serving `self`'s own
  // flushes with `serve_self` meanwhile. False if `stop` became true first.
  bool wait_served(tlfs::VpIndex target, std::uint64_t ticket, tlfs::VpIndex self,
                   const std::function<void()>& serve_self, const std::atomic<bool>& stop);

 private:
  // How long a waiter sleeps before it looks at `stop` again.
  static constexpr std::chrono::milliseconds kRecheck{5};
  struct Mailbox {
    std::uint32_t vtls = 0;  // guarded by mu_
    std::atomic<std::uint64_t> posted{0};  // written under mu_
    std::atomic<std::uint64_t> served{0};  // written under mu_
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::unique_ptr<Mailbox[]> boxes_;
  std::size_t count_;
};

}  // namespace hvk::machine
