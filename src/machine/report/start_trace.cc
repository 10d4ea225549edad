#include "machine/report/start_trace.h"

#include <fmt/format.h>

namespace hvk::machine {

std::string format_start_trace(tlfs::VpIndex vp, const StartTrace& t,
                               std::optional<std::int64_t> tsc_offset) {
  return fmt::format(
      "hvk: start-trace vp={} exit={} request={} woke={} loaded={} run={} tsc_offset={}", vp,
      t.exit, t.request, t.woke, t.loaded, t.run,
      tsc_offset ? fmt::format("{}", *tsc_offset) : std::string("unknown"));
}

}  // namespace hvk::machine
