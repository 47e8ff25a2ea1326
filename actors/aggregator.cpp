#include "actors/aggregator.hpp"

#include <algorithm>

#include "compute/aggregation.hpp"
#include "compute/flexlora.hpp"
#include "serialization/adapter_payload.hpp"

namespace fedq::actors {

late_result merge_late(const compute::staleness_options& o, const late_request& req,
                       aggregation_rule rule) {
  late_result r;
  r.staleness = req.version - std::min(req.version, req.update.base_version);
  auto d = compute::judge_late(o, r.staleness);
  if (!d.accept) {
    r.reason = d.reason;
    return r;
  }
  auto global = serialization::decode(req.global);
  auto update = serialization::decode(req.update.adapter);
  if (req.delta) {
    if (rule != aggregation_rule::fedavg)
      throw std::invalid_argument("a late change needs the fedavg rule");
    if (!(req.share > 0 && req.share <= 1))
      throw std::invalid_argument("a late change's data share must lie in (0, 1]");
    d.weight = compute::staleness_scale(o, r.staleness) * req.share;
    compute::buffered_step(global, {update}, {serialization::decode(req.base)}, {d.weight});
  } else if (rule == aggregation_rule::flexlora)
    compute::flexlora_mix(global, update, d.weight);
  else
    compute::mix(global, update, d.weight);
  r.merged = true;
  r.weight = d.weight;
  r.global = serialization::encode(global);
  return r;
}

compute::adapter_payload apply_buffer(const compute::staleness_options& o,
                                      compute::server_optimizer& opt, const buffer_request& req) {
  if (req.updates.empty())
    throw std::invalid_argument("an empty buffer");
  std::vector<compute::adapter_payload> updates, bases;
  std::vector<double> weights;
  for (size_t k = 0; k < req.updates.size(); ++k) {
    const auto& u = req.updates[k];
    updates.push_back(serialization::decode(u.adapter));
    bases.push_back(serialization::decode(req.bases.at(k)));
    uint64_t tau = req.version - std::min(req.version, u.base_version);
    weights.push_back(compute::staleness_scale(o, tau) / std::max<size_t>(req.size, req.updates.size()));
  }
  auto global = serialization::decode(req.global);
  auto next = global;
  compute::buffered_step(next, updates, bases, weights);
  opt.apply(global, next);
  return next;
}

namespace {

struct aggregator_state {
  std::unique_ptr<compute::server_optimizer> opt;
};

aggregator_actor::behavior_type aggregator_behavior(aggregator_actor::stateful_pointer<aggregator_state> self,
                                                    aggregator_options o, std::vector<double> state) {
  self->state.opt = std::make_unique<compute::server_optimizer>(o.server_opt);
  self->state.opt->restore(state);
  return {
    [=](aggregate_atom, const aggregate_request& req) -> caf::result<aggregate_result> {
      auto& opt = *self->state.opt;
      try {
        std::vector<compute::adapter_payload> updates;
        std::vector<double> weights;
        for (const auto& u : req.updates) {
          updates.push_back(serialization::decode(u.adapter));
          weights.push_back(o.by == weighting::norm ? compute::lora_norm(updates.back()) : u.samples);
        }
        auto base = serialization::decode(req.base);
        bool merged_since = req.base != req.current;  // late merges landed while the round was open
        if (o.rule == aggregation_rule::flexlora) {  // no server optimizer (refused at config time)
          auto current = merged_since ? serialization::decode(req.current) : base;
          return aggregate_result{
            serialization::encode(compute::flexlora_average(base, updates, weights,
                                                            merged_since ? &current : nullptr)),
            opt.state()};
        }
        auto next = compute::weighted_average(base, updates, weights);
        opt.apply(base, next);
        if (merged_since)  // keep them
          compute::carry_over(next, base, serialization::decode(req.current));
        return aggregate_result{serialization::encode(next), opt.state()};
      } catch (const std::exception& e) {
        return caf::make_error(caf::sec::invalid_argument,
                               "aggregation of round " + std::to_string(req.round) + ": " +
                                 e.what());
      }
    },
    [=](buffer_atom, const buffer_request& req) -> caf::result<aggregate_result> {
      auto& opt = *self->state.opt;
      try {
        auto next = apply_buffer(o.staleness, opt, req);
        return aggregate_result{serialization::encode(next), opt.state()};
      } catch (const std::exception& e) {
        return caf::make_error(caf::sec::invalid_argument,
                               std::string("buffered aggregation: ") + e.what());
      }
    },
    [=](late_atom, const late_request& req) -> caf::result<late_result> {
      try {
        return merge_late(o.staleness, req, o.rule);
      } catch (const std::exception& e) {
        late_result r;
        r.reason = std::string("malformed late update: ") + e.what();
        return r;
      }
    },
  };
}

} // namespace

aggregator_actor spawn_aggregator(caf::actor_system& sys, aggregator_options o,
                                  std::vector<double> state) {
  return sys.spawn(aggregator_behavior, std::move(o), std::move(state));
}

} // namespace fedq::actors
