// Parsing --privileges: a number (0x...), or comma-separated names applied to `base` (the
// partition's default mask): "Name" or "+Name" adds, "-Name" removes, "none" clears, "default"
// restores `base`.
#pragma once

#include <optional>
#include <string>

#include "hvk/tlfs/privileges.h"

namespace hvk::cli {

// nullopt (and `why` set to one line) for an unknown name, an empty item (a leading, trailing or
// doubled comma), a sign without a name, or a malformed number. An empty text is `base`.
std::optional<tlfs::PrivilegeMask> parse_privileges(const std::string& text, std::string& why,
                                                    tlfs::PrivilegeMask base);
// The same on hv::default_privileges().
std::optional<tlfs::PrivilegeMask> parse_privileges(const std::string& text, std::string& why);

}  // namespace hvk::cli
