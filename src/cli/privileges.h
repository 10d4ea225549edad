// Parsing --privileges: a number (0x...), or comma-separated names applied to the default mask:
// "Name" or "+Name" adds, "-Name" removes, "none" clears, "default" restores the default.
#pragma once

#include <optional>
#include <string>

#include "hvk/tlfs/privileges.h"

namespace hvk::cli {

// nullopt (and `why` set to one line) for an unknown name or a malformed number.
std::optional<tlfs::PrivilegeMask> parse_privileges(const std::string& text, std::string& why);

}  // namespace hvk::cli
