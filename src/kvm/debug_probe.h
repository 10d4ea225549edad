// Whether this KVM delivers data breakpoints (a debug register watching a write) to user space as
// KVM_EXIT_DEBUG. Hardware KVM does; some nested KVMs do not (this project's PVM host fires
// execute breakpoints but never data ones, notes §9), and a debugger must then watch memory
// another way (machine/debug/).
#pragma once

#include "kvm/kvm.h"
#include "kvm/result.h"

namespace hvk::kvm {

// Runs a scratch VM for two real-mode instructions, a byte write under a write watch on DR0 and
// then hlt: true if KVM stopped at the write.
Result<bool> data_breakpoints_work(const Kvm& kvm);

}  // namespace hvk::kvm
