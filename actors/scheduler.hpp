#pragma once

#include "actors/messages.hpp"

namespace fedq::actors {

/// Wraps a scheduling policy; times each decision. The policy first plans
/// every input of `replay`, in order, with the plans thrown away: a resumed
/// run's policy so learns what it had learnt (policies are deterministic).
scheduler_actor spawn_scheduler(caf::actor_system& sys, scheduling::policy_options opts,
                                scheduling::policy_context ctx,
                                std::vector<scheduling::plan_input> replay = {});

} // namespace fedq::actors
