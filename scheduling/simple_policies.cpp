// The simple policies: one rank for all (fixed), the percentile deadline
// (deadline-aware) and per-tier ranks with self-pruning (hetlora).
#include <algorithm>
#include <cmath>

#include "scheduling/policies.hpp"

namespace fedq::scheduling {

namespace {

/// Plans every client at the rank `want(c)` asks for, cut to its memory cap,
/// with the deadline `deadline_s`. Clients with no rank that fits are skipped.
template <class Want>
round_plan plan_each(const policy_options& o, duration_estimator& est, const plan_input& in,
                     double deadline_s, Want&& want) {
  round_plan p{in.round, deadline_s, {}, 0, {}};
  for (const auto& c : in.clients) {
    est.observe(c);
    uint32_t cap = memory_cap_rank(est.context(), c, o.bits, o.r_min, o.r_max);
    if (cap == 0) {
      p.skipped.push_back(c.id);
      continue;
    }
    uint32_t rank = std::min(want(c), cap);
    double t = est.predict(c, work_for(in, rank, o.local_steps, o.bits));
    p.clients.push_back({c.id, rank, o.local_steps, t, o.bits});
  }
  return p;
}

class fixed_policy : public policy {
public:
  fixed_policy(policy_options o, policy_context ctx) : o_(std::move(o)), est_(std::move(ctx), o_.ewma) {}
  round_plan plan(const plan_input& in) override {
    return plan_each(o_, est_, in, o_.deadline_s, [&](const client_view&) { return o_.rank; });
  }

private:
  policy_options o_;
  duration_estimator est_;
};

/// Deadline = the configured percentile of the clients' predicted times at
/// r_max; each client then gets the largest rank predicted to finish by the
/// deadline (r_min if none does: it will arrive late and be merged then).
class deadline_aware_policy : public policy {
public:
  deadline_aware_policy(policy_options o, policy_context ctx)
    : o_(std::move(o)), est_(std::move(ctx), o_.ewma) {}

  round_plan plan(const plan_input& in) override {
    std::vector<double> at_max;
    for (const auto& c : in.clients) {
      est_.observe(c);
      at_max.push_back(est_.predict(c, work_for(in, o_.r_max, o_.local_steps, o_.bits)));
    }
    double deadline = 0;
    if (!at_max.empty()) {
      std::sort(at_max.begin(), at_max.end());
      auto n = at_max.size();
      auto idx = static_cast<size_t>(std::ceil(o_.percentile * n));
      deadline = at_max[std::clamp<size_t>(idx, 1, n) - 1];
    }
    return plan_each(o_, est_, in, deadline, [&](const client_view& c) {
      // Predicted time grows with rank: walk down from r_max to the first fit.
      for (uint32_t r = o_.r_max; r > o_.r_min; --r)
        if (est_.predict(c, work_for(in, r, o_.local_steps, o_.bits)) <= deadline)
          return r;
      return o_.r_min;
    });
  }

private:
  policy_options o_;
  duration_estimator est_;
};

/// HetLoRA: each tier has its rank (r_max * compute_factor unless configured);
/// a client that self-pruned keeps its smaller rank from then on.
class hetlora_policy : public policy {
public:
  hetlora_policy(policy_options o, policy_context ctx)
    : o_(std::move(o)), est_(std::move(ctx), o_.ewma) {
    const auto& tiers = est_.context().tiers;
    for (size_t t = 0; t < tiers.size(); ++t) {
      double r = t < o_.tier_ranks.size() ? o_.tier_ranks[t] : std::round(o_.r_max * tiers[t].compute_factor);
      tier_rank_.push_back(static_cast<uint32_t>(std::clamp<double>(r, o_.r_min, o_.r_max)));
    }
  }

  round_plan plan(const plan_input& in) override {
    return plan_each(o_, est_, in, o_.deadline_s, [&](const client_view& c) {
      uint32_t r = tier_rank_.at(c.tier);
      if (c.has_telemetry && c.last.rank > 0)
        r = std::min(r, std::max(o_.r_min, c.last.rank)); // pruned ranks stay pruned
      return r;
    });
  }

private:
  policy_options o_;
  duration_estimator est_;
  std::vector<uint32_t> tier_rank_;
};

} // namespace

std::unique_ptr<policy> make_fixed_policy(const policy_options& o, policy_context ctx) {
  return std::make_unique<fixed_policy>(o, std::move(ctx));
}
std::unique_ptr<policy> make_deadline_aware_policy(const policy_options& o, policy_context ctx) {
  return std::make_unique<deadline_aware_policy>(o, std::move(ctx));
}
std::unique_ptr<policy> make_hetlora_policy(const policy_options& o, policy_context ctx) {
  return std::make_unique<hetlora_policy>(o, std::move(ctx));
}

} // namespace fedq::scheduling
