#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>

#include "compute/aggregation.hpp"
#include "compute/executor.hpp"
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
  // The start's loss is read off the first step's forward: the same value
  // as a separate no-grad forward of the start on that batch (zero steps),
  // whatever the logit adjustment adds to the training loss.
  t.logit_adjust = 1.0;
  auto none = compute::train_local(*bb, start, shard, t, 0, 11);
  CHECK(none.loss_before == none.loss_after);
  CHECK(compute::train_local(*bb, start, shard, t, 3, 11).loss_before ==
        Approx(none.loss_before).epsilon(1e-6));
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

namespace {

/// A siamese regression model's scores on `pairs` with a head that reads
/// only features [from, from + h) of [u, v, |u - v|, u * v] (weights w).
std::vector<double> siamese_scores(const std::vector<data::example>& pairs, int64_t from, uint64_t seed) {
  auto o = tiny();
  o.classes = 1;
  o.regression = true;
  o.pair = "siamese";
  auto bb = compute::backbone::create(o);
  auto ad = compute::init_adapter(o, seed);
  auto& head = ad.dense[0];
  REQUIRE(head.shape == std::vector<int64_t>{1, 4 * int64_t(o.d_model)});
  auto initial = head.values;
  std::fill(head.values.begin(), head.values.end(), 0.0f);
  for (int64_t j = 0; j < int64_t(o.d_model); ++j)
    head.values[size_t(from + j)] = initial[size_t(j)] * 50;
  return compute::evaluate(*bb, ad, pairs).predictions.scores;
}

} // namespace

TEST_CASE("a siamese pair head reads each sentence apart through the same backbone") {
  std::vector<data::example> pairs{{"a quiet film", "loud and long", 0, 0},
                                   {"a quiet film", "something else entirely, at length", 0, 0},
                                   {"loud and long", "a quiet film", 0, 0},
                                   {"a quiet film", "a quiet film", 0, 0}};
  int64_t h = tiny().d_model;
  auto u = siamese_scores(pairs, 0, 3);  // u alone: the first sentence decides
  CHECK(u[0] == Approx(u[1]).margin(1e-6));
  CHECK(u[0] != Approx(u[2]).margin(1e-4));
  auto v = siamese_scores(pairs, h, 3);  // v alone, with the same weights: the second sentence
  CHECK(v[2] == Approx(u[0]).margin(1e-6));
  CHECK(v[0] == Approx(u[2]).margin(1e-6));
  auto diff = siamese_scores(pairs, 2 * h, 3);  // |u - v|: zero for a sentence paired with itself
  CHECK(diff[3] == Approx(0).margin(1e-5));  // the same rows, up to float rounding
  CHECK(std::abs(diff[0]) > 1e-2);
  CHECK(diff[0] == Approx(diff[2]).margin(1e-6));
}

TEST_CASE("a siamese regression head trains on pairs and needs a pair task's second sentences to differ") {
  auto o = tiny();
  o.classes = 1;
  o.regression = true;
  o.pair = "siamese";
  auto bb = compute::backbone::create(o);
  std::vector<data::example> shard;
  for (int i = 0; i < 120; ++i) {
    int k = i % 6;
    shard.push_back({"pair " + std::to_string(i % 7), std::string(size_t(k), 'x') + " y", 0, static_cast<float>(k)});
  }
  compute::train_options t;
  t.lr = 2e-2;
  auto start = compute::init_adapter(o, 3);
  auto r = compute::train_local(*bb, start, shard, t, 60, 2);
  CHECK(r.loss_after < r.loss_before * 0.5);
  std::vector<double> gold;
  for (const auto& e : shard)
    gold.push_back(e.score);
  CHECK(data::pearson(compute::evaluate(*bb, r.adapter, shard).predictions.scores, gold) > 0.5);
  // Its adapter does not fit a joined model: the head reads h inputs there.
  o.pair = "joined";
  CHECK_THROWS_WITH(compute::evaluate(*compute::backbone::create(o), r.adapter, shard),
                    Catch::Contains("head shape"));
  o.pair = "cross";
  CHECK_THROWS_WITH(compute::backbone::create(o), Catch::Contains("model.pair: 'cross'"));
}

TEST_CASE("a regression model needs exactly one output") {
  auto o = tiny();
  o.regression = true;
  CHECK_THROWS_WITH(compute::backbone::create(o), Catch::Contains("regression head exactly 1"));
}

namespace {

double distance(const compute::adapter_payload& x, const compute::adapter_payload& y) {
  double s = 0;
  for (size_t i = 0; i < x.lora.size(); ++i) {
    for (size_t j = 0; j < x.lora[i].a.size(); ++j)
      s += std::pow(double(x.lora[i].a[j]) - y.lora[i].a[j], 2);
    for (size_t j = 0; j < x.lora[i].b.size(); ++j)
      s += std::pow(double(x.lora[i].b[j]) - y.lora[i].b[j], 2);
  }
  for (size_t i = 0; i < x.dense.size(); ++i)
    for (size_t j = 0; j < x.dense[i].values.size(); ++j)
      s += std::pow(double(x.dense[i].values[j]) - y.dense[i].values[j], 2);
  return std::sqrt(s);
}

} // namespace

/// A tiny model's backbone, a synthetic shard and a fresh adapter to train.
struct training_setup {
  compute::model_options o = tiny();
  std::shared_ptr<const compute::backbone> bb = compute::backbone::create(o);
  std::vector<data::example> shard = data::make_synthetic(100, 5).items;
  compute::adapter_payload start = compute::init_adapter(o, 3);
  compute::train_result train(const compute::train_options& t, uint32_t steps) const {
    return compute::train_local(*bb, start, shard, t, steps, 1);
  }
};

/// The part of an adapter that is LoRA pairs (or, with head = true, the head).
compute::adapter_payload part_of(compute::adapter_payload p, bool head) {
  if (head)
    p.lora.clear();
  else
    p.dense.clear();
  return p;
}

TEST_CASE("FFA-LoRA training leaves every A at its start and trains B") {
  training_setup s;
  compute::train_options t;
  t.lr = 1e-2;
  t.freeze_a = true;
  auto r = s.train(t, 10);
  for (size_t i = 0; i < s.start.lora.size(); ++i)
    CHECK(r.adapter.lora[i].a == s.start.lora[i].a);
  CHECK(r.adapter.lora[0].b != s.start.lora[0].b);
  CHECK(r.loss_after < r.loss_before);
}

TEST_CASE("FedProx's proximal term keeps the local model nearer its start") {
  training_setup s;
  compute::train_options t;
  t.lr = 1e-2;
  auto free = s.train(t, 20);
  t.prox_mu = 10.0;
  auto prox = s.train(t, 20);
  CHECK(distance(prox.adapter, s.start) < 0.8 * distance(free.adapter, s.start));
}

TEST_CASE("a separate head learning rate moves the head faster and the adapter as before") {
  training_setup s;
  compute::train_options t;
  t.lr = 1e-3;
  auto same = s.train(t, 5);
  t.head_lr = 1e-1;
  auto fast = s.train(t, 5);
  auto moved = [&](const compute::train_result& r, bool head) {
    return distance(part_of(r.adapter, head), part_of(s.start, head));
  };
  CHECK(moved(fast, true) > 10 * moved(same, true));
  CHECK(moved(fast, false) < 3 * moved(same, false));
}

/// A shard of the synthetic task's class 2 only: a client under extreme label skew.
std::vector<data::example> one_class_shard() {
  std::vector<data::example> one_class;
  for (const auto& e : data::make_synthetic(400, 5).items)
    if (e.label == 2)
      one_class.push_back(e);
  REQUIRE(one_class.size() > 20);
  return one_class;
}

TEST_CASE("the logit-adjusted loss pulls the head less towards a client's only class") {
  auto o = tiny();
  auto bb = compute::backbone::create(o);
  auto one_class = one_class_shard();
  auto start = compute::init_adapter(o, 3);
  compute::train_options t;
  t.lr = 1e-2;
  auto bias_gap = [&](const compute::train_result& r) {  // bias of class 2 over the mean of the others
    const auto& b = r.adapter.dense.at(1).values;
    return b[2] - (b[0] + b[1] + b[3]) / 3;
  };
  auto plain = compute::train_local(*bb, start, one_class, t, 20, 1);
  t.logit_adjust = 1.0;
  auto adjusted = compute::train_local(*bb, start, one_class, t, 20, 1);
  CHECK(bias_gap(adjusted) < bias_gap(plain));  // AdamW normalizes step sizes: the effect is modest here
}

TEST_CASE("under logit adjustment SGD leaves a one-class client's head nearly still, AdamW does not") {
  auto o = tiny();
  auto bb = compute::backbone::create(o);
  auto one_class = one_class_shard();
  auto start = compute::init_adapter(o, 3);
  auto head_moved = [&](const std::string& optimizer, double logit_adjust) {
    compute::train_options t;
    t.optimizer = optimizer;
    t.lr = 1e-2;
    t.logit_adjust = logit_adjust;
    auto r = compute::train_local(*bb, start, one_class, t, 20, 1);
    return distance(part_of(r.adapter, true), part_of(start, true));
  };
  // The adjusted loss of a client holding one class is near zero from the
  // start; SGD's steps shrink with it, Adam's normalized steps do not.
  CHECK(head_moved("sgd", 1.0) < 0.2 * head_moved("sgd", 0.0));
  CHECK(head_moved("adamw", 1.0) > 0.5 * head_moved("adamw", 0.0));
}

TEST_CASE("an unknown local optimizer is refused by name") {
  training_setup s;
  compute::train_options t;
  t.optimizer = "lbfgs";
  CHECK_THROWS_WITH(s.train(t, 1), Catch::Contains("unknown optimizer 'lbfgs'"));
}

TEST_CASE("the executor's destructor returns only after every job and what it holds are gone") {
  // A job's captures (the runtime's hold actor handles) must not outlive the
  // executor's destructor: the actor system is destroyed right after it.
  auto released = std::make_shared<std::atomic<int>>(0);
  struct probe {
    std::shared_ptr<std::atomic<int>> flag;
    explicit probe(std::shared_ptr<std::atomic<int>> f) : flag(std::move(f)) {}
    ~probe() {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      flag->fetch_add(1);
    }
  };
  {
    compute::executor exec(2);
    for (int k = 0; k < 3; ++k) {
      auto p = std::make_shared<probe>(released);
      exec.submit(1, [p] {});
    }
  }
  CHECK(released->load() == 3);
}
