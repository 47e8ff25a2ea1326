#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/aggregator.hpp"
#include "actors/client.hpp"
#include "actors/evaluation.hpp"
#include "actors/server.hpp"
#include "compute/server_opt.hpp"
#include "compute/staleness.hpp"
#include "data/dataset.hpp"
#include "data/partition.hpp"
#include "scheduling/policy.hpp"

namespace fedq::actors {

/// The frozen backbone in every format a run may train on, by format name.
using backbone_set = std::map<std::string, std::shared_ptr<const compute::backbone>>;

/// Loads the backbone of `model` in its own format and, when the policy
/// adapts bits, in each of its formats. Throws what backbone::create throws.
backbone_set load_backbones(const compute::model_options& model,
                            const scheduling::policy_options& policy);

/// Everything one in-process run needs, already validated. It is the one
/// source of truth of a run: nothing reads the parsed config after it is made.
struct experiment_setup {
  server_options server;              ///< includes tiers and clients
  scheduling::policy_options policy;
  aggregator_options aggregator;      ///< staleness, weighting, server optimizer, rule
  compute::model_options model;       ///< the head fits the task (classes, regression)
  backbone_set backbones;             ///< loaded from `model` (load_backbones)
  compute::train_options train;
  data::task task;
  data::partition_options partition;  ///< how `shards` were drawn
  std::vector<data::client_shard> shards;  ///< per client: indices into task.train
  uint32_t compute_threads = 0;       ///< 0: one per core
  uint64_t adapter_seed = 1;
};

/// Changes the server's setup (its actors) before the server is spawned:
/// e.g. a test puts a proxy in front of a client.
using rewire_fn = std::function<void(caf::actor_system&, server_setup&)>;

/// A client's shard as the worker that holds it reports it, when the worker
/// read it from its own file (the server never sees the examples).
struct local_shard {
  uint32_t client = 0;
  uint32_t train = 0, test = 0;                        ///< examples
  std::vector<uint32_t> train_labels, test_labels;     ///< per class (or score bin)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, local_shard& x) {
  return f(caf::meta::type_name("local_shard"), x.client, x.train, x.test, x.train_labels,
           x.test_labels);
}

/// Where a run's clients live when they are not spawned in its own process
/// (fedq serve: in worker processes, over the network).
class client_host {
public:
  virtual ~client_host() = default;
  /// Adds what hosting needs to the actor system's config (the network layer).
  virtual void configure(caf::actor_system_config& cfg) = 0;
  /// Fills ss.clients (indexed like ss.opts.clients) and may set
  /// ss.presence; returns once the run may start. Throws
  /// std::runtime_error with the reason when it cannot.
  virtual void host(caf::actor_system& sys, server_setup& ss) = 0;
  /// The run is over (`how`: its summary, or why it failed); called after
  /// host() too when host() threw. Ends every actor it spawned.
  virtual void finish(caf::actor_system& sys, const std::string& how) = 0;
  /// The shards workers read from their own files (known once host() returned).
  virtual std::vector<local_shard> local_shards() const { return {}; }
};

/// What the server evaluates each round: the task's dev set and each
/// client's local test set.
eval_sets make_eval_sets(const experiment_setup& setup);

/// What one client's actor holds, taken from a run's setup.
client_setup make_client_setup(const experiment_setup& setup, uint32_t id, compute::executor* exec);

/// Checkpointing and resuming a run.
struct run_control {
  std::filesystem::path checkpoint_dir;     ///< not empty: a checkpoint after every round
  uint64_t config_hash = 0;                 ///< recorded in the checkpoints
  std::optional<server_checkpoint> resume;  ///< go on from here
  client_host* host = nullptr;              ///< not null: the clients live there
};

/// Spawns scheduler, aggregator, clients and server in one actor system,
/// runs to the end and returns the summary. Throws std::runtime_error with
/// the reason when the run fails.
run_summary run_experiment(const experiment_setup& setup, run_observer* observer,
                           const run_control& control = {}, const rewire_fn& rewire = {});

} // namespace fedq::actors
