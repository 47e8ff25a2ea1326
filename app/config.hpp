#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "actors/experiment.hpp"

namespace fedq::app {

/// A configuration the run cannot start with; the message names the file (or
/// --set), the line where known, the key, and what would be accepted.
struct config_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Every setting of `fedq run`, parsed once from TOML. Defaults here are the
/// defaults of a config that omits a key (configs/quickstart.toml shows all).
struct experiment_config {
  uint64_t seed = 1;
  struct run_section {
    uint32_t rounds = 30;
    uint32_t clients_per_round = 0;
    double target = 0.75;
    bool stop_at_target = false;
    double max_clock_s = 0;
    std::string clock = "virtual";
    uint32_t compute_threads = 0;
    uint32_t fairness_every = 1;
  } run;
  struct round_section {
    std::string mode = "deadline";       ///< sync | deadline | buffered | async
    double deadline_s = 30.0;
    uint32_t buffer_size = 4;            ///< buffered, async: K arrivals per window (FedBuff's K)
  } round;
  scheduling::policy_options scheduler;
  struct aggregator_section {
    std::string staleness = "polynomial";
    double alpha = 0.6;
    double a = 0.5;
    double b = 10;
    uint32_t max_staleness = 8;
    double max_update_norm = 0;         ///< > 0: refuse updates above this L2 norm
    std::string weighting = "samples";  ///< samples | norm (HetLoRA: ||B A||_F)
    std::string rule = "fedavg";        ///< fedavg | flexlora (product space, SVD)
    std::string late = "mix";           ///< deadline rounds: mix (FedAsync) | delta (the late change, by data share)
    compute::server_opt_options server_opt;
  } aggregator;
  compute::model_options model;
  compute::train_options train;
  struct data_section {
    std::string task = "synthetic";     ///< synthetic, or a GLUE task (data::glue_tasks)
    std::string dir;                    ///< the GLUE folder
    std::string partition = "dirichlet";
    double dirichlet_alpha = 0.5;
    uint32_t labels_per_client = 2;     ///< partition = shards
    double quantity_power = 1.5;        ///< partition = quantity
    uint32_t min_samples = 16;
    double test_fraction = 0.2;         ///< of each client's shard kept as its local test set
    uint32_t score_bins = 5;            ///< regression tasks: partition labels are score bins
    uint32_t samples_per_client = 160;  ///< synthetic: examples generated per client
    uint32_t eval_samples = 400;        ///< synthetic: eval examples generated
    uint32_t dev_limit = 0;             ///< GLUE: evaluate on the first N dev rows; 0 = all (official)
  } data;
  scheduling::cost_options cost;
  std::vector<scheduling::tier_profile> tiers = scheduling::default_tiers(2, 2, 2);
};

/// Reads `path`, applies `overrides` ("key=value", TOML values; bare words are
/// strings), validates. Throws config_error.
experiment_config load_config(const std::string& path, const std::vector<std::string>& overrides);

/// The same, from TOML text (`source` names it in errors).
experiment_config parse_config(const std::string& toml_text, const std::string& source,
                               const std::vector<std::string>& overrides);

/// The effective configuration as TOML, every key present.
std::string to_toml(const experiment_config& c);

/// The clients of all tiers.
uint32_t client_count(const experiment_config& c);

/// The task's data: the built-in synthetic task, or a GLUE task read from
/// data.dir (its dev set cut to data.dev_limit).
data::task load_task(const experiment_config& c);

/// The partition the config asks for, and the partition it draws from a
/// task's training set (config_error when it cannot be drawn, saying why).
data::partition_options partition_options_of(const experiment_config& c);
std::vector<data::client_shard> draw_partition(const data::task& task, const data::partition_options& po);

/// Loads the task's data, partitions it and fills an experiment setup.
/// Throws config_error (or data errors) with the reason.
actors::experiment_setup make_setup(const experiment_config& c);

} // namespace fedq::app
