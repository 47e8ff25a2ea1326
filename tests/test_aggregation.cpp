#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "actors/aggregator.hpp"
#include "compute/aggregation.hpp"
#include "compute/flexlora.hpp"
#include "compute/server_opt.hpp"
#include "compute/staleness.hpp"

using namespace fedq;
using compute::adapter_payload;
using serialization::lora_pair;

namespace {

/// One LoRA pair with d_in = 2, d_out = 2 and the given rank; A rows and B
/// columns hold the values given (row-major).
adapter_payload one_pair(uint32_t rank, std::vector<float> a, std::vector<float> b,
                         std::vector<float> head = {0, 0}) {
  adapter_payload p;
  p.lora.push_back(lora_pair{"m", 2, 2, rank, std::move(a), std::move(b)});
  p.dense.push_back({"head.bias", {2}, std::move(head)});
  return p;
}

} // namespace

TEST_CASE("truncation keeps the first rows of A and columns of B") {
  // A (2, 2) = [1 2; 5 6]; B (2, 2) = [3 7; 4 8]
  auto t = compute::truncate(one_pair(2, {1, 2, 5, 6}, {3, 7, 4, 8}), 1);
  CHECK(t.lora[0].rank == 1);
  CHECK(t.lora[0].a == std::vector<float>{1, 2});
  CHECK(t.lora[0].b == std::vector<float>{3, 4});
  // truncating to a larger rank changes nothing
  CHECK(compute::truncate(t, 4).lora[0].a == t.lora[0].a);
}

TEST_CASE("heterogeneous ranks: each component is averaged over the clients that trained it") {
  // client x: rank 1, 100 samples; client y: rank 2, 300 samples; base at rank 2
  auto base = one_pair(2, {9, 9, 9, 9}, {9, 9, 9, 9}, {0, 0});
  auto x = one_pair(1, {1, 2}, {3, 4}, {1, 1});
  auto y = one_pair(2, {5, 6, 7, 8}, {9, 10, 11, 12}, {5, -3});
  auto g = compute::weighted_average(base, {x, y}, {100, 300});
  const auto& l = g.lora[0];
  REQUIRE(l.rank == 2);
  // A: row 0 = 0.25*[1 2] + 0.75*[5 6]; row 1 only y has: [7 8]
  CHECK(l.a[0] == Approx(4.0));
  CHECK(l.a[1] == Approx(5.0));
  CHECK(l.a[2] == Approx(7.0));
  CHECK(l.a[3] == Approx(8.0));
  // B (2, 2): column 0 = 0.25*[3; 4] + 0.75*[9; 11]; column 1 = y's [10; 12]
  CHECK(l.b[0] == Approx(0.25 * 3 + 0.75 * 9));
  CHECK(l.b[1] == Approx(10.0));
  CHECK(l.b[2] == Approx(0.25 * 4 + 0.75 * 11));
  CHECK(l.b[3] == Approx(12.0));
  // the head: every client has it
  CHECK(g.dense[0].values[0] == Approx(4.0));
  CHECK(g.dense[0].values[1] == Approx(-2.0));
}

TEST_CASE("components that no client trained keep the base's values") {
  // r_max 4, base nonzero everywhere; two rank-2 updates
  adapter_payload base;
  base.lora.push_back(lora_pair{"m", 2, 2, 4, {1, 1, 2, 2, 3, 3, 4, 4}, {1, 2, 3, 4, 5, 6, 7, 8}});
  base.dense.push_back({"head.bias", {2}, {0, 0}});
  auto x = one_pair(2, {10, 10, 20, 20}, {10, 20, 30, 40}, {1, 1});
  auto y = one_pair(2, {30, 30, 40, 40}, {50, 60, 70, 80}, {3, 3});
  auto g = compute::weighted_average(base, {x, y}, {1, 1});
  const auto& l = g.lora[0];
  REQUIRE(l.rank == 4);
  // A (4, 2): rows 0-1 averaged, rows 2-3 the base's
  CHECK(l.a == std::vector<float>{20, 20, 30, 30, 3, 3, 4, 4});
  // B (2, 4): columns 0-1 averaged, columns 2-3 the base's
  CHECK(l.b == std::vector<float>{30, 40, 3, 4, 50, 60, 7, 8});
  CHECK(g.dense[0].values == std::vector<float>{2, 2});
}

TEST_CASE("a component trained by one client is that client's, whatever the others' weight") {
  auto base = one_pair(2, {0, 0, 0, 0}, {0, 0, 0, 0});
  auto low = one_pair(1, {1, 1}, {1, 1});
  auto high = one_pair(2, {2, 2, 5, 6}, {2, 7, 2, 8});
  auto g = compute::weighted_average(base, {low, high}, {1000, 1});
  CHECK(g.lora[0].a[2] == Approx(5.0));  // not shrunk by the rank-1 client's weight
  CHECK(g.lora[0].a[3] == Approx(6.0));
  CHECK(g.lora[0].b[1] == Approx(7.0));
  CHECK(g.lora[0].b[3] == Approx(8.0));
}

TEST_CASE("a late update is mixed in over its own rank and the rest stays") {
  auto global = one_pair(2, {1, 1, 1, 1}, {1, 1, 1, 1}, {0, 0});
  auto late = one_pair(1, {3, 5}, {7, 9}, {2, 4});
  compute::mix(global, late, 0.25);
  const auto& l = global.lora[0];
  CHECK(l.a == std::vector<float>{1.5f, 2.0f, 1, 1});     // row 0 mixed, row 1 kept
  CHECK(l.b == std::vector<float>{2.5f, 1, 3.0f, 1});     // column 0 mixed
  CHECK(global.dense[0].values == std::vector<float>{0.5f, 1.0f});
}

TEST_CASE("the round's aggregate carries the net change of the late merges made while it was open") {
  auto aggregate = one_pair(2, {1, 1, 1, 1}, {1, 1, 1, 1}, {0, 0});
  auto before = one_pair(2, {0, 0, 0, 0}, {0, 0, 0, 0}, {1, 1});
  auto after = before;
  compute::mix(after, one_pair(1, {4, 8}, {2, 6}, {3, 5}), 0.5);  // a late merge: A row 0, B column 0, head
  compute::carry_over(aggregate, before, after);
  const auto& l = aggregate.lora[0];
  CHECK(l.a == std::vector<float>{3, 5, 1, 1});
  CHECK(l.b == std::vector<float>{2, 1, 4, 1});
  CHECK(aggregate.dense[0].values == std::vector<float>{1, 2});
  auto other = one_pair(1, {0, 0}, {0, 0});
  CHECK_THROWS_AS(compute::carry_over(aggregate, other, other), std::invalid_argument);
}

TEST_CASE("staleness weights follow FedAsync's polynomial and hinge functions") {
  compute::staleness_options o;
  o.alpha = 0.6;
  o.a = 0.5;
  CHECK(compute::staleness_scale(o, 0) == Approx(1.0));
  CHECK(compute::staleness_scale(o, 3) == Approx(0.5));  // (3+1)^-0.5
  CHECK(compute::judge_late(o, 3).weight == Approx(0.3));
  o.fn = compute::staleness_fn::hinge;
  o.a = 0.5;
  o.b = 2;
  CHECK(compute::staleness_scale(o, 2) == Approx(1.0));
  CHECK(compute::staleness_scale(o, 6) == Approx(1.0 / 3.0));  // 1 / (0.5 * 4 + 1)
  o.fn = compute::staleness_fn::constant;
  CHECK(compute::staleness_scale(o, 100) == 1.0);
}

TEST_CASE("an update older than max staleness is rejected with the reason") {
  compute::staleness_options o;
  o.max_staleness = 4;
  CHECK(compute::judge_late(o, 4).accept);
  auto d = compute::judge_late(o, 5);
  CHECK_FALSE(d.accept);
  CHECK_THAT(d.reason, Catch::Contains("staleness 5") && Catch::Contains("max_staleness 4"));
}

TEST_CASE("the aggregator's late merge uses the version gap as staleness") {
  compute::staleness_options o;  // polynomial, alpha 0.6, a 0.5
  actors::late_request req;
  req.version = 7;
  req.global = serialization::encode(one_pair(1, {0, 0}, {0, 0}, {0, 0}));
  req.update.base_version = 4;  // staleness 3 -> weight 0.6 * 0.5
  req.update.adapter = serialization::encode(one_pair(1, {10, 10}, {10, 10}, {10, 10}));
  auto r = actors::merge_late(o, req);
  REQUIRE(r.merged);
  CHECK(r.staleness == 3);
  CHECK(r.weight == Approx(0.3));
  CHECK(serialization::decode(r.global).lora[0].a[0] == Approx(3.0));
  o.max_staleness = 2;
  auto rejected = actors::merge_late(o, req);
  CHECK_FALSE(rejected.merged);
  CHECK(rejected.global.empty());
  CHECK_THAT(rejected.reason, Catch::Contains("exceeds"));
}

TEST_CASE("a late change is added from the adapter it was sent, at its staleness and data share") {
  compute::staleness_options o;  // polynomial, a 0.5; alpha plays no part
  actors::late_request req;
  req.version = 7;
  req.global = serialization::encode(one_pair(1, {5, 5}, {5, 5}, {5, 5}));
  req.update.base_version = 4;  // staleness 3: s = 0.5
  req.update.adapter = serialization::encode(one_pair(1, {3, 3}, {3, 3}, {3, 3}));
  req.delta = true;
  req.base = serialization::encode(one_pair(1, {1, 1}, {1, 1}, {1, 1}));  // its change: +2
  req.share = 0.25;
  auto r = actors::merge_late(o, req);
  REQUIRE(r.merged);
  CHECK(r.weight == Approx(0.125));
  auto g = serialization::decode(r.global);
  CHECK(g.lora[0].a[0] == Approx(5.25));   // 5 + 0.125 * 2, not a pull towards 3
  CHECK(g.lora[0].b[1] == Approx(5.25));
  CHECK(g.dense[0].values[0] == Approx(5.25));
  req.share = 0;
  CHECK_THROWS_WITH(actors::merge_late(o, req), Catch::Contains("data share"));
}

TEST_CASE("the LoRA norm is ||B A||_F without forming B A, over all or the tail components") {
  // A (2, 2) = [1 0; 0 2], B (2, 2) = I: B A = [1 0; 0 2], ||B A|| = sqrt(5).
  auto p = one_pair(2, {1, 0, 0, 2}, {1, 0, 0, 1});
  CHECK(compute::lora_norm(p) == Approx(std::sqrt(5.0)));
  // Component 1 alone: B[:, 1] A[1, :] = [0 0; 0 2].
  CHECK(compute::lora_norm(p, 1) == Approx(2.0));
  CHECK(compute::lora_norm(p, 2) == 0.0);
  // Against B A formed explicitly, on a non-orthogonal pair.
  auto q = one_pair(2, {1, 2, 3, 4}, {0.5f, -1, 2, 0.25f});
  // B A = [0.5*1-1*3, 0.5*2-1*4; 2*1+0.25*3, 2*2+0.25*4] = [-2.5 -3; 2.75 5]
  CHECK(compute::lora_norm(q) == Approx(std::sqrt(2.5 * 2.5 + 9 + 2.75 * 2.75 + 25)));
}

TEST_CASE("HetLoRA self-pruning cuts the tail only when its share of the norm is small") {
  auto p = one_pair(2, {1, 0, 0, 2}, {1, 0, 0, 1}); // tail share 2 / sqrt(5) = 0.894
  CHECK(compute::self_pruned_rank(p, 0.5, 0.5) == 2);
  CHECK(compute::self_pruned_rank(p, 0.5, 0.95) == 1);
  auto weak = one_pair(2, {1, 0, 0, 0.01f}, {1, 0, 0, 1}); // tail share ~0.01
  CHECK(compute::self_pruned_rank(weak, 0.5, 0.05) == 1);
  CHECK(compute::self_pruned_rank(weak, 0.4, 0.05) == 2); // floor(0.8) = 0: nothing to keep
}

TEST_CASE("norm weighting makes the round average favour the update with the larger B A") {
  std::vector<adapter_payload> ups{one_pair(1, {1, 0}, {1, 0}), one_pair(1, {3, 0}, {1, 0})};
  std::vector<double> w{compute::lora_norm(ups[0]), compute::lora_norm(ups[1])}; // 1 and 3
  auto avg = compute::weighted_average(ups[0], ups, w);
  CHECK(avg.lora[0].a[0] == Approx(0.25 * 1 + 0.75 * 3));
}

TEST_CASE("server optimizers step on the round's average change as the papers write them") {
  auto base = one_pair(1, {0, 0}, {0, 0}, {0, 0});
  auto next_of = [&](double delta) { return one_pair(1, {float(delta), 0}, {0, 0}, {0, 0}); };
  SECTION("none is plain FedAvg") {
    compute::server_optimizer opt({"none"});
    auto next = next_of(1.0);
    opt.apply(base, next);
    CHECK(next.lora[0].a[0] == Approx(1.0));
  }
  SECTION("avgm: m = 0.9 m + delta, next = base + m") {
    compute::server_optimizer opt({"avgm", 1.0, 0.9});
    auto n1 = next_of(1.0);
    opt.apply(base, n1);
    CHECK(n1.lora[0].a[0] == Approx(1.0));
    auto n2 = next_of(1.0);
    opt.apply(base, n2);
    CHECK(n2.lora[0].a[0] == Approx(1.9));
    CHECK(n2.lora[0].a[1] == Approx(0.0));
  }
  SECTION("adam and yogi: the first step is lr * m / (sqrt(v) + tau)") {
    for (const char* kind : {"adam", "yogi"}) {
      compute::server_optimizer opt({kind, 0.1, 0.9, 0.99, 1e-3});
      auto n1 = next_of(1.0);
      opt.apply(base, n1);  // m = 0.1, v = 0.01
      CHECK(n1.lora[0].a[0] == Approx(0.1 * 0.1 / (0.1 + 1e-3)));
      auto n2 = next_of(-1.0);
      opt.apply(base, n2);  // m = 0.09 - 0.1 = -0.01
      double v = std::string(kind) == "adam" ? 0.99 * 0.01 + 0.01 : 0.01 + 0.01;  // yogi: v < delta^2 grows
      CHECK(n2.lora[0].a[0] == Approx(0.1 * -0.01 / (std::sqrt(v) + 1e-3)));
    }
  }
  CHECK_THROWS_WITH(compute::server_optimizer({"sgd"}), Catch::Contains("none, avgm, adam or yogi"));
}

// -- FlexLoRA ------------------------------------------------------------------

namespace {

/// A random pair (d_out 6, d_in 5) at `rank`, and a head of 3 values.
adapter_payload random_pair(uint32_t rank, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0, 1);
  adapter_payload p;
  lora_pair l{"m", 5, 6, rank, {}, {}};
  for (uint32_t i = 0; i < rank * 5; ++i)
    l.a.push_back(n(rng));
  for (uint32_t i = 0; i < 6 * rank; ++i)
    l.b.push_back(n(rng));
  p.lora.push_back(l);
  p.dense.push_back({"head.bias", {3}, {n(rng), n(rng), n(rng)}});
  return p;
}

/// B A of the first pair, (6, 5), row-major, in double precision.
std::vector<double> product_of(const adapter_payload& p) {
  const auto& l = p.lora[0];
  std::vector<double> w(size_t(l.d_out) * l.d_in, 0.0);
  for (uint32_t o = 0; o < l.d_out; ++o)
    for (uint32_t i = 0; i < l.d_in; ++i)
      for (uint32_t j = 0; j < l.rank; ++j)
        w[size_t(o) * l.d_in + i] += double(l.b[size_t(o) * l.rank + j]) * l.a[size_t(j) * l.d_in + i];
  return w;
}

double max_diff(const std::vector<double>& x, const std::vector<double>& y) {
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i)
    m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

double frobenius_sq(const std::vector<double>& x, const std::vector<double>& y) {
  double s = 0;
  for (size_t i = 0; i < x.size(); ++i)
    s += (x[i] - y[i]) * (x[i] - y[i]);
  return s;
}

} // namespace

TEST_CASE("flexlora: the global's product is the weighted sum of the clients' products") {
  auto base = random_pair(5, 1);  // r_max 5 = min(d_out, d_in): every sum is representable
  auto x = random_pair(1, 2), y = random_pair(3, 3);
  auto g = compute::flexlora_average(base, {x, y}, {100, 300});
  REQUIRE(g.lora[0].rank == 5);
  auto px = product_of(x), py = product_of(y), want = px;
  for (size_t i = 0; i < want.size(); ++i)
    want[i] = 0.25 * px[i] + 0.75 * py[i];
  CHECK(max_diff(product_of(g), want) < 1e-4);
  // The head is averaged as FedAvg averages it.
  auto fedavg = compute::weighted_average(base, {x, y}, {100, 300});
  CHECK(g.dense[0].values == fedavg.dense[0].values);
}

TEST_CASE("flexlora: a client's rank-r truncation is the best rank-r approximation of the sum") {
  auto base = random_pair(5, 4);
  auto g = compute::flexlora_average(base, {random_pair(3, 5), random_pair(4, 6)}, {1, 1});
  auto w = product_of(g);
  // Eckart-Young: no rank-2 matrix is closer to w than its top-2 SVD factors.
  double best = frobenius_sq(w, product_of(compute::truncate(g, 2)));
  for (uint64_t seed = 10; seed < 30; ++seed)  // other rank-2 matrices: a random one, a factor-wise one
    CHECK(frobenius_sq(w, product_of(random_pair(2, seed))) > best);
  auto fedavg = compute::weighted_average(base, {random_pair(3, 5), random_pair(4, 6)}, {1, 1});
  CHECK(frobenius_sq(w, product_of(compute::truncate(fedavg, 2))) >= best - 1e-6);
  // The factors come out ordered: the first component carries the most.
  CHECK(frobenius_sq(w, product_of(compute::truncate(g, 1))) >=
        frobenius_sq(w, product_of(compute::truncate(g, 2))));
}

TEST_CASE("flexlora: a late update is mixed in product space, and late merges of an open round are kept") {
  auto global = random_pair(5, 7), late = random_pair(2, 8);
  auto pg = product_of(global), pl = product_of(late), want = pg;
  for (size_t i = 0; i < want.size(); ++i)
    want[i] = 0.7 * pg[i] + 0.3 * pl[i];
  auto mixed = global;
  compute::flexlora_mix(mixed, late, 0.3);
  CHECK(max_diff(product_of(mixed), want) < 1e-4);
  CHECK(mixed.dense[0].values[0] == Approx(0.7 * global.dense[0].values[0] + 0.3 * late.dense[0].values[0]));
  // Aggregating from `global` while `mixed` landed: the round's average plus that change.
  auto x = random_pair(3, 9);
  auto g = compute::flexlora_average(global, {x}, {1}, &mixed);
  auto px = product_of(x), pm = product_of(mixed);
  for (size_t i = 0; i < want.size(); ++i)
    want[i] = px[i] + pm[i] - pg[i];
  CHECK(max_diff(product_of(g), want) < 1e-4);
}

TEST_CASE("a FedBuff step adds each update's own change, weighted s(staleness) / K") {
  compute::staleness_options o;  // polynomial, a 0.5: s(tau) = 1 / sqrt(1 + tau)
  compute::server_optimizer none({});
  actors::buffer_request req;
  req.version = 5;
  req.size = 2;
  req.global = serialization::encode(one_pair(2, {1, 1, 1, 1}, {1, 1, 1, 1}, {0, 0}));
  actors::client_update fresh, stale;
  fresh.base_version = 5;  // tau 0: weight 1/2
  fresh.adapter = serialization::encode(one_pair(1, {6, 4}, {3, 5}, {2, 2}));
  stale.base_version = 2;  // tau 3: weight 1/2 * 1/2
  stale.adapter = serialization::encode(one_pair(2, {4, 4, 4, 4}, {4, 4, 4, 4}, {4, 0}));
  req.updates = {fresh, stale};
  req.bases = {serialization::encode(one_pair(1, {2, 2}, {1, 1}, {0, 0})),  // fresh's start
               serialization::encode(one_pair(2, {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0}))};
  auto next = actors::apply_buffer(o, none, req);
  const auto& l = next.lora[0];
  // A row 0: 1 + (6-2)/2 + 4/4 = 4, (4-2)/2 + 1 + 1 = 3; row 1 only the stale one: 1 + 1
  CHECK(l.a == std::vector<float>{4, 3, 2, 2});
  // B column 0 (fresh's rank): 1 + (3-1)/2 + 1, 1 + (5-1)/2 + 1; column 1: 1 + 1
  CHECK(l.b == std::vector<float>{3, 2, 4, 2});
  CHECK(next.dense[0].values == std::vector<float>{2, 1});
  // A partial buffer (the last window of a run) keeps FedBuff's 1/K.
  req.updates = {fresh};
  req.bases.resize(1);
  CHECK(actors::apply_buffer(o, none, req).lora[0].a[0] == Approx(3.0));
  req.bases.clear();
  CHECK_THROWS(actors::apply_buffer(o, none, req));
}

TEST_CASE("a pruned update padded to its task's rank has zero components past its own") {
  auto pruned = one_pair(1, {3, 5}, {7, 9}, {2, 4});
  auto p = compute::pad_to_rank(pruned, 2);
  REQUIRE(p.lora[0].rank == 2);
  CHECK(p.lora[0].a == std::vector<float>{3, 5, 0, 0});
  CHECK(p.lora[0].b == std::vector<float>{7, 0, 9, 0});
  CHECK(p.dense[0].values == std::vector<float>{2, 4});
  // In a round's average the pruned component now counts as the zero it is.
  auto base = one_pair(2, {1, 1, 1, 1}, {1, 1, 1, 1});
  auto full = one_pair(2, {2, 2, 2, 2}, {2, 2, 2, 2});
  auto avg = compute::weighted_average(base, {full, p}, {1, 1});
  CHECK(avg.lora[0].a == std::vector<float>{2.5f, 3.5f, 1, 1});
  CHECK(compute::pad_to_rank(full, 1).lora[0].rank == 2);  // never cut
}
