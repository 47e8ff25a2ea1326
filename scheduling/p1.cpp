#include "scheduling/p1.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace fedq::scheduling {

namespace {

void check(const p1_problem& p) {
  size_t n = p.a.size();
  if (n == 0 || p.b.size() != n || p.cap.size() != n)
    throw std::invalid_argument("P1: a, b and cap must have one entry per client (and one client)");
  for (size_t i = 0; i < n; ++i) {
    if (!(p.b[i] > 0))
      throw std::invalid_argument("P1: b must be > 0 for every client");
    if (p.cap[i] < p.r_min)
      throw std::invalid_argument("P1: every client's cap must be >= r_min");
  }
}

double rank_at(const p1_problem& p, size_t i, double t) {
  return std::clamp((t - p.a[i]) / p.b[i], p.r_min, p.cap[i]);
}

std::vector<double> ranks_at(const p1_problem& p, double t) {
  std::vector<double> r(p.a.size());
  for (size_t i = 0; i < r.size(); ++i)
    r[i] = rank_at(p, i, t);
  return r;
}

double sum(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }

/// lo + theta (hi - lo), with theta putting the sum at `total`.
std::vector<double> blend(const std::vector<double>& lo, const std::vector<double>& hi, double total) {
  double s_lo = sum(lo), s_hi = sum(hi);
  double theta = s_hi > s_lo ? std::clamp((total - s_lo) / (s_hi - s_lo), 0.0, 1.0) : 0.0;
  std::vector<double> r(lo.size());
  for (size_t i = 0; i < r.size(); ++i)
    r[i] = lo[i] + theta * (hi[i] - lo[i]);
  return r;
}

} // namespace

double p1_feasible_total(const p1_problem& p) {
  double lo = p.r_min * static_cast<double>(p.a.size());
  return std::clamp(p.total, lo, std::max(lo, sum(p.cap)));
}

double p1_round_time(const p1_problem& p, const std::vector<double>& ranks) {
  double t = -INFINITY;
  for (size_t i = 0; i < ranks.size(); ++i)
    t = std::max(t, p.a[i] + p.b[i] * ranks[i]);
  return t;
}

double p1_round_time(const p1_problem& p, const std::vector<uint32_t>& ranks) {
  return p1_round_time(p, std::vector<double>(ranks.begin(), ranks.end()));
}

p1_solution solve_p1_waterfill(const p1_problem& p) {
  check(p);
  double total = p1_feasible_total(p);
  size_t n = p.a.size();
  // Every client takes at least r_min, so T >= t0 = max_n a_n + b_n r_min.
  double t0 = -INFINITY, t_hi = -INFINITY;
  for (size_t i = 0; i < n; ++i) {
    t0 = std::max(t0, p.a[i] + p.b[i] * p.r_min);
    t_hi = std::max(t_hi, p.a[i] + p.b[i] * p.cap[i]);
  }
  p1_solution s;
  auto at_t0 = ranks_at(p, t0);
  if (sum(at_t0) >= total) {
    // Any ranks between r_min and r_n(t0) finish by t0: scale them to the budget.
    s.ranks = blend(std::vector<double>(n, p.r_min), at_t0, total);
  } else {
    double lo = t0, hi = t_hi;
    for (int it = 0; it < 200 && hi - lo > 1e-13 * std::max(1.0, std::abs(hi)); ++it) {
      double mid = 0.5 * (lo + hi);
      (sum(ranks_at(p, mid)) < total ? lo : hi) = mid;
    }
    s.ranks = blend(ranks_at(p, lo), ranks_at(p, hi), total);
  }
  s.round_s = p1_round_time(p, s.ranks);
  return s;
}

std::vector<uint32_t> round_ranks(const p1_problem& p, const std::vector<double>& x) {
  check(p);
  size_t n = p.a.size();
  auto target = static_cast<int64_t>(std::llround(p1_feasible_total(p)));
  std::vector<uint32_t> r(n);
  int64_t have = 0;
  for (size_t i = 0; i < n; ++i) {
    double v = std::clamp(x[i], p.r_min, p.cap[i]);
    r[i] = static_cast<uint32_t>(std::floor(v + 1e-9));
    r[i] = std::max<uint32_t>(r[i], static_cast<uint32_t>(std::ceil(p.r_min)));
    have += r[i];
  }
  // Residual units go to the largest fractional parts first, then round robin.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t i, size_t j) {
    return x[i] - std::floor(x[i]) > x[j] - std::floor(x[j]);
  });
  bool moved = true;
  while (have < target && moved) {
    moved = false;
    for (size_t i : order) {
      if (have >= target)
        break;
      if (r[i] + 1 <= p.cap[i]) {
        ++r[i];
        ++have;
        moved = true;
      }
    }
  }
  // Over the budget (floors lifted to r_min): take back from the largest slack.
  moved = true;
  while (have > target && moved) {
    moved = false;
    for (auto it = order.rbegin(); it != order.rend() && have > target; ++it)
      if (r[*it] > p.r_min) {
        --r[*it];
        --have;
        moved = true;
      }
  }
  return r;
}

} // namespace fedq::scheduling
