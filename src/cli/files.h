// The files hvk reads (guest images) and writes (`hvk bench --json`): every failure is one line,
// and an output file is either written whole or left as it was.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace hvk::cli {

// The most hvk reads of one image: no guest has more RAM (src/machine: at most 3 GiB).
inline constexpr std::uint64_t kMaxImageBytes = 3ull << 30;

// The whole of a file, or nullopt with `why` set to one line (cannot open, cannot read, a
// directory, larger than `max_bytes`).
std::optional<std::vector<std::byte>> read_file(const std::string& path, std::string& why,
                                                std::uint64_t max_bytes = kMaxImageBytes);

// Writes `bytes` as the whole of `path`. A regular file (or a path that does not exist yet) is
// written to a new temporary file in the same directory, flushed to disk and renamed into place,
// so a failure (a full disk, say) leaves the old file, or none, and no temporary. Anything else
// that exists (a device such as /dev/full or /dev/stdout, a FIFO) is written directly. False,
// with `why` set to one line, on any failure.
bool write_file(const std::string& path, std::span<const std::byte> bytes, std::string& why);

}  // namespace hvk::cli
