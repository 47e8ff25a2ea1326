#pragma once

#include <cstdint>
#include <string>

namespace fedq::compute {

/// FedAsync staleness functions s(tau).
enum class staleness_fn { constant, polynomial, hinge };

struct staleness_options {
  staleness_fn fn = staleness_fn::polynomial;
  double alpha = 0.6;          ///< mixing weight of a fresh update
  double a = 0.5;              ///< polynomial exponent / hinge slope
  double b = 10;               ///< hinge: staleness tolerated at full weight
  uint32_t max_staleness = 8;  ///< older updates are rejected
};

/// s(tau): constant 1; polynomial (tau + 1)^-a; hinge 1 if tau <= b else 1 / (a (tau - b) + 1).
double staleness_scale(const staleness_options& o, uint64_t tau);

/// What to do with an update `tau` global versions behind.
struct late_decision {
  bool accept = false;
  double weight = 0;   ///< alpha * s(tau) when accepted
  std::string reason;  ///< why it was rejected
};

late_decision judge_late(const staleness_options& o, uint64_t tau);

/// "constant" | "polynomial" | "hinge"; throws std::invalid_argument otherwise.
staleness_fn parse_staleness_fn(const std::string& name);

} // namespace fedq::compute
