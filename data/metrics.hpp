#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "data/dataset.hpp"

namespace fedq::data {

/// GLUE's metrics, computed as GLUE computes them (scikit-learn / scipy
/// definitions). Degenerate inputs (no positives, constant vectors) give 0.

/// Fraction of predictions equal to the labels.
double accuracy(const std::vector<int32_t>& pred, const std::vector<int32_t>& gold);

/// F1 of the positive class (label 1): 2 tp / (2 tp + fp + fn).
double f1_positive(const std::vector<int32_t>& pred, const std::vector<int32_t>& gold);

/// Matthews correlation coefficient of binary predictions (CoLA).
double matthews(const std::vector<int32_t>& pred, const std::vector<int32_t>& gold);

/// Pearson correlation (STS-B).
double pearson(const std::vector<double>& x, const std::vector<double>& y);

/// Spearman correlation: Pearson of the ranks, ties given their average rank (STS-B).
double spearman(const std::vector<double>& x, const std::vector<double>& y);

/// Ranks 1..n of `x`, ties sharing their average rank.
std::vector<double> average_ranks(const std::vector<double>& x);

/// A model's outputs on a dataset, in its order: classes (classification) or
/// scores (regression).
struct predictions {
  std::vector<int32_t> labels;
  std::vector<double> scores;
};

/// A task's official score and the parts it is made of (name, value).
struct task_score {
  double score = 0;
  std::vector<std::pair<std::string, double>> parts;
};

/// Scores `p` against `gold` with `metric` (see metric_kind).
task_score score_task(metric_kind metric, const dataset& gold, const predictions& p);

/// The per-client score behind fairness figures: accuracy (classification) or
/// Pearson (regression). Official metrics such as Matthews or F1 degenerate
/// on a client's small, skewed local test set.
double client_score(const dataset& gold, const predictions& p);

const char* metric_name(metric_kind metric);

} // namespace fedq::data
