#include "scheduling/population.hpp"

#include <random>

#include "scheduling/cost_model.hpp"

namespace fedq::scheduling {

scenario make_scenario(uint32_t n, uint64_t seed) {
  scenario s;
  s.ctx.tiers = default_tiers(n - 2 * (n / 3), n / 3, n / 3);
  s.ctx.memory.base_mb = {{"fp32", 9000}, {"bf16", 5000}, {"int8", 3000}, {"nf4", 2000}};
  s.ctx.memory.per_rank_mb = 400;
  s.ctx.tiers[0].memory_gb = 12; // fast GPUs run out of memory before r_max in fp32
  s.in.tokens_per_step = 1024;
  s.in.bytes_fixed = 2000;
  s.in.bytes_per_rank = 65536;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> f(0.5, 2.0);
  for (uint32_t id = 0; id < n; ++id) {
    uint32_t tier = id < s.ctx.tiers[0].count ? 0 : id < s.ctx.tiers[0].count + s.ctx.tiers[1].count ? 1 : 2;
    s.in.clients.push_back({id, tier, 100, false, {}});
    s.speed.push_back(f(rng));
  }
  return s;
}

void report(scenario& s, const round_plan& plan, uint32_t round) {
  for (const auto& a : plan.clients) {
    auto& v = s.in.clients[a.client];
    auto w = work_for(s.in, a.rank, a.steps, a.bits);
    const auto& tier = s.ctx.tiers[v.tier];
    v.has_telemetry = true;
    v.last.round = round;
    v.last.rank = v.last.trained_rank = a.rank;
    v.last.steps = a.steps;
    v.last.tokens_per_step = s.in.tokens_per_step;
    v.last.bytes_down = w.bytes_down;
    v.last.bytes_up = w.bytes_up;
    v.last.bits = a.bits;
    v.last.compute_s = s.speed[a.client] * compute_seconds(s.ctx.cost, tier, w);
    v.last.transfer_s = 2 * tier.latency_s + s.speed[a.client] * data_seconds(tier, w);
    v.last.duration_s = v.last.compute_s + v.last.transfer_s;
  }
  s.in.feedback = {true, round, plan.deadline_s, 0.7, 8, 1.0 - 0.01 * round, 1.0 - 0.01 * (round - 1),
                   true, 1.0 - 0.01 * round, 1.0 - 0.01 * (round - 1), 1.0 - 0.008 * round};
}

} // namespace fedq::scheduling
