#include "scheduling/policy.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace fedq::scheduling {

work_item work_for(const plan_input& in, uint32_t rank, uint32_t steps) {
  uint64_t bytes = in.bytes_fixed + in.bytes_per_rank * rank;
  return work_item{rank, steps, in.tokens_per_step, bytes, bytes};
}

duration_estimator::duration_estimator(std::vector<tier_profile> tiers, cost_options cost,
                                       double ewma)
  : tiers_(std::move(tiers)), cost_(cost), ewma_(ewma) {}

void duration_estimator::observe(const client_view& c) {
  if (!c.has_telemetry)
    return;
  auto& s = per_client_[c.id];
  if (s.seen && c.last.round <= s.last_round)
    return; // already learnt from this report
  work_item w{c.last.rank, c.last.steps, c.last.tokens_per_step, c.last.bytes_down, c.last.bytes_up};
  double nominal = nominal_seconds(cost_, tiers_.at(c.tier), w);
  if (nominal <= 0 || c.last.duration_s <= 0)
    return;
  double ratio = c.last.duration_s / nominal;
  s.ratio = s.seen ? (1 - ewma_) * s.ratio + ewma_ * ratio : ratio;
  s.seen = true;
  s.last_round = c.last.round;
}

double duration_estimator::predict(const client_view& c, const work_item& w) const {
  auto it = per_client_.find(c.id);
  double ratio = it == per_client_.end() ? 1.0 : it->second.ratio;
  return ratio * nominal_seconds(cost_, tiers_.at(c.tier), w);
}

namespace {

class fixed_policy : public policy {
public:
  fixed_policy(policy_options o, std::vector<tier_profile> tiers, cost_options cost)
    : opts_(std::move(o)), estimator_(std::move(tiers), cost, opts_.ewma) {}

  round_plan plan(const plan_input& in) override {
    round_plan p{in.round, opts_.deadline_s, {}};
    for (const auto& c : in.clients) {
      estimator_.observe(c);
      double t = estimator_.predict(c, work_for(in, opts_.rank, opts_.local_steps));
      p.clients.push_back({c.id, opts_.rank, opts_.local_steps, t});
    }
    return p;
  }

private:
  policy_options opts_;
  duration_estimator estimator_;
};

/// Deadline = the configured percentile of the clients' predicted times at
/// r_max; each client then gets the largest rank predicted to finish by the
/// deadline (r_min if none does: it will arrive late and be merged then).
class deadline_aware_policy : public policy {
public:
  deadline_aware_policy(policy_options o, std::vector<tier_profile> tiers, cost_options cost)
    : opts_(std::move(o)), estimator_(std::move(tiers), cost, opts_.ewma) {}

  round_plan plan(const plan_input& in) override {
    round_plan p{in.round, 0.0, {}};
    if (in.clients.empty())
      return p;
    std::vector<double> at_max;
    for (const auto& c : in.clients) {
      estimator_.observe(c);
      at_max.push_back(estimator_.predict(c, work_for(in, opts_.r_max, opts_.local_steps)));
    }
    std::sort(at_max.begin(), at_max.end());
    auto n = at_max.size();
    auto idx = static_cast<size_t>(std::ceil(opts_.percentile * n));
    p.deadline_s = at_max[std::clamp<size_t>(idx, 1, n) - 1];
    for (const auto& c : in.clients) {
      uint32_t rank = opts_.r_min;
      // Predicted time grows with rank: walk down from r_max to the first fit.
      for (uint32_t r = opts_.r_max; r >= opts_.r_min && r > 0; --r) {
        if (estimator_.predict(c, work_for(in, r, opts_.local_steps)) <= p.deadline_s) {
          rank = r;
          break;
        }
      }
      double t = estimator_.predict(c, work_for(in, rank, opts_.local_steps));
      p.clients.push_back({c.id, rank, opts_.local_steps, t});
    }
    return p;
  }

private:
  policy_options opts_;
  duration_estimator estimator_;
};

} // namespace

const std::vector<std::string>& policy_names() {
  static const std::vector<std::string> names{"fixed", "deadline-aware"};
  return names;
}

std::unique_ptr<policy> make_policy(const policy_options& opts, std::vector<tier_profile> tiers,
                                    cost_options cost) {
  if (opts.name == "fixed")
    return std::make_unique<fixed_policy>(opts, std::move(tiers), cost);
  if (opts.name == "deadline-aware")
    return std::make_unique<deadline_aware_policy>(opts, std::move(tiers), cost);
  throw std::invalid_argument("unknown scheduler policy '" + opts.name +
                              "' (known: fixed, deadline-aware)");
}

} // namespace fedq::scheduling
