#pragma once
// Server optimizers on the round's aggregated change (Reddi et al., "Adaptive
// Federated Optimization"; FedAvgM: Hsu et al.). Plain arithmetic on adapter
// payloads, no libtorch.

#include <string>
#include <vector>

#include "serialization/adapter_payload.hpp"

namespace fedq::compute {

using serialization::adapter_payload;

struct server_opt_options {
  std::string kind = "none";  ///< none | avgm | adam | yogi
  double lr = 1.0;            ///< server learning rate eta
  double beta1 = 0.9;         ///< avgm: momentum; adam, yogi: first moment
  double beta2 = 0.99;        ///< adam, yogi: second moment
  double tau = 1e-3;          ///< adam, yogi: adaptivity (denominator floor)
};

/// Throws std::invalid_argument unless `kind` is none, avgm, adam or yogi.
void check_server_opt(const server_opt_options& o);

/// With delta = next - base (the round's average change of every value):
///   none: next as it is (FedAvg);
///   avgm: m = beta1 m + delta;                   next = base + lr m
///   adam: m = beta1 m + (1 - beta1) delta; v = beta2 v + (1 - beta2) delta^2
///   yogi: m as adam; v = v - (1 - beta2) delta^2 sign(v - delta^2)
///         adam, yogi: next = base + lr m / (sqrt(v) + tau)
/// The state is kept across rounds; every call must see adapters of the
/// same layout (throws std::invalid_argument otherwise).
class server_optimizer {
public:
  explicit server_optimizer(server_opt_options o);
  void apply(const adapter_payload& base, adapter_payload& next);

  /// The moments m and v, as a checkpoint keeps them, and back.
  std::vector<double> state() const;
  void restore(const std::vector<double>& state);

private:
  server_opt_options o_;
  std::vector<double> m_, v_;
};

} // namespace fedq::compute
