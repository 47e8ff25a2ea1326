#include <catch2/catch.hpp>

#include <cmath>

#include "data/fairness.hpp"
#include "data/metrics.hpp"

using namespace fedq::data;

TEST_CASE("accuracy and positive-class F1 match hand-computed values") {
  std::vector<int32_t> gold{1, 1, 1, 0, 0, 0, 1, 0};
  std::vector<int32_t> pred{1, 0, 1, 0, 1, 0, 1, 0};
  CHECK(accuracy(pred, gold) == Approx(6.0 / 8));
  // tp 3, fp 1, fn 1: F1 = 6 / 8
  CHECK(f1_positive(pred, gold) == Approx(0.75));
  CHECK(f1_positive({0, 0}, {0, 0}) == 0.0);
}

TEST_CASE("Matthews correlation matches a hand-computed CoLA-like case") {
  // tp 6, tn 3, fp 2, fn 1
  std::vector<int32_t> gold{1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0};
  std::vector<int32_t> pred{1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1};
  double expected = (6.0 * 3 - 2.0 * 1) / std::sqrt(8.0 * 7 * 5 * 4);
  CHECK(matthews(pred, gold) == Approx(expected));
  CHECK(matthews(gold, gold) == Approx(1.0));
  CHECK(matthews({1, 1, 1}, {1, 0, 1}) == 0.0);  // a constant prediction: 0, as sklearn
}

TEST_CASE("Pearson and Spearman match hand-computed STS-B-like values with ties") {
  std::vector<double> x{1, 2, 3, 4, 5};
  std::vector<double> y{2, 4, 5, 4, 5};
  // mean y = 4; sxy = 6; sxx = 10; syy = 6
  CHECK(pearson(x, y) == Approx(6.0 / std::sqrt(60.0)));
  // ranks of y with ties: 2->1, 4->2.5, 5->4.5 => {1, 2.5, 4.5, 2.5, 4.5}
  CHECK(average_ranks(y) == std::vector<double>{1, 2.5, 4.5, 2.5, 4.5});
  // Pearson of {1..5} and those ranks (both mean 3): sxy = 4 + 0.5 + 0 - 0.5 + 3 = 7,
  // sxx = 10, syy = 4 + 0.25 + 2.25 + 0.25 + 2.25 = 9
  CHECK(spearman(x, y) == Approx(7.0 / std::sqrt(90.0)));
  CHECK(spearman(x, {10, 20, 30, 40, 50}) == Approx(1.0));
}

TEST_CASE("metrics refuse inputs of different lengths") {
  CHECK_THROWS(accuracy({1, 0}, {1}));
  CHECK_THROWS(pearson({1.0, 2.0}, {1.0}));
}

namespace {

dataset labelled(std::vector<int32_t> labels) {
  dataset d;
  for (auto l : labels)
    d.items.push_back({"t", "", l, 0});
  return d;
}

} // namespace

TEST_CASE("a task score is its official metric and two-part metrics average their parts") {
  auto gold = labelled({1, 1, 1, 0, 0, 0, 1, 0});
  predictions p;
  p.labels = {1, 0, 1, 0, 1, 0, 1, 0};
  auto mrpc = score_task(metric_kind::f1_accuracy, gold, p);
  CHECK(mrpc.score == Approx((0.75 + 0.75) / 2));
  REQUIRE(mrpc.parts.size() == 2);
  CHECK(mrpc.parts[0].first == "f1");
  p.labels = {1, 1, 1, 1, 1, 1, 1, 0};  // tp 4, fp 3, tn 1, fn 0
  CHECK(score_task(metric_kind::f1_accuracy, gold, p).parts[0].second == Approx(8.0 / 11));
  CHECK(score_task(metric_kind::accuracy, gold, p).score == Approx(5.0 / 8));
  CHECK(score_task(metric_kind::matthews, gold, p).score ==
        Approx((4.0 * 1 - 3.0 * 0) / std::sqrt(7.0 * 4 * 4 * 1)));
  dataset sts;
  sts.kind = task_kind::regression;
  for (float y : {2.0f, 4.0f, 5.0f, 4.0f, 5.0f})
    sts.items.push_back({"a", "b", 0, y});
  predictions r;
  r.scores = {1, 2, 3, 4, 5};
  auto s = score_task(metric_kind::pearson_spearman, sts, r);
  CHECK(s.score == Approx((6.0 / std::sqrt(60.0) + 7.0 / std::sqrt(90.0)) / 2));
  CHECK(client_score(sts, r) == Approx(6.0 / std::sqrt(60.0)));
}

TEST_CASE("fairness figures match hand-computed values") {
  auto f = summarize_fairness({0.5, 1.0, 0.75, 0.25});
  CHECK(f.clients == 4);
  CHECK(f.mean == Approx(0.625));
  CHECK(f.worst == Approx(0.25));
  CHECK(f.p10 == Approx(0.325));    // sorted .25 .5 .75 1; position 0.3
  CHECK(f.p50 == Approx(0.625));
  CHECK(f.stddev == Approx(std::sqrt(0.3125 / 4)));
  CHECK(f.jain == Approx(2.5 * 2.5 / (4 * 1.875)));
  CHECK(summarize_fairness({0.8, 0.8, 0.8}).jain == Approx(1.0));
  CHECK(summarize_fairness({1, 0, 0, 0}).jain == Approx(0.25));  // one client served: 1/n
  CHECK(summarize_fairness({}).clients == 0);
}
