#include "actors/aggregator.hpp"

#include "compute/aggregation.hpp"
#include "serialization/adapter_payload.hpp"

namespace fedq::actors {

late_result merge_late(const compute::staleness_options& o, const late_request& req) {
  late_result r;
  r.staleness = req.version - std::min(req.version, req.update.base_version);
  auto d = compute::judge_late(o, r.staleness);
  if (!d.accept) {
    r.reason = d.reason;
    return r;
  }
  auto global = serialization::decode(req.global);
  compute::mix(global, serialization::decode(req.update.adapter), d.weight);
  r.merged = true;
  r.weight = d.weight;
  r.global = serialization::encode(global);
  return r;
}

namespace {

struct aggregator_state {
  std::unique_ptr<compute::server_optimizer> opt;
};

aggregator_actor::behavior_type aggregator_behavior(aggregator_actor::stateful_pointer<aggregator_state> self,
                                                    compute::staleness_options o, weighting by,
                                                    compute::server_opt_options server_opt,
                                                    std::vector<double> state) {
  self->state.opt = std::make_unique<compute::server_optimizer>(server_opt);
  self->state.opt->restore(state);
  return {
    [=](aggregate_atom, const aggregate_request& req) -> caf::result<aggregate_result> {
      auto& opt = *self->state.opt;
      try {
        std::vector<compute::adapter_payload> updates;
        std::vector<double> weights;
        for (const auto& u : req.updates) {
          updates.push_back(serialization::decode(u.adapter));
          weights.push_back(by == weighting::norm ? compute::lora_norm(updates.back()) : u.samples);
        }
        auto base = serialization::decode(req.base);
        auto next = compute::weighted_average(base, updates, weights);
        opt.apply(base, next);
        if (req.base != req.current)  // late merges landed while the round was open: keep them
          compute::carry_over(next, base, serialization::decode(req.current));
        return aggregate_result{serialization::encode(next), opt.state()};
      } catch (const std::exception& e) {
        return caf::make_error(caf::sec::invalid_argument,
                               "aggregation of round " + std::to_string(req.round) + ": " +
                                 e.what());
      }
    },
    [=](late_atom, const late_request& req) -> caf::result<late_result> {
      try {
        return merge_late(o, req);
      } catch (const std::exception& e) {
        late_result r;
        r.reason = std::string("malformed late update: ") + e.what();
        return r;
      }
    },
  };
}

} // namespace

aggregator_actor spawn_aggregator(caf::actor_system& sys, compute::staleness_options staleness,
                                  weighting w, compute::server_opt_options opt,
                                  std::vector<double> state) {
  return sys.spawn(aggregator_behavior, staleness, w, opt, std::move(state));
}

} // namespace fedq::actors
