#pragma once
// A synthetic client population for benchmarks and tests of the schedulers:
// N clients over the three default tiers, each with its own real speed, and
// what each "did" under a plan fed back as telemetry. No actors, no model.

#include <cstdint>
#include <vector>

#include "scheduling/policy.hpp"

namespace fedq::scheduling {

struct scenario {
  policy_context ctx;
  plan_input in;
  std::vector<double> speed;  ///< observed / nominal time
};

/// N clients over the three default tiers (a third each); every client's
/// real speed and bandwidth differ from its tier's by a seeded factor in
/// [0.5, 2]; the fast tier's memory caps fp32 below r_max.
scenario make_scenario(uint32_t n, uint64_t seed);

/// Feeds back what each client "did" under `plan` (its speed factor times
/// the model) as telemetry, and the round's feedback.
void report(scenario& s, const round_plan& plan, uint32_t round);

} // namespace fedq::scheduling
