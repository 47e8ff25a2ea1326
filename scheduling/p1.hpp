#pragma once
// FAH-QLoRA's stage-2 problem P1: per-client ranks that minimize the round
// time T under a total-rank budget,
//   minimize T  s.t.  T >= a_n + b_n r_n,  sum_n r_n = total,  r_min <= r_n <= cap_n,
// relaxed to continuous ranks, then rounded with the sum kept.

#include <cstdint>
#include <string>
#include <vector>

namespace fedq::scheduling {

struct p1_problem {
  std::vector<double> a;    ///< per client: time at rank 0 (alpha_n + L0/b_down)
  std::vector<double> b;    ///< per client: seconds per unit of rank (> 0)
  std::vector<double> cap;  ///< per client: largest rank (memory), >= r_min
  double r_min = 1;
  double total = 0;         ///< sum of ranks; clipped to [N r_min, sum cap]
};

struct p1_solution {
  std::vector<double> ranks;  ///< continuous
  double round_s = 0;         ///< max_n a_n + b_n r_n
  uint32_t iterations = 0;    ///< IPOPT's iteration count (0: water-filling)
  std::string status;         ///< IPOPT's return status, e.g. "solved"; "" for water-filling
};

/// The budget actually used: `total` clipped to what the bounds allow.
double p1_feasible_total(const p1_problem& p);

/// Exact solution by bisection on T (water-filling): r_n(T) =
/// clip((T - a_n) / b_n, r_min, cap_n) and sum_n r_n(T) grows with T.
/// O(N log(1/eps)). Throws std::invalid_argument for malformed input.
p1_solution solve_p1_waterfill(const p1_problem& p);

/// The same relaxation solved by the interior-point solver IPOPT (the
/// stand-in for FAH-QLoRA's CVX). Throws std::runtime_error if IPOPT fails.
p1_solution solve_p1_ipopt(const p1_problem& p);

/// Integer ranks from continuous ones: floors, then the units still missing
/// from round(total) go to the largest fractional parts (within the caps).
std::vector<uint32_t> round_ranks(const p1_problem& p, const std::vector<double>& x);

/// max_n a_n + b_n r_n.
double p1_round_time(const p1_problem& p, const std::vector<double>& ranks);
double p1_round_time(const p1_problem& p, const std::vector<uint32_t>& ranks);

} // namespace fedq::scheduling
