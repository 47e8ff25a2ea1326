#pragma once

#include <cstdint>
#include <vector>

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

} // namespace fedq::data
