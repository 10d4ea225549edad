// The hostile guest's VTL storm (`vtl=1` on the command line; vtl_storm.cc, docs/reliability.md
// "The VTL storm"): VTL 0 on every VP storms pages VTL 1 protects, while VTL 1 changes their
// protections, handles every intercept and checks that not one protected byte changes.
#pragma once

#include "hostile.h"

namespace hostile::vtl_storm {

int run();

}  // namespace hostile::vtl_storm
