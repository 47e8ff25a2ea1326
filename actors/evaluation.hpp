#pragma once
// The server's evaluation of the global adapter: the task's official score on
// its dev set, and each client's score on its local test set (fairness).

#include <string>
#include <utility>
#include <vector>

#include "compute/model.hpp"
#include "data/dataset.hpp"
#include "data/fairness.hpp"

namespace fedq::actors {

struct eval_sets {
  data::dataset global;                ///< the task's dev set
  data::metric_kind metric = data::metric_kind::accuracy;
  std::vector<data::dataset> clients;  ///< local test set per client (may be empty)
};

struct evaluation {
  double score = 0;  ///< official metric on the dev set
  double loss = 0;
  std::vector<std::pair<std::string, double>> parts;
  std::vector<double> client_scores;  ///< per client with a local test set, in client order
  data::fairness fairness;            ///< of client_scores
};

/// Evaluates `adapter` on every set. The per-client scores are a measurement
/// of the experiment (they take no clock time), not messages of the protocol.
evaluation evaluate_global(const compute::backbone& bb, const serialization::adapter_payload& adapter,
                           const eval_sets& sets);

/// The dev set only (client_scores stay empty, fairness zero).
evaluation evaluate_dev(const compute::backbone& bb, const serialization::adapter_payload& adapter,
                        const eval_sets& sets);

/// Adds every client's score on its local test set, and their fairness, to `e`.
void evaluate_clients(const compute::backbone& bb, const serialization::adapter_payload& adapter,
                      const eval_sets& sets, evaluation& e);

} // namespace fedq::actors
