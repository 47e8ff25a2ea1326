#include "scheduling/cost_model.hpp"

#include <cmath>

namespace fedq::scheduling {

std::vector<tier_profile> default_tiers(uint32_t fast, uint32_t medium, uint32_t slow) {
  return {
    {"gpu-fast", fast, 1.0, 24.0, 100.0, 200.0, 0.05, 0.1, 2},
    {"gpu-medium", medium, 0.7, 32.0, 50.0, 100.0, 0.05, 0.1, 2},
    {"cpu-slow", slow, 0.15, 64.0, 10.0, 20.0, 0.1, 0.2, 1},
  };
}

double compute_seconds(const cost_options& c, const tier_profile& t, const work_item& w) {
  double per_step = c.step_base_s + c.step_per_rank_s * w.rank;
  double token_scale = static_cast<double>(w.tokens_per_step) / c.ref_tokens;
  return w.steps * per_step * token_scale / t.compute_factor;
}

double transfer_seconds(const tier_profile& t, const work_item& w) {
  auto seconds = [](uint64_t bytes, double mbps) { return bytes * 8.0 / (mbps * 1e6); };
  return 2 * t.latency_s + seconds(w.bytes_down, t.down_mbps) + seconds(w.bytes_up, t.up_mbps);
}

double nominal_seconds(const cost_options& c, const tier_profile& t, const work_item& w) {
  return compute_seconds(c, t, w) + transfer_seconds(t, w);
}

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

double unit_open(uint64_t bits) { // uniform in (0, 1)
  return (static_cast<double>(bits >> 11) + 0.5) / 9007199254740992.0;
}

} // namespace

uint64_t mix_seed(uint64_t seed, uint32_t client, uint32_t round) {
  return splitmix64(seed ^ splitmix64((uint64_t{client} << 32) | round));
}

double jitter_factor(uint64_t seed, uint32_t client, uint32_t round, double sigma) {
  uint64_t h = splitmix64(mix_seed(seed, client, round));
  double u1 = unit_open(h);
  double u2 = unit_open(splitmix64(h));
  double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  return std::exp(sigma * z);
}

} // namespace fedq::scheduling
