#include "app/config.hpp"

#include <algorithm>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "app/toml_fields.hpp"
#include "data/glue.hpp"
#include "data/partition.hpp"
#include "scheduling/environment.hpp"

namespace fedq::app {

namespace {

/// The one list of scalar settings: reading, unknown-key checks and writing
/// the effective config all walk it.
template <class F>
void fields(experiment_config& c, F&& f) {
  f("seed", c.seed);
  f("run.rounds", c.run.rounds);
  f("run.clients_per_round", c.run.clients_per_round);
  f("run.target", c.run.target);
  f("run.stop_at_target", c.run.stop_at_target);
  f("run.max_clock_s", c.run.max_clock_s);
  f("run.clock", c.run.clock);
  f("run.compute_threads", c.run.compute_threads);
  f("run.fairness_every", c.run.fairness_every);
  f("round.mode", c.round.mode);
  f("round.deadline_s", c.round.deadline_s);
  f("round.buffer_size", c.round.buffer_size);
  f("scheduler.policy", c.scheduler.name);
  f("scheduler.rank", c.scheduler.rank);
  f("scheduler.r_min", c.scheduler.r_min);
  f("scheduler.r_max", c.scheduler.r_max);
  f("scheduler.local_steps", c.scheduler.local_steps);
  f("scheduler.percentile", c.scheduler.percentile);
  f("scheduler.ewma", c.scheduler.ewma);
  f("scheduler.r_init", c.scheduler.r_init);
  f("scheduler.rank_step", c.scheduler.rank_step);
  f("scheduler.tier_ranks", c.scheduler.tier_ranks);
  f("scheduler.prune_penalty", c.scheduler.prune_penalty);
  f("scheduler.prune_keep", c.scheduler.prune_keep);
  f("scheduler.prune_threshold", c.scheduler.prune_threshold);
  f("scheduler.on_time_target", c.scheduler.on_time_target);
  f("scheduler.safety", c.scheduler.safety);
  f("scheduler.min_steps", c.scheduler.min_steps);
  f("scheduler.adapt_bits", c.scheduler.adapt_bits);
  f("scheduler.bandit", c.scheduler.bandit);
  f("scheduler.bits_choices", c.scheduler.bits_choices);
  f("aggregator.staleness", c.aggregator.staleness);
  f("aggregator.alpha", c.aggregator.alpha);
  f("aggregator.a", c.aggregator.a);
  f("aggregator.b", c.aggregator.b);
  f("aggregator.max_staleness", c.aggregator.max_staleness);
  f("aggregator.max_update_norm", c.aggregator.max_update_norm);
  f("aggregator.weighting", c.aggregator.weighting);
  f("aggregator.rule", c.aggregator.rule);
  f("aggregator.late", c.aggregator.late);
  f("aggregator.server_opt", c.aggregator.server_opt.kind);
  f("aggregator.server_lr", c.aggregator.server_opt.lr);
  f("aggregator.server_beta1", c.aggregator.server_opt.beta1);
  f("aggregator.server_beta2", c.aggregator.server_opt.beta2);
  f("aggregator.server_tau", c.aggregator.server_opt.tau);
  f("model.checkpoint", c.model.checkpoint);
  f("model.bits", c.model.bits);
  f("model.double_quant", c.model.double_quant);
  f("model.d_model", c.model.d_model);
  f("model.layers", c.model.layers);
  f("model.heads", c.model.heads);
  f("model.kv_heads", c.model.kv_heads);
  f("model.ffn", c.model.ffn);
  f("model.max_len", c.model.max_len);
  f("model.pooling", c.model.pooling);
  f("model.pair", c.model.pair);
  f("model.lora_alpha", c.model.lora_alpha);
  f("model.targets", c.model.targets);
  f("train.lr", c.train.lr);
  f("train.head_lr", c.train.head_lr);
  f("train.optimizer", c.train.optimizer);
  f("train.momentum", c.train.momentum);
  f("train.weight_decay", c.train.weight_decay);
  f("train.batch_size", c.train.batch_size);
  f("train.prox_mu", c.train.prox_mu);
  f("train.logit_adjust", c.train.logit_adjust);
  f("train.freeze_a", c.train.freeze_a);
  f("train.checkpointing", c.train.checkpointing);

  f("data.task", c.data.task);
  f("data.dir", c.data.dir);
  f("data.partition", c.data.partition);
  f("data.dirichlet_alpha", c.data.dirichlet_alpha);
  f("data.labels_per_client", c.data.labels_per_client);
  f("data.quantity_power", c.data.quantity_power);
  f("data.min_samples", c.data.min_samples);
  f("data.test_fraction", c.data.test_fraction);
  f("data.score_bins", c.data.score_bins);
  f("data.samples_per_client", c.data.samples_per_client);
  f("data.eval_samples", c.data.eval_samples);
  f("data.dev_limit", c.data.dev_limit);
  f("cost.step_base_s", c.cost.step_base_s);
  f("cost.step_per_rank_s", c.cost.step_per_rank_s);
  f("cost.ref_tokens", c.cost.ref_tokens);
  f("cost.nf4_factor", c.cost.nf4_factor);
  f("cost.int8_factor", c.cost.int8_factor);
  f("cost.bf16_factor", c.cost.bf16_factor);
  f("cost.fp32_factor", c.cost.fp32_factor);
}

template <class F>
void tier_fields(scheduling::tier_profile& t, F&& f) {
  f("name", t.name);
  f("count", t.count);
  f("compute_factor", t.compute_factor);
  f("memory_gb", t.memory_gb);
  f("up_mbps", t.up_mbps);
  f("down_mbps", t.down_mbps);
  f("latency_s", t.latency_s);
  f("jitter", t.jitter);
  f("threads", t.threads);
  f("bandwidth", t.bandwidth);
  f("online_s", t.online_s);
  f("offline_s", t.offline_s);
  f("availability", t.availability);
}

std::vector<scheduling::tier_profile> read_tiers(const toml::node& n) {
  auto* arr = n.as_array();
  if (!arr || !arr->is_array_of_tables())
    bad(n, "tiers", "an array of tables ([[tiers]])");
  auto defaults = scheduling::default_tiers(0, 0, 0);
  std::vector<scheduling::tier_profile> out;
  for (const auto& e : *arr) {
    const auto& tbl = *e.as_table();
    scheduling::tier_profile t = defaults.front();
    if (auto name = tbl["name"].value<std::string>())
      for (const auto& d : defaults)
        if (d.name == *name)
          t = d;
    std::set<std::string> known;
    tier_fields(t, [&](const char* key, auto& v) {
      known.insert(key);
      if (auto* node = tbl.get(key))
        read_value(*node, std::string("tiers.") + key, v);
    });
    for (const auto& [k, node] : tbl)
      if (!known.count(std::string(k.str())))
        throw config_error(where(node) + ": unknown key 'tiers." + std::string(k.str()) +
                           "' (known: name, count, compute_factor, memory_gb, up_mbps, "
                           "down_mbps, latency_s, jitter, threads, bandwidth, online_s, offline_s, "
                           "availability)");
    if (t.name.empty())
      throw config_error(where(e) + ": every [[tiers]] needs a name");
    auto fail = [&](const std::string& what) {
      throw config_error(where(e) + ": tier '" + t.name + "': " + what);
    };
    if (t.compute_factor <= 0)
      fail("compute_factor must be > 0");
    if (t.up_mbps <= 0 || t.down_mbps <= 0)
      fail("up_mbps and down_mbps must be > 0");
    if (t.latency_s < 0 || t.jitter < 0)
      fail("latency_s and jitter must be >= 0");
    if (t.memory_gb <= 0)
      fail("memory_gb must be > 0");
    if (t.threads < 1)
      fail("threads must be >= 1");
    if (t.online_s < 0 || t.offline_s < 0 || (t.online_s > 0) != (t.offline_s > 0))
      fail("online_s and offline_s must both be 0 (always online) or both > 0");
    if (!scheduling::is_bandwidth_pattern(t.bandwidth)) {
      try {
        scheduling::read_bandwidth_trace(t.bandwidth);
      } catch (const std::runtime_error& err) {
        fail(std::string("bandwidth: ") + err.what());
      }
    }
    if (!t.availability.empty()) {
      if (t.online_s > 0)
        fail("give availability (a trace) or online_s and offline_s, not both");
      try {
        scheduling::read_availability_trace(t.availability);
      } catch (const std::runtime_error& err) {
        fail(std::string("availability: ") + err.what());
      }
    }
    out.push_back(t);
  }
  return out;
}

template <class T>
void require(bool ok, const std::string& key, const T& value, const std::string& rule) {
  if (!ok) {
    std::ostringstream os;
    os << "config: " << key << " = " << value << ": " << rule;
    throw config_error(os.str());
  }
}

void validate(const experiment_config& c) {
  require(c.run.rounds >= 1, "run.rounds", c.run.rounds, "must be at least 1");
  require(c.run.target > 0 && c.run.target <= 1, "run.target", c.run.target, "must lie in (0, 1]");
  require(c.run.max_clock_s >= 0, "run.max_clock_s", c.run.max_clock_s, "must be >= 0 (0: no limit)");
  require(c.run.clock == "virtual" || c.run.clock == "wall", "run.clock", c.run.clock,
          "must be virtual or wall");
  require(c.round.mode == "sync" || c.round.mode == "deadline" || c.round.mode == "buffered" ||
            c.round.mode == "async",
          "round.mode", c.round.mode, "must be sync, deadline, buffered (FedBuff) or async (FedAsync)");
  require(c.round.buffer_size >= 1, "round.buffer_size", c.round.buffer_size, "must be at least 1");
  require(c.round.mode != "buffered" || c.aggregator.rule == "fedavg", "aggregator.rule",
          c.aggregator.rule, "must be fedavg with round.mode = buffered (FedBuff adds the updates' changes factor by factor)");
  require(c.round.deadline_s > 0, "round.deadline_s", c.round.deadline_s, "must be > 0");
  const auto& names = scheduling::policy_names();
  std::string known;
  for (const auto& n : names)
    known += (known.empty() ? "" : ", ") + n;
  require(std::find(names.begin(), names.end(), c.scheduler.name) != names.end(),
          "scheduler.policy", c.scheduler.name, "must be one of " + known);
  require(c.scheduler.r_min >= 1, "scheduler.r_min", c.scheduler.r_min, "must be at least 1");
  require(c.scheduler.r_max >= c.scheduler.r_min, "scheduler.r_max", c.scheduler.r_max,
          "must be >= scheduler.r_min (" + std::to_string(c.scheduler.r_min) + ")");
  require(c.scheduler.rank >= c.scheduler.r_min && c.scheduler.rank <= c.scheduler.r_max,
          "scheduler.rank", c.scheduler.rank,
          "must lie in scheduler.r_min..scheduler.r_max (" + std::to_string(c.scheduler.r_min) +
            ".." + std::to_string(c.scheduler.r_max) + ")");
  require(c.scheduler.local_steps >= 1, "scheduler.local_steps", c.scheduler.local_steps,
          "must be at least 1");
  require(c.scheduler.percentile > 0 && c.scheduler.percentile <= 1, "scheduler.percentile",
          c.scheduler.percentile, "must lie in (0, 1]");
  require(c.scheduler.ewma > 0 && c.scheduler.ewma <= 1, "scheduler.ewma", c.scheduler.ewma,
          "must lie in (0, 1]");
  require(c.scheduler.r_init >= 1, "scheduler.r_init", c.scheduler.r_init, "must be at least 1");
  require(c.scheduler.rank_step > 0, "scheduler.rank_step", c.scheduler.rank_step, "must be > 0");
  require(c.scheduler.tier_ranks.empty() || c.scheduler.tier_ranks.size() == c.tiers.size(),
          "scheduler.tier_ranks", std::to_string(c.scheduler.tier_ranks.size()) + " ranks",
          "give one rank per [[tiers]] (" + std::to_string(c.tiers.size()) + ") or none");
  for (auto r : c.scheduler.tier_ranks)
    require(r >= c.scheduler.r_min && r <= c.scheduler.r_max, "scheduler.tier_ranks", r,
            "must lie in scheduler.r_min..scheduler.r_max");
  require(c.scheduler.on_time_target > 0 && c.scheduler.on_time_target <= 1,
          "scheduler.on_time_target", c.scheduler.on_time_target, "must lie in (0, 1]");
  require(c.scheduler.safety >= 0, "scheduler.safety", c.scheduler.safety, "must be >= 0");
  require(c.scheduler.min_steps >= 1, "scheduler.min_steps", c.scheduler.min_steps,
          "must be at least 1 (values above scheduler.local_steps act as local_steps)");
  require(!c.scheduler.bits_choices.empty(), "scheduler.bits_choices", "[]",
          "must name at least one format");
  for (const auto& b : c.scheduler.bits_choices) {
    bool known = true;
    try {
      scheduling::bits_factor(c.cost, b); // the one list of backbone formats
    } catch (const std::invalid_argument&) {
      known = false;
    }
    require(known, "scheduler.bits_choices", b, "must be nf4, int8, bf16 or fp32");
    require(std::count(c.scheduler.bits_choices.begin(), c.scheduler.bits_choices.end(), b) == 1,
            "scheduler.bits_choices", b, "is listed twice");
  }
  for (double f : {c.cost.nf4_factor, c.cost.int8_factor, c.cost.bf16_factor, c.cost.fp32_factor})
    require(f > 0, "cost.<bits>_factor", f, "must be > 0");
  try {
    compute::parse_staleness_fn(c.aggregator.staleness);
  } catch (const std::invalid_argument& e) {
    throw config_error(std::string("config: aggregator.staleness: ") + e.what());
  }
  require(c.aggregator.alpha > 0 && c.aggregator.alpha <= 1, "aggregator.alpha",
          c.aggregator.alpha, "must lie in (0, 1]");
  try {
    compute::check_model_options(c.model);
  } catch (const std::invalid_argument& e) {
    throw config_error(std::string("config: ") + e.what());
  }
  try {
    compute::check_server_opt(c.aggregator.server_opt);
  } catch (const std::invalid_argument& e) {
    throw config_error(std::string("config: aggregator.server_opt: ") + e.what());
  }
  const auto& so = c.aggregator.server_opt;
  require(so.lr > 0, "aggregator.server_lr", so.lr, "must be > 0");
  require(so.beta1 >= 0 && so.beta1 < 1, "aggregator.server_beta1", so.beta1, "must lie in [0, 1)");
  require(so.beta2 >= 0 && so.beta2 < 1, "aggregator.server_beta2", so.beta2, "must lie in [0, 1)");
  require(so.tau > 0, "aggregator.server_tau", so.tau, "must be > 0");
  require(c.aggregator.max_update_norm >= 0, "aggregator.max_update_norm",
          c.aggregator.max_update_norm, "must be >= 0 (0: off)");
  require(c.aggregator.rule == "fedavg" || c.aggregator.rule == "flexlora", "aggregator.rule",
          c.aggregator.rule, "must be fedavg or flexlora");
  require(c.aggregator.late == "mix" || c.aggregator.late == "delta", "aggregator.late",
          c.aggregator.late, "must be mix or delta");
  require(c.aggregator.late == "mix" || c.aggregator.rule == "fedavg", "aggregator.late",
          c.aggregator.late, "needs aggregator.rule = fedavg (a late change is added factor by factor)");
  require(c.aggregator.rule == "fedavg" || c.aggregator.server_opt.kind == "none",
          "aggregator.server_opt", c.aggregator.server_opt.kind,
          "needs aggregator.rule = fedavg (a server optimizer steps factor by factor; flexlora "
          "re-factors every round)");
  require(c.aggregator.weighting == "samples" || c.aggregator.weighting == "norm",
          "aggregator.weighting", c.aggregator.weighting, "must be samples or norm");
  require(c.train.optimizer == "adamw" || c.train.optimizer == "sgd", "train.optimizer",
          c.train.optimizer, "must be adamw or sgd");
  require(c.train.momentum >= 0 && c.train.momentum < 1, "train.momentum", c.train.momentum,
          "must lie in [0, 1)");
  require(c.train.lr > 0, "train.lr", c.train.lr, "must be > 0");
  require(c.train.head_lr >= 0, "train.head_lr", c.train.head_lr, "must be >= 0 (0: train.lr)");
  require(c.train.prox_mu >= 0, "train.prox_mu", c.train.prox_mu, "must be >= 0 (0: off)");
  require(c.train.logit_adjust >= 0, "train.logit_adjust", c.train.logit_adjust, "must be >= 0 (0: off)");
  require(c.scheduler.prune_penalty >= 0, "scheduler.prune_penalty", c.scheduler.prune_penalty,
          "must be >= 0");
  require(c.scheduler.prune_keep > 0 && c.scheduler.prune_keep < 1, "scheduler.prune_keep",
          c.scheduler.prune_keep, "must lie in (0, 1)");
  require(c.scheduler.prune_threshold >= 0 && c.scheduler.prune_threshold < 1,
          "scheduler.prune_threshold", c.scheduler.prune_threshold, "must lie in [0, 1)");
  require(c.train.batch_size >= 1, "train.batch_size", c.train.batch_size, "must be at least 1");
  std::string tasks = "synthetic";
  for (const auto& g : data::glue_tasks())
    tasks += ", " + g.name;
  bool glue = c.data.task != "synthetic";
  require(!glue || std::any_of(data::glue_tasks().begin(), data::glue_tasks().end(),
                               [&](const auto& g) { return g.name == c.data.task; }),
          "data.task", c.data.task, "must be one of " + tasks);
  require(!glue || !c.data.dir.empty(), "data.dir", "\"\"",
          "data.task = " + c.data.task + " needs data.dir (the GLUE folder, e.g. ../shared/data/glue)");
  try {
    data::parse_partition_kind(c.data.partition);
  } catch (const std::invalid_argument& e) {
    throw config_error(std::string("config: data.partition: ") + e.what());
  }
  require(c.data.dirichlet_alpha > 0, "data.dirichlet_alpha", c.data.dirichlet_alpha,
          "must be > 0");
  require(glue || c.data.eval_samples >= 1, "data.eval_samples", c.data.eval_samples,
          "must be at least 1 (the score is measured on them)");
  require(c.data.labels_per_client >= 1, "data.labels_per_client", c.data.labels_per_client,
          "must be at least 1");
  require(c.data.quantity_power > 0, "data.quantity_power", c.data.quantity_power, "must be > 0");
  require(c.data.test_fraction >= 0 && c.data.test_fraction < 1, "data.test_fraction",
          c.data.test_fraction, "must lie in [0, 1)");
  require(c.data.score_bins >= 1, "data.score_bins", c.data.score_bins, "must be at least 1");
  require(c.cost.ref_tokens >= 1, "cost.ref_tokens", c.cost.ref_tokens, "must be at least 1");
  uint32_t clients = 0;
  for (const auto& t : c.tiers)
    clients += t.count;
  require(clients >= 1, "tiers", clients, "the tiers' counts must add up to at least 1 client");
}

/// --set tiers.NAME.KEY=VALUE: that key of the [[tiers]] table named NAME
/// (read and checked with the rest of the tier by read_tiers).
void apply_tier_override(toml::table& root, const std::string& kv) {
  auto eq = kv.find('=');
  auto key = kv.substr(0, eq);
  auto dot = key.rfind('.');
  if (eq == std::string::npos || dot <= 6)
    throw config_error("--set " + kv + ": a tier's key is set as tiers.NAME.KEY=VALUE (e.g. tiers.cpu-slow.count=8)");
  auto name = key.substr(6, dot - 6), leaf = key.substr(dot + 1);
  scheduling::tier_profile probe;
  std::string known;
  bool found = false;
  tier_fields(probe, [&](const char* k, auto&) {
    known += (known.empty() ? "" : ", ") + std::string(k);
    found |= leaf == k;
  });
  if (!found)
    throw config_error("--set " + kv + ": unknown tier key '" + leaf + "' (known: " + known + ")");
  auto* arr = root["tiers"].as_array();
  std::string names;
  if (arr)
    for (auto& e : *arr)
      if (auto* t = e.as_table()) {
        auto n = (*t)["name"].value<std::string>().value_or("");
        if (n == name) {
          toml::table parsed;
          try {
            parsed = toml::parse("v = " + kv.substr(eq + 1), "--set " + kv);
          } catch (const toml::parse_error&) {
            parsed.insert_or_assign("v", kv.substr(eq + 1));  // a bare word: a string
          }
          t->insert_or_assign(leaf, *parsed.get("v"));
          return;
        }
        names += (names.empty() ? "" : ", ") + n;
      }
  throw config_error("--set " + kv + ": no [[tiers]] named '" + name + "'" +
                     (names.empty() ? std::string(" (the config has no [[tiers]])") : " (tiers: " + names + ")"));
}

} // namespace

experiment_config parse_config(const std::string& toml_text, const std::string& source,
                               const std::vector<std::string>& overrides) {
  experiment_config c;
  std::vector<std::string> plain, tier_sets;
  for (const auto& kv : overrides)
    (kv.rfind("tiers.", 0) == 0 ? tier_sets : plain).push_back(kv);
  auto root = read_fields(toml_text, source, plain,
                          [&](auto&& f) { fields(c, f); }, {"tiers"});
  for (const auto& kv : tier_sets)
    apply_tier_override(root, kv);
  if (auto* node = root.get("tiers"))
    c.tiers = read_tiers(*node);
  validate(c);
  return c;
}

experiment_config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  return parse_config(read_config_text(path), path, overrides);
}

std::string to_toml(const experiment_config& c_in) {
  experiment_config c = c_in;
  auto root = write_fields([&](auto&& f) { fields(c, f); });
  toml::array tiers;
  for (auto t : c.tiers) {
    toml::table tt;
    tier_fields(t, [&](const char* key, auto& v) { write_value(tt, key, v); });
    tiers.push_back(std::move(tt));
  }
  root.insert_or_assign("tiers", std::move(tiers));
  std::ostringstream os;
  os << root << "\n";
  return os.str();
}

} // namespace fedq::app
