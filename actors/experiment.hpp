#pragma once

#include <cstdint>
#include <vector>

#include "actors/server.hpp"
#include "compute/staleness.hpp"
#include "data/dataset.hpp"
#include "data/partition.hpp"
#include "scheduling/policy.hpp"

namespace fedq::actors {

/// Everything one in-process run needs, already validated.
struct experiment_setup {
  server_options server;              ///< includes tiers and clients
  scheduling::policy_options policy;
  compute::staleness_options staleness;
  bool norm_weighting = false;        ///< aggregate by ||B A|| (HetLoRA) instead of samples
  compute::model_options model;
  compute::train_options train;
  data::task task;
  std::vector<data::client_shard> shards;  ///< per client: indices into task.train
  uint32_t compute_threads = 0;       ///< 0: one per core
  uint64_t adapter_seed = 1;
};

/// Spawns scheduler, aggregator, clients and server in one actor system,
/// runs to the end and returns the summary. Throws std::runtime_error with
/// the reason when the run fails.
run_summary run_experiment(const experiment_setup& setup, run_observer* observer);

} // namespace fedq::actors
