// Paying a vCPU's first-entry cost before the guest starts its VP (issue 15). KVM does costly work
// the first time it enters a vCPU (on this nested host about 50 us of a start's 150 us: its MMU
// root, the master clock, the vCPU's first load), and an AP used to pay it inside the start it was
// waiting for. A warm-up enters the fresh AP once with a hardware breakpoint on its reset vector,
// so that it leaves again before its first instruction, and puts it back where KVM keeps an AP
// until INIT-SIPI or StartVirtualProcessor (UNINITIALIZED): guest state and memory are untouched.
#pragma once

#include <optional>

#include "kvm/exit.h"
#include "kvm/result.h"
#include "kvm/vcpu.h"

namespace hvk::machine {

// On the AP's own thread, before its first KVM_RUN; `v` must be an AP's vCPU in KVM's reset state
// (UNINITIALIZED, RIP 0xFFF0, CS base 0xFFFF0000). Returns nullopt when the warm-up is done and the
// vCPU is as it was. If the guest started the AP meanwhile with INIT-SIPI (its SIPI came during
// the entry), returns the exit that entry ended with, for the caller to handle as any other; an
// INIT that arrived without its SIPI yet stays as KVM left it (INIT_RECEIVED).
kvm::Result<std::optional<kvm::Exit>> warm_up_ap(kvm::Vcpu& v);

}  // namespace hvk::machine
