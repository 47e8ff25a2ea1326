// From a validated config to the setup of a run: the task read, the
// partition drawn, the backbones loaded.
#include "app/config.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "data/glue.hpp"
#include "data/partition.hpp"
#include "data/synthetic_task.hpp"

namespace fedq::app {

uint32_t client_count(const experiment_config& c) {
  uint32_t clients = 0;
  for (const auto& t : c.tiers)
    clients += t.count;
  return clients;
}

data::task load_task(const experiment_config& c) {
  if (c.data.task == "synthetic")
    return data::synthetic_task(client_count(c) * c.data.samples_per_client, c.data.eval_samples, c.seed);
  auto task = data::glue_task(c.data.task, c.data.dir);
  spdlog::info("data: {} read {} train rows and {} dev rows from {}", c.data.task,
               task.train.items.size(), task.eval.items.size(), c.data.dir);
  if (c.data.dev_limit > 0 && c.data.dev_limit < task.eval.items.size()) {
    spdlog::warn("data: evaluating on the first {} of {} dev rows (data.dev_limit); scores are "
                 "not the official dev score", c.data.dev_limit, task.eval.items.size());
    task.eval.items.resize(c.data.dev_limit);
  }
  return task;
}

data::partition_options partition_options_of(const experiment_config& c) {
  data::partition_options po;
  po.kind = data::parse_partition_kind(c.data.partition);
  po.clients = client_count(c);
  po.alpha = c.data.dirichlet_alpha;
  po.labels_per_client = c.data.labels_per_client;
  po.power = c.data.quantity_power;
  po.min_samples = c.data.min_samples;
  po.test_fraction = c.data.test_fraction;
  po.score_bins = c.data.score_bins;
  po.seed = c.seed;
  return po;
}

std::vector<data::client_shard> draw_partition(const data::task& task, const data::partition_options& po) {
  try {
    return data::partition(task.train, po);
  } catch (const std::invalid_argument& e) {
    throw config_error(e.what());
  }
}

actors::experiment_setup make_setup(const experiment_config& c) {
  actors::experiment_setup s;
  s.task = load_task(c);
  auto po = partition_options_of(c);
  s.shards = draw_partition(s.task, po);
  s.partition = po;

  s.model = c.model;
  s.model.regression = s.task.train.kind == data::task_kind::regression;
  s.model.classes = s.model.regression ? 1 : s.task.train.num_classes;
  if (s.model.pair == "siamese" &&
      std::none_of(s.task.train.items.begin(), s.task.train.items.end(), [](const auto& e) { return !e.text_b.empty(); }))
    throw config_error("model.pair: siamese encodes the two sentences of a pair apart, and data.task '" + c.data.task +
                       "' has single sentences; use joined (the default) or a pair task (mrpc, rte, stsb)");
  s.model.r_max = c.scheduler.r_max;
  s.model.seed = c.seed;
  s.train = c.train;
  s.policy = c.scheduler;
  s.policy.deadline_s = c.round.deadline_s;
  s.policy.bits = c.model.bits;
  auto& ag = s.aggregator;
  ag.staleness.fn = compute::parse_staleness_fn(c.aggregator.staleness);
  ag.staleness.alpha = c.aggregator.alpha;
  ag.staleness.a = c.aggregator.a;
  ag.staleness.b = c.aggregator.b;
  ag.staleness.max_staleness = c.aggregator.max_staleness;
  ag.by = c.aggregator.weighting == "norm" ? actors::weighting::norm : actors::weighting::samples;
  ag.server_opt = c.aggregator.server_opt;
  ag.rule = c.aggregator.rule == "flexlora" ? actors::aggregation_rule::flexlora
                                            : actors::aggregation_rule::fedavg;
  if (c.scheduler.name == "hetlora") { // HetLoRA: self-pruning clients, norm-weighted rounds
    s.train.prune_penalty = c.scheduler.prune_penalty;
    s.train.prune_keep = c.scheduler.prune_keep;
    s.train.prune_threshold = c.scheduler.prune_threshold;
    ag.by = actors::weighting::norm;
  }
  s.compute_threads = c.run.compute_threads;
  s.adapter_seed = c.seed + 1;
  try { // a missing or corrupt checkpoint is bad input, found before any output is written
    s.backbones = actors::load_backbones(s.model, s.policy);
  } catch (const std::exception& e) {
    throw config_error(std::string("model.checkpoint: ") + e.what());
  }

  auto& o = s.server;
  o.mode = actors::parse_round_mode(c.round.mode);
  o.buffer_size = c.round.buffer_size;
  o.clock = c.run.clock == "wall" ? actors::clock_kind::wall : actors::clock_kind::virtual_clock;
  o.rounds = c.run.rounds;
  o.clients_per_round = c.run.clients_per_round;
  o.target = c.run.target;
  o.stop_at_target = c.run.stop_at_target;
  o.max_clock_s = c.run.max_clock_s;
  o.fairness_every = c.run.fairness_every;
  o.r_max = c.scheduler.r_max;
  o.r_min = c.scheduler.r_min;
  o.max_update_norm = c.aggregator.max_update_norm;
  o.late_delta = c.aggregator.late == "delta";
  o.seed = c.seed;
  o.tokens_per_step = s.train.batch_size * s.model.max_len;
  o.payload = compute::adapter_size(s.model);
  o.cost = c.cost;
  o.tiers = c.tiers;
  for (uint32_t tier = 0; tier < c.tiers.size(); ++tier)
    for (uint32_t k = 0; k < c.tiers[tier].count; ++k) {
      auto id = static_cast<uint32_t>(o.clients.size());
      o.clients.push_back({id, tier, static_cast<uint32_t>(s.shards[id].train.size())});
    }
  return s;
}

} // namespace fedq::app
