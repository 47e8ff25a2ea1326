#include <catch2/catch.hpp>

#include "compute/aggregation.hpp"
#include "compute/model.hpp"
#include "data/metrics.hpp"
#include "data/synthetic_task.hpp"

using namespace fedq;

namespace {

compute::model_options tiny() {
  compute::model_options o;
  o.d_model = 32;
  o.layers = 1;
  o.heads = 2;
  o.ffn = 64;
  o.max_len = 48;
  o.classes = 4;
  o.r_max = 8;
  return o;
}

} // namespace

TEST_CASE("local training lowers the loss and keeps the rank and leaves the input untouched") {
  auto o = tiny();
  auto bb = compute::backbone::create(o);
  auto shard = data::make_synthetic(200, 5).items;
  auto start = compute::truncate(compute::init_adapter(o, 9), 4);
  auto before = start;
  compute::train_options t;
  t.lr = 1e-2;
  auto r = compute::train_local(*bb, start, shard, t, 30, 1);
  CHECK(r.loss_after < r.loss_before * 0.8);
  CHECK(r.adapter.rank() == 4);
  CHECK(r.tokens > 0);
  CHECK(start.lora[0].a == before.lora[0].a);
  // B started at zero and received gradients
  bool moved = false;
  for (float v : r.adapter.lora[0].b)
    moved |= v != 0.0f;
  CHECK(moved);
}

TEST_CASE("local training is deterministic for its inputs") {
  auto o = tiny();
  auto bb = compute::backbone::create(o);
  auto shard = data::make_synthetic(100, 5).items;
  auto start = compute::init_adapter(o, 3);
  compute::train_options t;
  auto a = compute::train_local(*bb, start, shard, t, 5, 11);
  auto b = compute::train_local(*bb, start, shard, t, 5, 11);
  CHECK(a.loss_after == b.loss_after);
  CHECK(a.adapter.lora[1].b == b.adapter.lora[1].b);
}

TEST_CASE("an adapter that does not fit the model is refused with a reason") {
  auto o = tiny();
  auto bb = compute::backbone::create(o);
  auto other = o;
  other.d_model = 16;
  other.heads = 2;
  auto wrong = compute::init_adapter(other, 1);
  CHECK_THROWS_WITH(compute::evaluate(*bb, wrong, data::make_synthetic(8, 1).items),
                    Catch::Contains("does not fit"));
}

TEST_CASE("a regression head trains on pairs with squared error and predicts scores") {
  auto o = tiny();
  o.classes = 1;
  o.regression = true;
  auto bb = compute::backbone::create(o);
  // The score is the number of 'x' in the second text: learnable from bytes.
  std::vector<data::example> shard;
  for (int i = 0; i < 120; ++i) {
    int k = i % 6;
    shard.push_back({"pair " + std::to_string(i % 7), std::string(size_t(k), 'x') + " y",
                     0, static_cast<float>(k)});
  }
  compute::train_options t;
  t.lr = 2e-2;
  auto start = compute::init_adapter(o, 3);
  auto r = compute::train_local(*bb, start, shard, t, 60, 2);
  CHECK(r.loss_after < r.loss_before * 0.5);
  auto ev = compute::evaluate(*bb, r.adapter, shard);
  REQUIRE(ev.predictions.scores.size() == shard.size());
  CHECK(ev.predictions.labels.empty());
  std::vector<double> gold;
  for (const auto& e : shard)
    gold.push_back(e.score);
  CHECK(data::pearson(ev.predictions.scores, gold) > 0.5);
}

TEST_CASE("a regression model needs exactly one output") {
  auto o = tiny();
  o.regression = true;
  CHECK_THROWS_WITH(compute::backbone::create(o), Catch::Contains("regression head exactly 1"));
}
