#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>

#include "scheduling/p1.hpp"
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
  o.r_init = 8;
  return o;
}

policy_context ctx(std::vector<tier_profile> tiers, memory_model m = {}) {
  return policy_context{std::move(tiers), cost_options{}, std::move(m)};
}

/// The telemetry a client would send if it took exactly `factor` times its
/// tier's nominal time for its assignment `a`.
telemetry report(const plan_input& in, const policy_context& c, const client_view& v,
                 const assignment& a, double factor) {
  auto w = work_for(in, a.rank, a.steps, a.bits);
  const auto& tier = c.tiers.at(v.tier);
  telemetry t;
  t.round = in.round;
  t.rank = t.trained_rank = a.rank;
  t.steps = a.steps;
  t.tokens_per_step = in.tokens_per_step;
  t.bytes_down = w.bytes_down;
  t.bytes_up = w.bytes_up;
  t.compute_s = factor * compute_seconds(c.cost, tier, w);
  t.transfer_s = 2 * tier.latency_s + factor * data_seconds(tier, w);
  t.duration_s = t.compute_s + t.transfer_s;
  t.bits = a.bits;
  return t;
}

p1_problem random_p1(std::mt19937_64& rng, size_t n) {
  std::uniform_real_distribution<double> a(0.5, 20), b(0.01, 2), cap(4, 64), r(0.2, 0.9);
  p1_problem p;
  p.r_min = 2;
  for (size_t i = 0; i < n; ++i) {
    p.a.push_back(a(rng));
    p.b.push_back(b(rng));
    p.cap.push_back(std::floor(cap(rng)));
  }
  double sum_cap = 0;
  for (double c : p.cap)
    sum_cap += c;
  p.total = std::round(p.r_min * n + r(rng) * (sum_cap - p.r_min * n));
  return p;
}

} // namespace

TEST_CASE("fixed gives every client the same rank and the configured deadline") {
  auto p = make_policy(opts("fixed"), ctx(default_tiers(2, 2, 2)));
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
  auto p = make_policy(o, ctx(tiers));
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
  auto c = ctx(default_tiers(2, 2, 2));
  auto p = make_policy(opts("deadline-aware"), c);
  auto in = three_tier_input();
  auto first = p->plan(in);
  REQUIRE(first.clients[0].rank == 16);
  // Client 0 (fast tier) turned out 20x slower than its tier's model predicted:
  // slower than the slow tier, so beyond the deadline's percentile.
  auto& c0 = in.clients[0];
  c0.has_telemetry = true;
  c0.last = report(in, c, c0, first.clients[0], 20);
  in.round = 1;
  auto second = p->plan(in);
  auto at = work_for(in, second.clients[0].rank, 10);
  CHECK(second.clients[0].predicted_s > 10 * nominal_seconds(c.cost, c.tiers[0], at));
  CHECK(second.clients[0].rank < 16);
}

TEST_CASE("an unknown policy name is refused with the known names") {
  auto o = opts("magic");
  CHECK_THROWS_WITH(make_policy(o, ctx(default_tiers(1, 1, 1))),
                    Catch::Contains("fixed, deadline-aware, hetlora, fah, waterfill, online"));
}

TEST_CASE("water-filling solves a hand-computed P1 exactly") {
  // T = 0 + 1 r1 = 0 + 2 r2 with r1 + r2 = 6: r1 = 4, r2 = 2, T = 4.
  p1_problem p{{0, 0}, {1, 2}, {100, 100}, 1, 6};
  auto s = solve_p1_waterfill(p);
  CHECK(s.ranks[0] == Approx(4));
  CHECK(s.ranks[1] == Approx(2));
  CHECK(s.round_s == Approx(4));
  // A cap binds: r1 <= 3, so r2 = 3 and T = 6.
  p.cap = {3, 100};
  s = solve_p1_waterfill(p);
  CHECK(s.ranks[0] == Approx(3));
  CHECK(s.round_s == Approx(6));
  // r_min binds: a slow client at r_min sets T; the budget is spread below it.
  p1_problem q{{10, 0}, {1, 1}, {100, 100}, 2, 6};
  s = solve_p1_waterfill(q);
  CHECK(s.round_s == Approx(12));
  CHECK(s.ranks[0] + s.ranks[1] == Approx(6));
  CHECK(s.ranks[0] == Approx(2));
}

TEST_CASE("water-filling and IPOPT agree on random P1 instances") {
  std::mt19937_64 rng(7);
  for (size_t n : {1, 2, 5, 20, 100}) {
    for (int k = 0; k < 10; ++k) {
      auto p = random_p1(rng, n);
      auto w = solve_p1_waterfill(p);
      auto i = solve_p1_ipopt(p);
      INFO("n = " << n << ", instance " << k);
      CHECK(i.round_s == Approx(w.round_s).epsilon(1e-6));
      double sw = 0, si = 0;
      for (size_t j = 0; j < n; ++j) {
        sw += w.ranks[j];
        si += i.ranks[j];
      }
      CHECK(sw == Approx(p.total).epsilon(1e-9));
      CHECK(si == Approx(p.total).epsilon(1e-6));
      // Rounded plans: the same budget, and round times within one rank unit.
      auto rw = round_ranks(p, w.ranks), ri = round_ranks(p, i.ranks);
      uint64_t tw = 0, ti = 0;
      double bmax = 0;
      for (size_t j = 0; j < n; ++j) {
        tw += rw[j];
        ti += ri[j];
        bmax = std::max(bmax, p.b[j]);
        CHECK(rw[j] >= p.r_min);
        CHECK(rw[j] <= p.cap[j]);
      }
      CHECK(tw == static_cast<uint64_t>(p.total));
      CHECK(ti == tw);
      CHECK(std::abs(p1_round_time(p, rw) - p1_round_time(p, ri)) <= bmax + 1e-9);
    }
  }
}

namespace {

/// The mean rank of FAH's plan after stage 1 has seen one round with the
/// clients' losses F_prev, F and F^ (and a global eval loss that says the opposite).
double fah_mean_rank_after(double f_prev, double f, double f_cf, uint32_t r_init = 8, uint32_t r_min = 2) {
  auto c = ctx(default_tiers(2, 2, 2));
  auto o = opts("waterfill");
  o.r_init = r_init;
  o.r_min = r_min;
  auto p = make_policy(o, c);
  auto in = three_tier_input();
  p->plan(in); // warm-up at r_max
  in.round = 1;
  p->plan(in); // warm-up at r_min
  in.round = 2;
  p->plan(in); // P1 at r_init
  in.round = 3;
  in.feedback.valid = true;
  in.feedback.round = 2;
  in.feedback.duration_s = 10;
  in.feedback.loss_prev = f;  // the global eval loss: not what stage 1 reads
  in.feedback.loss = f_prev;
  in.feedback.has_client_loss = true;
  in.feedback.client_loss_prev = f_prev;
  in.feedback.client_loss = f;
  in.feedback.client_loss_cf = f_cf;
  auto plan = p->plan(in);
  double sum = 0;
  for (const auto& a : plan.clients)
    sum += a.rank;
  return sum / plan.clients.size();
}

} // namespace

TEST_CASE("FAH stage 1: a faster loss decrease at the lower rank lowers the mean rank") {
  // F^ well below F: R^ = (F_prev - F^) / T^ > R = (F_prev - F) / T.
  CHECK(fah_mean_rank_after(1.0, 0.99, 0.90) == Approx(7));
}

TEST_CASE("FAH stage 1: a faster loss decrease at the current rank raises the mean rank") {
  // F^ barely below F_prev: R^ < R although T^ < T.
  CHECK(fah_mean_rank_after(1.0, 0.90, 0.999) == Approx(9));
}

TEST_CASE("FAH stage 1 at r_min keeps the mean rank, whatever the losses") {
  CHECK(fah_mean_rank_after(1.0, 0.99, 0.90, 2, 2) == Approx(2));
  CHECK(fah_mean_rank_after(1.0, 0.90, 0.999, 2, 2) == Approx(2));  // r^ = r_bar: s = 0
}

TEST_CASE("FAH stage 1 moves nothing without the clients' losses") {
  auto c = ctx(default_tiers(2, 2, 2));
  auto p = make_policy(opts("waterfill"), c);
  auto in = three_tier_input();
  for (uint32_t k = 0; k < 3; ++k) {
    in.round = k;
    p->plan(in);
  }
  in.round = 3;
  in.feedback = {true, 2, 10.0, 1.0, 8, 0.5, 1.0, false, 0, 0, 0};  // the global loss fell a lot
  auto plan = p->plan(in);
  double sum = 0;
  for (const auto& a : plan.clients)
    sum += a.rank;
  CHECK(sum / plan.clients.size() == Approx(8));
}

TEST_CASE("FAH warms up at r_max then r_min, then plans a P1 solution with the budget's sum") {
  auto c = ctx(default_tiers(2, 2, 2));
  auto p = make_policy(opts("fah"), c);
  auto in = three_tier_input();
  auto w0 = p->plan(in);
  for (const auto& a : w0.clients)
    CHECK(a.rank == 16);
  in.round = 1;
  auto w1 = p->plan(in);
  for (const auto& a : w1.clients)
    CHECK(a.rank == 2);
  in.round = 2;
  auto plan = p->plan(in);
  uint32_t sum = 0;
  for (const auto& a : plan.clients)
    sum += a.rank;
  CHECK(sum == 8 * 6);
  // The slow tier gets the smallest ranks; the deadline is the plan's round time.
  CHECK(plan.clients[5].rank < plan.clients[0].rank);
  double longest = 0;
  for (const auto& a : plan.clients)
    longest = std::max(longest, a.predicted_s);
  CHECK(plan.deadline_s == Approx(longest));
}

TEST_CASE("hetlora gives each tier its rank and keeps a self-pruned rank") {
  auto c = ctx(default_tiers(2, 2, 2));
  auto p = make_policy(opts("hetlora"), c);
  auto in = three_tier_input();
  auto plan = p->plan(in);
  CHECK(plan.clients[0].rank == 16);  // 16 * 1.0
  CHECK(plan.clients[2].rank == 11);  // 16 * 0.7
  CHECK(plan.clients[4].rank == 2);   // 16 * 0.15 = 2.4
  in.clients[0].has_telemetry = true;
  in.clients[0].last = report(in, c, in.clients[0], plan.clients[0], 1.0);
  in.clients[0].last.rank = 12; // pruned from 16 to 12
  in.round = 1;
  CHECK(p->plan(in).clients[0].rank == 12);
}

TEST_CASE("no policy plans over a client's memory, and a client with no fitting plan is skipped") {
  memory_model m;
  m.base_mb = {{"fp32", 4000}, {"bf16", 2200}, {"int8", 1300}, {"nf4", 900}};
  m.per_rank_mb = 100;
  auto tiers = default_tiers(2, 2, 2);
  tiers[0].memory_gb = 4.5;   // fp32 fits up to rank 6 (4000 + 100 r <= 4608)
  tiers[1].memory_gb = 2.5;   // fp32 never fits
  tiers[2].memory_gb = 100;
  std::mt19937_64 rng(3);
  for (const auto& name : policy_names()) {
    for (bool adapt : {false, true}) {
      auto o = opts(name);
      o.adapt_bits = adapt;
      auto c = ctx(tiers, m);
      auto p = make_policy(o, c);
      auto in = three_tier_input();
      for (uint32_t round = 0; round < 6; ++round) {
        in.round = round;
        auto plan = p->plan(in);
        INFO(name << (adapt ? " adapting bits" : "") << ", round " << round);
        for (const auto& a : plan.clients) {
          const auto& v = in.clients[a.client];
          CHECK(m.mb(a.rank, a.bits) <= tiers[v.tier].memory_gb * 1024);
          CHECK(a.rank >= o.r_min);
        }
        // Only the medium tier, and only where no smaller format may be chosen.
        bool can_shrink = adapt && name == "online";
        for (auto id : plan.skipped)
          CHECK((in.clients[id].tier == 1 && !can_shrink));
        if (!can_shrink)
          CHECK(plan.skipped.size() == 2);
        std::uniform_real_distribution<double> f(0.5, 3);
        for (const auto& a : plan.clients) {
          auto& v = in.clients[a.client];
          v.has_telemetry = true;
          v.last = report(in, c, v, a, f(rng));
        }
      }
    }
  }
}

TEST_CASE("online picks a smaller backbone format where the larger ones do not fit") {
  memory_model m;
  m.base_mb = {{"fp32", 4000}, {"bf16", 2200}, {"int8", 1300}, {"nf4", 900}};
  m.per_rank_mb = 100;
  auto tiers = default_tiers(2, 2, 2);
  tiers[0].memory_gb = 100;   // everything fits: the highest precision
  tiers[1].memory_gb = 2.0;   // 2048 MB: int8 up to rank 7, nf4 up to 11
  tiers[2].memory_gb = 100;
  auto o = opts("online");
  o.adapt_bits = true;
  o.on_time_target = 1.0; // a deadline long enough for any rank: memory alone decides
  auto p = make_policy(o, ctx(tiers, m));
  auto plan = p->plan(three_tier_input());
  CHECK(plan.clients[0].bits == "fp32");
  CHECK(plan.clients[2].bits == "nf4");
  CHECK(plan.clients[2].rank > 7); // a larger rank than int8 would allow
}

TEST_CASE("online's plans respect its deadline on a stationary trace, paced to the on-time target") {
  // Twelve clients, each 1.4x faster than the last, so any on-time fraction
  // is reachable, and on-time clients per second alone would pick 5 of them.
  std::vector<tier_profile> tiers;
  double factor = 0.02;
  for (uint32_t i = 0; i < 12; ++i, factor *= 1.4) {
    auto t = default_tiers(1, 0, 0)[0];
    t.name = "t" + std::to_string(i);
    t.compute_factor = factor;
    tiers.push_back(t);
  }
  auto c = ctx(tiers);
  for (double target : {0.5, 0.75}) {
    auto o = opts("online");
    o.on_time_target = target;
    auto p = make_policy(o, c);
    plan_input in = three_tier_input();
    in.clients.clear();
    for (uint32_t id = 0; id < 12; ++id)
      in.clients.push_back({id, id, 100, false, {}});
    double fraction_sum = 0;
    for (uint32_t round = 0; round < 20; ++round) {
      in.round = round;
      auto plan = p->plan(in);
      REQUIRE(plan.clients.size() == 12);
      uint32_t on_time = 0;
      for (const auto& a : plan.clients) {
        auto& v = in.clients[a.client];
        // Stationary: every task takes exactly its tier's nominal time.
        v.has_telemetry = true;
        v.last = report(in, c, v, a, 1.0);
        bool made = v.last.duration_s <= plan.deadline_s + 1e-9;
        on_time += made;
        INFO("target " << target << ", round " << round << ", client " << a.client);
        if (a.predicted_s <= plan.deadline_s) // what is planned on time arrives on time
          CHECK(made);
        if (round > 0 && !made) // a late plan is the quickest one there is
          CHECK(a.rank == o.r_min);
      }
      if (round >= 10)
        fraction_sum += on_time / 12.0;
      in.feedback = {true, round, plan.deadline_s, on_time / 12.0, 8, 1.0 - 0.01 * round,
                     1.0 - 0.01 * (round - 1), 0, 0};
    }
    // The pacer, not the throughput rule, holds the fraction at the target.
    INFO("target " << target);
    CHECK(fraction_sum / 10 >= target - 0.05);
    CHECK(fraction_sum / 10 <= target + 0.15);
  }
}

TEST_CASE("every policy is deterministic for the same inputs") {
  for (const auto& name : policy_names()) {
    auto c = ctx(default_tiers(3, 3, 3));
    auto a = make_policy(opts(name), c), b = make_policy(opts(name), c);
    plan_input in = three_tier_input();
    in.clients.clear();
    for (uint32_t id = 0; id < 9; ++id)
      in.clients.push_back({id, id / 3, 100, false, {}});
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<double> f(0.5, 2);
    for (uint32_t round = 0; round < 6; ++round) {
      in.round = round;
      auto pa = a->plan(in), pb = b->plan(in);
      INFO(name << ", round " << round);
      CHECK(pa.deadline_s == pb.deadline_s);
      REQUIRE(pa.clients.size() == pb.clients.size());
      for (size_t i = 0; i < pa.clients.size(); ++i) {
        CHECK(pa.clients[i].rank == pb.clients[i].rank);
        CHECK(pa.clients[i].bits == pb.clients[i].bits);
        CHECK(pa.clients[i].steps == pb.clients[i].steps);
      }
      for (const auto& x : pa.clients) {
        auto& v = in.clients[x.client];
        v.has_telemetry = true;
        v.last = report(in, c, v, x, f(rng));
      }
      in.feedback = {true, round, pa.deadline_s, 0.5, 8, 1.0 - 0.02 * round, 1.0 - 0.02 * (round - 1),
                     true, 1.0 - 0.02 * round, 1.0 - 0.02 * (round - 1), 1.0 - 0.015 * round};
    }
  }
}

TEST_CASE("online's bandit settles on the rank arm with the best loss decrease per second") {
  auto c = ctx(default_tiers(2, 2, 2));
  auto o = opts("online");
  o.bandit = true;            // arms 2, 7, 11, 16 (r_min 2 .. r_max 16)
  o.on_time_target = 1.0;
  auto p = make_policy(o, c);
  auto in = three_tier_input();
  std::map<long, int> played;
  double loss = 10;
  for (uint32_t round = 0; round < 60; ++round) {
    in.round = round;
    auto plan = p->plan(in);
    double mean = 0;
    for (const auto& a : plan.clients)
      mean += a.rank;
    mean /= plan.clients.size();
    // The plan's mean rank follows the budget: the arm is the nearest of the four.
    long arm = 2;
    for (long a : {7, 11, 16})
      if (std::abs(mean - a) < std::abs(mean - arm))
        arm = a;
    if (round >= 30)
      played[arm] += 1;
    // A world where rank 7 gives the fastest loss decrease per second.
    double rate = arm == 7 ? 0.01 : 0.003;
    double duration = 5.0;
    in.feedback = {true, round, duration, 1.0, mean, loss - rate * duration, loss, 0, 0};
    loss -= rate * duration;
  }
  INFO("arm 7 played " << played[7] << " of the last 30 rounds");
  CHECK(played[7] >= 18);
}

TEST_CASE("online learns from a closed round once, even when a plan in between fit no client") {
  auto c = ctx(default_tiers(2, 2, 2));
  auto in = three_tier_input();
  round_feedback e{true, 0, 20.0, 0.6, 8, 0.95, 1.0, false, 0, 0, 0};
  round_feedback f{true, 1, 20.0, 0.5, 8, 0.9, 0.95, false, 0, 0, 0};  // fewer on time: the pacer moves up
  round_feedback g{true, 2, 25.0, 0.6, 8, 0.85, 0.9, false, 0, 0, 0};
  auto planned = [&](bool repeat_f) {
    auto p = make_policy(opts("online"), c);
    std::vector<round_feedback> seen{{}, e, f};
    if (repeat_f) // no round closed since: the server asks again with the same feedback
      seen.push_back(f);
    seen.push_back(g);
    round_plan last;
    for (size_t k = 0; k < seen.size(); ++k) {
      in.round = static_cast<uint32_t>(k);
      in.feedback = seen[k];
      last = p->plan(in);
    }
    return last;
  };
  auto once = planned(false), again = planned(true);
  CHECK(again.deadline_s == Approx(once.deadline_s));
  REQUIRE(again.clients.size() == once.clients.size());
  for (size_t i = 0; i < once.clients.size(); ++i) {
    CHECK(again.clients[i].rank == once.clients[i].rank);
    CHECK(again.clients[i].steps == once.clients[i].steps);
  }
}

TEST_CASE("online gives each on-time client the largest rank at any step count, then the most steps") {
  // Two fast clients set the deadline at r_max; the slow one makes it at
  // 10 steps only at a low rank, at fewer steps at a high one.
  auto tiers = default_tiers(2, 0, 1);
  tiers[2].compute_factor = 0.54;
  auto c = ctx(tiers);
  auto o = opts("online");
  o.r_init = o.r_max; // a budget that trims nothing: the choice alone decides
  o.min_steps = 4;
  o.on_time_target = 0.5;
  auto p = make_policy(o, c);
  auto in = three_tier_input();
  in.clients = {{0, 0, 100, false, {}}, {1, 0, 100, false, {}}, {2, 2, 100, false, {}}};
  auto plan = p->plan(in);
  duration_estimator est(c, o.ewma); // no telemetry yet: the policy predicts the tiers' nominal times
  bool traded_steps_for_rank = false;
  for (const auto& a : plan.clients) {
    const auto& v = in.clients[a.client];
    CHECK(a.predicted_s == Approx(est.predict(v, work_for(in, a.rank, a.steps, a.bits))));
    // What "makes the deadline" means to the policy: its prediction plus `safety` standard deviations.
    auto fits = [&](uint32_t r, uint32_t st) {
      return est.predict(v, work_for(in, r, st, a.bits), o.safety) <= plan.deadline_s;
    };
    if (!fits(a.rank, a.steps))
      continue; // planned late: the quickest plan
    INFO("client " << a.client << ": rank " << a.rank << ", " << a.steps << " steps");
    for (uint32_t r = a.rank + 1; r <= o.r_max; ++r)
      for (uint32_t st = o.min_steps; st <= o.local_steps; ++st)
        CHECK_FALSE(fits(r, st));
    for (uint32_t st = a.steps + 1; st <= o.local_steps; ++st)
      CHECK_FALSE(fits(a.rank, st));
    traded_steps_for_rank |= a.steps < o.local_steps && a.rank > o.r_min;
  }
  CHECK(traded_steps_for_rank); // the case the rule decides: fewer steps bought a larger rank
}
