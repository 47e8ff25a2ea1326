#include "scheduling/cost_model.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string_view>

namespace fedq::scheduling {

std::vector<tier_profile> default_tiers(uint32_t fast, uint32_t medium, uint32_t slow) {
  auto tier = [](std::string name, uint32_t count, double factor, double memory_gb, double up,
                 double down, double latency_s, double jitter, uint32_t threads) {
    tier_profile t;
    t.name = std::move(name);
    t.count = count;
    t.compute_factor = factor;
    t.memory_gb = memory_gb;
    t.up_mbps = up;
    t.down_mbps = down;
    t.latency_s = latency_s;
    t.jitter = jitter;
    t.threads = threads;
    return t;
  };
  return {tier("gpu-fast", fast, 1.0, 24.0, 100.0, 200.0, 0.05, 0.1, 2),
          tier("gpu-medium", medium, 0.7, 32.0, 50.0, 100.0, 0.05, 0.1, 2),
          tier("cpu-slow", slow, 0.15, 64.0, 10.0, 20.0, 0.1, 0.2, 1)};
}

double bits_factor(const cost_options& c, const std::string& bits) {
  return bits_factor(const_cast<cost_options&>(c), bits);
}

double& bits_factor(cost_options& c, const std::string& bits) {
  std::string_view b = bits;  // (compares the length first: this runs per client per round)
  if (b == "nf4")
    return c.nf4_factor;
  if (b == "int8")
    return c.int8_factor;
  if (b == "bf16")
    return c.bf16_factor;
  if (b == "fp32")
    return c.fp32_factor;
  throw std::invalid_argument("unknown backbone format '" + bits + "' (known: nf4, int8, bf16, fp32)");
}

cost_options fit_cost(const std::vector<step_sample>& samples, uint32_t tokens_per_step,
                      uint32_t ref_tokens, const std::string& ref_bits) {
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& s : samples)
    if (s.bits == ref_bits) {
      n += 1;
      sx += s.rank;
      sy += s.step_s;
      sxx += double(s.rank) * s.rank;
      sxy += s.rank * s.step_s;
    }
  double det = n * sxx - sx * sx;
  if (n < 2 || det <= 0)
    throw std::invalid_argument("fit_cost: the reference format " + ref_bits +
                                " needs samples at two or more ranks");
  double slope = (n * sxy - sx * sy) / det;
  double base = (sy - slope * sx) / n;
  auto line = [&](uint32_t r) { return base + slope * r; };
  cost_options c;
  double scale = static_cast<double>(ref_tokens) / tokens_per_step;
  c.ref_tokens = ref_tokens;
  c.step_base_s = std::max(0.0, base) * scale;
  c.step_per_rank_s = std::max(0.0, slope) * scale;
  for (const char* b : {"nf4", "int8", "bf16", "fp32"}) {
    double sum = 0;
    int k = 0;
    for (const auto& s : samples)
      if (s.bits == b && line(s.rank) > 0) {
        sum += s.step_s / line(s.rank);
        ++k;
      }
    bits_factor(c, b) = k ? sum / k : 1.0;
  }
  return c;
}

double compute_seconds(const cost_options& c, const tier_profile& t, const work_item& w) {
  return compute_seconds(c, t, bits_factor(c, w.bits), w.rank, w.steps, w.tokens_per_step);
}

double data_seconds(const tier_profile& t, const work_item& w) {
  return data_seconds(t, w.bytes_down, w.bytes_up);
}

double transfer_seconds(const tier_profile& t, const work_item& w) {
  return 2 * t.latency_s + data_seconds(t, w);
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

double open01(uint64_t bits) { // uniform in (0, 1)
  return (static_cast<double>(bits >> 11) + 0.5) / 9007199254740992.0;
}

} // namespace

double unit_uniform(uint64_t key) { return open01(splitmix64(key)); }

double unit_normal(uint64_t key) {
  uint64_t h = splitmix64(key);
  double u1 = open01(h);
  double u2 = open01(splitmix64(h));
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

uint64_t mix_seed(uint64_t seed, uint32_t client, uint32_t round) {
  return splitmix64(seed ^ splitmix64((uint64_t{client} << 32) | round));
}

double jitter_factor(uint64_t seed, uint32_t client, uint32_t round, double sigma) {
  return std::exp(sigma * unit_normal(mix_seed(seed, client, round)));
}

} // namespace fedq::scheduling
