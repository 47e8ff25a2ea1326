#include "compute/staleness.hpp"

#include <cmath>
#include <stdexcept>

namespace fedq::compute {

double staleness_scale(const staleness_options& o, uint64_t tau) {
  double t = static_cast<double>(tau);
  switch (o.fn) {
    case staleness_fn::constant:
      return 1.0;
    case staleness_fn::polynomial:
      return std::pow(t + 1.0, -o.a);
    case staleness_fn::hinge:
      return t <= o.b ? 1.0 : 1.0 / (o.a * (t - o.b) + 1.0);
  }
  return 1.0;
}

late_decision judge_late(const staleness_options& o, uint64_t tau) {
  if (tau > o.max_staleness)
    return {false, 0.0,
            "staleness " + std::to_string(tau) + " exceeds aggregator.max_staleness " +
              std::to_string(o.max_staleness)};
  return {true, o.alpha * staleness_scale(o, tau), {}};
}

staleness_fn parse_staleness_fn(const std::string& name) {
  if (name == "constant")
    return staleness_fn::constant;
  if (name == "polynomial")
    return staleness_fn::polynomial;
  if (name == "hinge")
    return staleness_fn::hinge;
  throw std::invalid_argument("unknown staleness function '" + name +
                              "' (known: constant, polynomial, hinge)");
}

} // namespace fedq::compute
