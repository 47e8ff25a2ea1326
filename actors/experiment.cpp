#include "actors/experiment.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

#include "actors/aggregator.hpp"
#include "actors/client.hpp"
#include "actors/scheduler.hpp"
#include "compute/executor.hpp"
#include "serialization/adapter_payload.hpp"

namespace fedq::actors {

namespace {

caf::actor_system_config make_config(client_host* host) {
  caf::actor_system_config cfg;
  if (host)
    host->configure(cfg);
  register_types(cfg);
  // Compute runs in the executor's arenas; actors only pass messages, so one
  // scheduler thread that sleeps when idle (sharing policy) is enough.
  cfg.set("scheduler.max-threads", 1);
  cfg.set("scheduler.policy", caf::atom("sharing"));
  return cfg;
}

} // namespace

backbone_set load_backbones(const compute::model_options& model,
                            const scheduling::policy_options& policy) {
  std::vector<std::string> formats{model.bits};
  if (policy.adapt_bits)
    for (const auto& b : policy.bits_choices)
      if (std::find(formats.begin(), formats.end(), b) == formats.end())
        formats.push_back(b);
  backbone_set out;
  for (const auto& b : formats) {
    auto o = model;
    o.bits = b;
    out[b] = compute::backbone::create(o);
  }
  return out;
}

run_summary run_experiment(const experiment_setup& setup, run_observer* observer,
                           const run_control& control, const rewire_fn& rewire) {
  const auto& backbones = setup.backbones;
  if (!backbones.count(setup.model.bits))
    throw std::runtime_error("experiment setup without its backbone (load_backbones)");
  std::vector<std::string> formats{setup.model.bits};  // the model's own format first
  for (const auto& [b, _] : backbones)
    if (b != setup.model.bits)
      formats.push_back(b);
  auto backbone = backbones.at(setup.model.bits);
  auto cfg = make_config(control.host);
  caf::actor_system sys{cfg};
  compute::executor exec(compute::compute_threads(setup.compute_threads));

  server_setup ss;
  ss.opts = setup.server;
  ss.opts.local_validation = scheduling::needs_local_validation(setup.policy.name);
  ss.backbone = backbone;
  ss.eval = make_eval_sets(setup);
  ss.initial_global = serialization::encode(compute::init_adapter(setup.model, setup.adapter_seed));
  scheduling::policy_context ctx{
    setup.server.tiers, setup.server.cost,
    compute::training_memory_model(setup.model, setup.train.batch_size, setup.train.checkpointing, formats)};
  const auto& resume = control.resume;
  ss.scheduler = spawn_scheduler(sys, setup.policy, std::move(ctx),
                                 resume ? resume->plan_log : std::vector<scheduling::plan_input>{});
  ss.aggregator = spawn_aggregator(sys, setup.aggregator,
                                   resume ? resume->aggregator : std::vector<double>{});
  ss.observer = observer;
  ss.checkpoint_dir = control.checkpoint_dir;
  ss.config_hash = control.config_hash;
  ss.resume = resume;
  if (control.host) {
    try {
      control.host->host(sys, ss);
    } catch (const std::exception& e) {
      control.host->finish(sys, e.what());
      throw;
    }
  } else
    for (const auto& info : setup.server.clients)
      ss.clients.push_back(spawn_client(sys, make_client_setup(setup, info.id, &exec)));
  if (rewire)
    rewire(sys, ss);
  auto server = spawn_server(sys, std::move(ss));

  run_summary summary;
  std::string failure;
  {
    caf::scoped_actor self{sys};
    self->request(server, caf::infinite, run_atom::value)
      .receive([&](run_summary& s) { summary = s; },
               [&](caf::error& e) { failure = sys.render(e); });
  }
  if (control.host)
    control.host->finish(sys, failure.empty() ? "the run is over" : "the run failed: " + failure);
  if (!failure.empty())
    throw std::runtime_error(failure);
  return summary;
}

eval_sets make_eval_sets(const experiment_setup& setup) {
  eval_sets e;
  e.global = setup.task.eval;
  e.metric = setup.task.metric;
  for (const auto& shard : setup.shards) {
    auto& local = e.clients.emplace_back();
    local.name = setup.task.train.name + "-local";
    local.kind = setup.task.train.kind;
    local.num_classes = setup.task.train.num_classes;
    for (auto i : shard.test)
      local.items.push_back(setup.task.train.items.at(i));
  }
  return e;
}

client_setup make_client_setup(const experiment_setup& setup, uint32_t id, compute::executor* exec) {
  const auto& info = setup.server.clients.at(id);
  client_setup cs;
  cs.id = info.id;
  cs.threads = setup.server.tiers.at(info.tier).threads;
  for (auto i : setup.shards.at(info.id).train)
    cs.shard.push_back(setup.task.train.items.at(i));
  for (auto i : setup.shards.at(info.id).test)
    cs.validation.push_back(setup.task.train.items.at(i));
  cs.backbones = setup.backbones;
  cs.train = setup.train;
  cs.exec = exec;
  return cs;
}

} // namespace fedq::actors
