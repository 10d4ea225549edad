// The general registers of HvCallGetVpRegisters / HvCallSetVpRegisters: each is a field of
// HV_INITIAL_VP_CONTEXT, packed into an HV_REGISTER_VALUE as the TLFS lays it out.
#pragma once

#include <optional>

#include "hvk/tlfs/inputs.h"
#include "hvk/tlfs/registers.h"
#include "hvk/tlfs/vp_context.h"

namespace hvk::hv {

bool is_general_register(tlfs::RegisterName name);
// The value of `name` in `c` (nullopt: not a general register).
std::optional<tlfs::RegisterValue> read_register(const tlfs::InitialVpContext& c,
                                                 tlfs::RegisterName name);
// Writes `value` into `c`; false when `name` is not a general register.
bool write_register(tlfs::InitialVpContext& c, tlfs::RegisterName name,
                    const tlfs::RegisterValue& value);

}  // namespace hvk::hv
