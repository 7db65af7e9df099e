// The advisor's choice among computed alternatives (private to plan): which one the priority
// picks, and the reasoning and notes in words.
#pragma once

#include "bitsmith/plan/advise.h"

namespace bitsmith::plan {

// Sets advice->recommended, reasoning and notes from its alternatives and request.
void choose(Advice* advice);

}  // namespace bitsmith::plan
