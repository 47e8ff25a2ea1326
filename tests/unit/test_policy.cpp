#include <catch2/catch.hpp>

#include "scheduling/policy.hpp"

using namespace fedq::scheduling;

namespace {

plan_input three_tier_input() {
  plan_input in;
  in.round = 0;
  in.tokens_per_step = 512;
  in.bytes_fixed = 1000;
  in.bytes_per_rank = 2048;
  // two fast, two medium, two slow clients
  for (uint32_t id = 0; id < 6; ++id)
    in.clients.push_back({id, id / 2, 100, false, {}});
  return in;
}

policy_options opts(const std::string& name) {
  policy_options o;
  o.name = name;
  o.rank = 8;
  o.r_min = 2;
  o.r_max = 16;
  o.local_steps = 10;
  o.deadline_s = 25.0;
  o.percentile = 0.6;
  return o;
}

} // namespace

TEST_CASE("fixed gives every client the same rank and the configured deadline") {
  auto p = make_policy(opts("fixed"), default_tiers(2, 2, 2), cost_options{});
  auto plan = p->plan(three_tier_input());
  REQUIRE(plan.clients.size() == 6);
  CHECK(plan.deadline_s == 25.0);
  for (const auto& a : plan.clients) {
    CHECK(a.rank == 8);
    CHECK(a.steps == 10);
  }
}

TEST_CASE("deadline-aware gives each client the largest rank predicted to make the deadline") {
  auto tiers = default_tiers(2, 2, 2);
  cost_options cost;
  auto o = opts("deadline-aware");
  auto p = make_policy(o, tiers, cost);
  auto in = three_tier_input();
  auto plan = p->plan(in);
  REQUIRE(plan.clients.size() == 6);
  // deadline: 0.6 percentile (4th of 6) of predicted times at r_max = a medium client at r_max
  double medium_at_max = nominal_seconds(cost, tiers[1], work_for(in, 16, 10));
  CHECK(plan.deadline_s == Approx(medium_at_max));
  for (const auto& a : plan.clients) {
    const auto& tier = tiers[in.clients[a.client].tier];
    bool fits = nominal_seconds(cost, tier, work_for(in, a.rank, 10)) <= plan.deadline_s;
    if (a.rank < o.r_max && fits) // no larger rank may also fit
      CHECK(nominal_seconds(cost, tier, work_for(in, a.rank + 1, 10)) > plan.deadline_s);
    if (!fits) // only clients that cannot make it at any rank get r_min
      CHECK(a.rank == o.r_min);
  }
  CHECK(plan.clients[0].rank == 16); // fast
  CHECK(plan.clients[3].rank == 16); // medium
  CHECK(plan.clients[5].rank == 2);  // slow: late even at r_min, merged asynchronously
}

TEST_CASE("deadline-aware learns a client's real speed from its telemetry") {
  auto tiers = default_tiers(2, 2, 2);
  cost_options cost;
  auto p = make_policy(opts("deadline-aware"), tiers, cost);
  auto in = three_tier_input();
  auto first = p->plan(in);
  REQUIRE(first.clients[0].rank == 16);
  // Client 0 (fast tier) turned out 20x slower than its tier's model predicted:
  // slower than the slow tier, so beyond the deadline's percentile.
  auto& c0 = in.clients[0];
  c0.has_telemetry = true;
  auto w = work_for(in, 16, 10);
  c0.last = telemetry{0, 16, 10, 512, w.bytes_down, w.bytes_up,
                      20 * nominal_seconds(cost, tiers[0], w), 0, 1.0, 0.5, 0};
  in.round = 1;
  auto second = p->plan(in);
  CHECK(second.clients[0].predicted_s > first.clients[0].predicted_s * 10);
  CHECK(second.clients[0].rank < 16);
}

TEST_CASE("an unknown policy name is refused with the known names") {
  auto o = opts("magic");
  CHECK_THROWS_WITH(make_policy(o, default_tiers(1, 1, 1), cost_options{}),
                    Catch::Contains("fixed, deadline-aware"));
}
