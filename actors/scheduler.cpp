#include "actors/scheduler.hpp"

#include <chrono>

namespace fedq::actors {

namespace {

struct scheduler_state {
  std::unique_ptr<scheduling::policy> policy;
};

scheduler_actor::behavior_type scheduler_behavior(
  scheduler_actor::stateful_pointer<scheduler_state> self, scheduling::policy_options opts,
  scheduling::policy_context ctx, std::vector<scheduling::plan_input> replay) {
  self->state.policy = scheduling::make_policy(opts, std::move(ctx));
  for (const auto& in : replay)
    self->state.policy->plan(in);
  return {
    [=](plan_atom, const scheduling::plan_input& in) {
      auto t0 = std::chrono::steady_clock::now();
      auto plan = self->state.policy->plan(in);
      plan.decision_us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
      return plan;
    },
  };
}

} // namespace

scheduler_actor spawn_scheduler(caf::actor_system& sys, scheduling::policy_options opts,
                                scheduling::policy_context ctx,
                                std::vector<scheduling::plan_input> replay) {
  return sys.spawn(scheduler_behavior, std::move(opts), std::move(ctx), std::move(replay));
}

} // namespace fedq::actors
