// FAH-QLoRA's two-stage rank scheduler (brief, section 3): warm-up profiling
// of each client's alpha_n and t_lora,n; stage 1 is sign-gradient ascent of
// the mean rank on the loss decrease rate, against a counterfactual at
// r_bar - 1 that the clients measure on their own trained adapters; stage 2
// solves P1 (IPOPT, or exactly by water-filling) and rounds.
#include <algorithm>
#include <cmath>
#include <map>

#include "scheduling/p1.hpp"
#include "scheduling/policies.hpp"

namespace fedq::scheduling {

namespace {

class fah_policy : public policy {
public:
  fah_policy(policy_options o, policy_context ctx, bool ipopt)
    : o_(std::move(o)), ctx_(std::move(ctx)), ipopt_(ipopt),
      r_bar_(std::clamp<double>(o_.r_init, o_.r_min, o_.r_max)) {}

  round_plan plan(const plan_input& in) override {
    round_plan p{in.round, 0, {}, 0, {}};
    std::vector<const client_view*> used;
    p1_problem prob;
    prob.r_min = o_.r_min;
    for (const auto& c : in.clients) {
      observe(c);
      uint32_t cap = memory_cap_rank(ctx_, c, o_.bits, o_.r_min, o_.r_max);
      if (cap == 0) {
        p.skipped.push_back(c.id);
        continue;
      }
      auto [a, b] = coefficients(c, in);
      prob.a.push_back(a);
      prob.b.push_back(b);
      prob.cap.push_back(cap);
      used.push_back(&c);
    }
    uint32_t k = plans_++;
    if (used.empty())
      return p;
    std::vector<uint32_t> ranks;
    if (k < 2) { // warm-up: profile every client at r_max, then at r_min
      for (double cap : prob.cap)
        ranks.push_back(k == 0 ? static_cast<uint32_t>(cap) : o_.r_min);
    } else {
      const auto& f = in.feedback;
      if (f.valid && f.round >= 2 && f.has_client_loss)
        stage1(prob, f);
      prob.total = std::round(r_bar_ * used.size());
      auto s = solve(prob);
      ranks = round_ranks(prob, s.ranks);
    }
    for (size_t i = 0; i < used.size(); ++i)
      p.clients.push_back({used[i]->id, ranks[i], o_.local_steps,
                           prob.a[i] + prob.b[i] * ranks[i], o_.bits});
    p.deadline_s = p1_round_time(prob, ranks);
    return p;
  }

private:
  p1_solution solve(const p1_problem& prob) const {
    return ipopt_ ? solve_p1_ipopt(prob) : solve_p1_waterfill(prob);
  }

  /// Stage 1: R = (F_prev - F) / T at r_bar and R^ = (F_prev - F^) / T^ at
  /// r^ = max(r_min, r_bar - 1), both T from the time model (P1's optimum
  /// with the sum of ranks at N r_bar and N r^), F and F^ the clients'
  /// losses. Sign-gradient ascent: s = sign((R^ - R) / (r_bar - r^)) =
  /// sign(R^ - R); s > 0 (the lower rank decreases the loss faster per
  /// second) lowers r_bar by rank_step, s < 0 raises it. At r_min, r^ = r_bar
  /// and r_bar stays.
  void stage1(p1_problem prob, const round_feedback& f) {
    double r_hat = std::max<double>(o_.r_min, r_bar_ - 1);
    if (r_hat >= r_bar_)
      return;
    prob.total = std::round(r_bar_ * prob.a.size());
    double t = solve(prob).round_s;
    prob.total = std::round(r_hat * prob.a.size());
    double t_hat = solve(prob).round_s;
    if (!(t > 0) || !(t_hat > 0))
      return;
    double rate = (f.client_loss_prev - f.client_loss) / t;
    double rate_hat = (f.client_loss_prev - f.client_loss_cf) / t_hat;
    if (rate_hat > rate)
      r_bar_ -= o_.rank_step;
    else if (rate_hat < rate)
      r_bar_ += o_.rank_step;
    r_bar_ = std::clamp<double>(r_bar_, o_.r_min, o_.r_max);
  }

  void observe(const client_view& c) {
    if (!c.has_telemetry || c.last.compute_s <= 0)
      return;
    auto& pr = profile_[c.id];
    uint32_t r = c.last.trained_rank ? c.last.trained_rank : c.last.rank;
    pr[r] = c.last.compute_s;
  }

  /// P1's A_n and B_n: compute alpha_n + (r / r_max) t_lora,n from the
  /// profile (two ranks: a line through them; one: the tier's shape scaled
  /// to it; none: the tier's nominal model), plus payload time.
  std::pair<double, double> coefficients(const client_view& c, const plan_input& in) const {
    const auto& tier = ctx_.tiers.at(c.tier);
    auto compute_at = [&](uint32_t r) {
      return compute_seconds(ctx_.cost, tier, work_for(in, r, o_.local_steps, o_.bits));
    };
    double alpha = compute_at(0), t_lora = compute_at(o_.r_max) - alpha;
    auto it = profile_.find(c.id);
    if (it != profile_.end() && it->second.size() >= 2) {
      auto [r1, c1] = *it->second.begin();
      auto [r2, c2] = *it->second.rbegin();
      double slope = (c2 - c1) / (double(r2) - double(r1));
      alpha = c1 - slope * r1;
      t_lora = slope * o_.r_max;
    } else if (it != profile_.end() && it->second.size() == 1) {
      auto [r1, c1] = *it->second.begin();
      double scale = c1 / compute_at(r1);
      alpha *= scale;
      t_lora *= scale;
    }
    alpha = std::max(alpha, 0.0);
    t_lora = std::max(t_lora, 1e-9);
    double per_bit_s = 1.0 / (tier.down_mbps * 1e6) + 1.0 / (tier.up_mbps * 1e6);
    double a = alpha + 2 * tier.latency_s + 8.0 * in.bytes_fixed * per_bit_s;
    double b = t_lora / o_.r_max + 8.0 * in.bytes_per_rank * per_bit_s;
    return {a, std::max(b, 1e-12)};
  }

  policy_options o_;
  policy_context ctx_;
  bool ipopt_;
  double r_bar_;
  uint32_t plans_ = 0;
  std::map<uint32_t, std::map<uint32_t, double>> profile_;  // client -> rank -> compute seconds
};

} // namespace

std::unique_ptr<policy> make_fah_policy(const policy_options& o, policy_context ctx, bool ipopt) {
  return std::make_unique<fah_policy>(o, std::move(ctx), ipopt);
}

} // namespace fedq::scheduling
