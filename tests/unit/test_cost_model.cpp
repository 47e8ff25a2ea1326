#include <catch2/catch.hpp>

#include "scheduling/cost_model.hpp"

using namespace fedq::scheduling;

TEST_CASE("compute time grows with rank and shrinks with the tier's compute factor") {
  cost_options c{0.04, 0.004, 512};
  auto tiers = default_tiers(1, 1, 1);
  work_item w{8, 10, 512, 0, 0};
  // 10 steps * (0.04 + 8 * 0.004) s at factor 1.0
  CHECK(compute_seconds(c, tiers[0], w) == Approx(0.72));
  CHECK(compute_seconds(c, tiers[2], w) == Approx(0.72 / 0.15));
  work_item w16 = w;
  w16.rank = 16;
  CHECK(compute_seconds(c, tiers[0], w16) > compute_seconds(c, tiers[0], w));
}

TEST_CASE("transfer time is latency plus bytes over bandwidth each way") {
  tier_profile t;
  t.up_mbps = 8;    // 1 MB/s
  t.down_mbps = 16; // 2 MB/s
  t.latency_s = 0.1;
  work_item w{4, 1, 512, 2'000'000, 1'000'000};
  CHECK(transfer_seconds(t, w) == Approx(0.2 + 1.0 + 1.0));
}

TEST_CASE("jitter is a deterministic function of seed and client and round") {
  double a = jitter_factor(7, 3, 11, 0.2);
  CHECK(a == jitter_factor(7, 3, 11, 0.2));
  CHECK(a != jitter_factor(8, 3, 11, 0.2));
  CHECK(a != jitter_factor(7, 4, 11, 0.2));
  CHECK(jitter_factor(7, 3, 11, 0.0) == 1.0);
  // log-normal with sigma 0.2: the mean of many draws is exp(0.02) ~ 1.02
  double sum = 0;
  for (uint32_t r = 0; r < 4000; ++r)
    sum += jitter_factor(1, 0, r, 0.2);
  CHECK(sum / 4000 == Approx(std::exp(0.02)).epsilon(0.02));
}

TEST_CASE("a profile fits the step-time line and the per-format factors") {
  // fp32: 0.1 + 0.01 r at 1024 tokens per step; nf4 1.5x slower; int8 1.2x.
  std::vector<step_sample> s;
  for (uint32_t r : {2, 8, 16}) {
    double t = 0.1 + 0.01 * r;
    s.push_back({"fp32", r, t});
    s.push_back({"nf4", r, 1.5 * t});
    s.push_back({"int8", r, 1.2 * t});
  }
  auto c = fit_cost(s, 1024, 512, "fp32");
  CHECK(c.step_base_s == Approx(0.05));      // rescaled to 512 tokens
  CHECK(c.step_per_rank_s == Approx(0.005));
  CHECK(c.fp32_factor == Approx(1.0));
  CHECK(c.nf4_factor == Approx(1.5));
  CHECK(c.int8_factor == Approx(1.2));
  CHECK(c.bf16_factor == 1.0);               // not measured: neutral
  CHECK_THROWS_WITH(fit_cost({{"fp32", 4, 0.1}}, 1024, 512, "fp32"), Catch::Contains("two or more ranks"));
}
