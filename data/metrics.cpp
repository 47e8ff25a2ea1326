#include "data/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace fedq::data {

namespace {

template <class T>
void check_sizes(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size())
    throw std::invalid_argument("metric: predictions and labels differ in length");
}

struct confusion {
  double tp = 0, tn = 0, fp = 0, fn = 0;
};

confusion count(const std::vector<int32_t>& pred, const std::vector<int32_t>& gold) {
  check_sizes(pred, gold);
  confusion c;
  for (size_t i = 0; i < pred.size(); ++i) {
    bool p = pred[i] == 1, g = gold[i] == 1;
    (p ? (g ? c.tp : c.fp) : (g ? c.fn : c.tn)) += 1;
  }
  return c;
}

} // namespace

double accuracy(const std::vector<int32_t>& pred, const std::vector<int32_t>& gold) {
  check_sizes(pred, gold);
  if (pred.empty())
    return 0;
  size_t hit = 0;
  for (size_t i = 0; i < pred.size(); ++i)
    hit += pred[i] == gold[i];
  return static_cast<double>(hit) / pred.size();
}

double f1_positive(const std::vector<int32_t>& pred, const std::vector<int32_t>& gold) {
  auto c = count(pred, gold);
  double denom = 2 * c.tp + c.fp + c.fn;
  return denom > 0 ? 2 * c.tp / denom : 0;
}

double matthews(const std::vector<int32_t>& pred, const std::vector<int32_t>& gold) {
  auto c = count(pred, gold);
  double denom = (c.tp + c.fp) * (c.tp + c.fn) * (c.tn + c.fp) * (c.tn + c.fn);
  return denom > 0 ? (c.tp * c.tn - c.fp * c.fn) / std::sqrt(denom) : 0;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  check_sizes(x, y);
  if (x.empty())
    return 0;
  double n = static_cast<double>(x.size());
  double mx = std::accumulate(x.begin(), x.end(), 0.0) / n;
  double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : 0;
}

std::vector<double> average_ranks(const std::vector<double>& x) {
  std::vector<size_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
  std::vector<double> rank(x.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && x[order[j + 1]] == x[order[i]])
      ++j;
    double avg = (i + j) / 2.0 + 1.0;  // ranks i+1 .. j+1 share their mean
    for (size_t k = i; k <= j; ++k)
      rank[order[k]] = avg;
    i = j + 1;
  }
  return rank;
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  check_sizes(x, y);
  return pearson(average_ranks(x), average_ranks(y));
}

namespace {

std::vector<int32_t> gold_labels(const dataset& d) {
  std::vector<int32_t> out;
  out.reserve(d.items.size());
  for (const auto& e : d.items)
    out.push_back(e.label);
  return out;
}

std::vector<double> gold_scores(const dataset& d) {
  std::vector<double> out;
  out.reserve(d.items.size());
  for (const auto& e : d.items)
    out.push_back(e.score);
  return out;
}

} // namespace

task_score score_task(metric_kind metric, const dataset& gold, const predictions& p) {
  auto two = [](const char* a, double x, const char* b, double y) {
    return task_score{(x + y) / 2, {{a, x}, {b, y}}};
  };
  switch (metric) {
  case metric_kind::accuracy: {
    double acc = accuracy(p.labels, gold_labels(gold));
    return {acc, {{"accuracy", acc}}};
  }
  case metric_kind::f1_accuracy: {
    auto g = gold_labels(gold);
    return two("f1", f1_positive(p.labels, g), "accuracy", accuracy(p.labels, g));
  }
  case metric_kind::matthews: {
    double mcc = matthews(p.labels, gold_labels(gold));
    return {mcc, {{"matthews", mcc}}};
  }
  case metric_kind::pearson_spearman: {
    auto g = gold_scores(gold);
    return two("pearson", pearson(p.scores, g), "spearman", spearman(p.scores, g));
  }
  }
  throw std::invalid_argument("score_task: unknown metric");
}

double client_score(const dataset& gold, const predictions& p) {
  return gold.kind == task_kind::regression ? pearson(p.scores, gold_scores(gold))
                                            : accuracy(p.labels, gold_labels(gold));
}

const char* metric_name(metric_kind metric) {
  switch (metric) {
  case metric_kind::accuracy: return "accuracy";
  case metric_kind::f1_accuracy: return "mean of F1 and accuracy";
  case metric_kind::matthews: return "Matthews correlation";
  case metric_kind::pearson_spearman: return "mean of Pearson and Spearman";
  }
  return "?";
}

} // namespace fedq::data
