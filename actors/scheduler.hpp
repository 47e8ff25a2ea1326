#pragma once

#include "actors/messages.hpp"

namespace fedq::actors {

/// Wraps a scheduling policy; times each decision.
scheduler_actor spawn_scheduler(caf::actor_system& sys, scheduling::policy_options opts,
                                std::vector<scheduling::tier_profile> tiers,
                                scheduling::cost_options cost);

} // namespace fedq::actors
