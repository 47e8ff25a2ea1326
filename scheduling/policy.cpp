#include "scheduling/policy.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "scheduling/policies.hpp"

namespace fedq::scheduling {

work_item work_for(const plan_input& in, uint32_t rank, uint32_t steps, const std::string& bits) {
  uint64_t bytes = in.bytes_fixed + in.bytes_per_rank * rank;
  return work_item{rank, steps, in.tokens_per_step, bytes, bytes, bits};
}

uint32_t memory_cap_rank(const policy_context& ctx, const client_view& c, const std::string& bits,
                         uint32_t r_min, uint32_t r_max) {
  if (ctx.memory.base_mb.empty())
    return r_max; // no memory model: nothing to limit
  return ctx.memory.max_rank(ctx.tiers.at(c.tier).memory_gb * 1024.0, bits, r_min, r_max);
}

void duration_estimator::ratio::add(double x, double w, bool first) {
  if (first) {
    mean = x;
    var = 0.04 * x * x; // a prior of 20 % spread until more is seen
    return;
  }
  double d = x - mean;
  mean += w * d;
  var = (1 - w) * (var + w * d * d);
}

duration_estimator::duration_estimator(policy_context ctx, double ewma)
  : ctx_(std::move(ctx)), ewma_(ewma) {}

void duration_estimator::observe(const client_view& c) {
  if (!c.has_telemetry)
    return;
  if (per_client_.size() <= c.id)
    per_client_.resize(c.id + 1);
  auto& s = per_client_[c.id];
  if (s.seen && c.last.round <= s.last_round)
    return; // already learnt from this report
  const auto& tier = ctx_.tiers.at(c.tier);
  const auto& t = c.last;
  // (nominal_seconds of the work it reported, term for term, without copying it into a work_item)
  uint32_t rank = t.trained_rank ? t.trained_rank : t.rank;
  double comp = compute_seconds(ctx_.cost, tier, bits_factor(ctx_.cost, t.bits), rank, t.steps, t.tokens_per_step);
  double data = data_seconds(tier, t.bytes_down, t.bytes_up);
  double rc, rt;
  if (t.compute_s > 0 || t.transfer_s > 0) {
    rc = comp > 0 ? t.compute_s / comp : 1.0;
    rt = data > 0 ? std::max(0.0, t.transfer_s - 2 * tier.latency_s) / data : 1.0;
  } else { // only the total is known
    double nominal = comp + (2 * tier.latency_s + data);
    if (nominal <= 0 || t.duration_s <= 0)
      return;
    rc = rt = t.duration_s / nominal;
  }
  s.compute.add(rc, ewma_, !s.seen);
  s.transfer.add(rt, ewma_, !s.seen);
  s.seen = true;
  s.last_round = t.round;
}

duration_estimator::speed duration_estimator::speed_of(const client_view& c, double z) const {
  speed v;
  if (c.id < per_client_.size() && per_client_[c.id].seen) {
    const auto& s = per_client_[c.id];
    v.compute = s.compute.mean + z * std::sqrt(s.compute.var);
    v.transfer = s.transfer.mean + z * std::sqrt(s.transfer.var);
  } else if (z > 0) { // nothing seen yet: the prior spread
    v.compute = v.transfer = 1.0 + 0.2 * z;
  }
  return v;
}

double duration_estimator::predict(const client_view& c, const work_item& w, double z) const {
  return predict(ctx_.tiers.at(c.tier), speed_of(c, z), bits_factor(ctx_.cost, w.bits), w.rank, w.steps,
                 w.tokens_per_step, w.bytes_down, w.bytes_up);
}

const std::vector<std::string>& policy_names() {
  static const std::vector<std::string> names{"fixed", "deadline-aware", "hetlora", "fah",
                                              "waterfill", "online"};
  return names;
}

bool needs_local_validation(const std::string& policy) {
  return policy == "fah" || policy == "waterfill";
}

std::unique_ptr<policy> make_policy(const policy_options& opts, policy_context ctx) {
  if (opts.name == "fixed")
    return make_fixed_policy(opts, std::move(ctx));
  if (opts.name == "deadline-aware")
    return make_deadline_aware_policy(opts, std::move(ctx));
  if (opts.name == "hetlora")
    return make_hetlora_policy(opts, std::move(ctx));
  if (opts.name == "fah" || opts.name == "waterfill")
    return make_fah_policy(opts, std::move(ctx), opts.name == "fah");
  if (opts.name == "online")
    return make_online_policy(opts, std::move(ctx));
  std::string known;
  for (const auto& n : policy_names())
    known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown scheduler policy '" + opts.name + "' (known: " + known + ")");
}

} // namespace fedq::scheduling
