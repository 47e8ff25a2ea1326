#pragma once

#include "actors/messages.hpp"

namespace fedq::actors {

/// Wraps a scheduling policy; times each decision.
scheduler_actor spawn_scheduler(caf::actor_system& sys, scheduling::policy_options opts,
                                scheduling::policy_context ctx);

} // namespace fedq::actors
