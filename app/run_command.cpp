#include "app/run_command.hpp"

#include <iostream>

#include <spdlog/spdlog.h>

#include "app/config.hpp"
#include "app/run_output.hpp"
#include "compute/model.hpp"
#include "data/dataset.hpp"
#include "data/metrics.hpp"
#include "data/partition.hpp"

namespace fedq::app {

int run_command(const run_args& args, const host_factory& make_host) {
  spdlog::set_level(args.quiet ? spdlog::level::warn : spdlog::level::info);
  // The parsed config lives only in this block: everything after it reads the
  // setup (one source of truth for the model, the task and the run).
  actors::experiment_setup setup;
  std::string effective_toml;
  try {
    auto overrides = args.overrides;
    if (!args.data_dir.empty())
      overrides.push_back("data.dir=\"" + args.data_dir + "\"");
    auto cfg = load_config(args.config, overrides);
    setup = make_setup(cfg);
    effective_toml = to_toml(cfg);
  } catch (const config_error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const data::data_error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }

  const auto& so = setup.server;
  std::string mode = actors::round_mode_name(so.mode);
  actors::run_control control;
  control.config_hash = config_hash(effective_toml);
  if (!args.resume.empty()) {
    if (!args.out.empty() && std::filesystem::path(args.out) != std::filesystem::path(args.resume)) {
      std::cerr << "error: --resume " << args.resume << " continues the run in that folder; leave out --out\n";
      return 2;
    }
    try {
      std::vector<std::string> notes;
      control.resume = actors::read_checkpoint(args.resume, notes);
      for (const auto& n : notes)
        spdlog::warn("{}", n);
    } catch (const std::runtime_error& e) {
      std::cerr << "error: --resume: " << e.what() << "\n";
      return 2;
    }
    if (control.resume->config_hash != control.config_hash) {
      std::cerr << "error: --resume " << args.resume << ": its checkpoint was made with another "
                << "config (compare " << (std::filesystem::path(args.resume) / "config.toml").string()
                << "); resume with the config and --set the run began with\n";
      return 2;
    }
  }
  std::unique_ptr<actors::client_host> host;
  if (make_host) {
    try {
      host = make_host(effective_toml, control.config_hash, setup);
    } catch (const std::exception& e) {
      std::cerr << "error: " << e.what() << "\n";
      return 2;
    }
    control.host = host.get();
  }
  auto dir = !args.resume.empty() ? std::filesystem::path(args.resume)
             : args.out.empty()   ? default_out_dir(args.config, mode)
                                  : std::filesystem::path(args.out);
  control.checkpoint_dir = dir;
  std::vector<std::string> tier_names;
  for (const auto& t : so.tiers)
    tier_names.push_back(t.name);
  bool virtual_clock = so.clock == actors::clock_kind::virtual_clock;
  try {
    run_output out(dir, tier_names, so.rounds, virtual_clock, !args.quiet);
    out.write_config(effective_toml);
    out.write_partition(setup);
    if (control.resume) {
      out.replay(control.resume->records);
      std::cout << args.command << ": resuming " << dir.string() << " after round "
                << control.resume->records.size() << " of " << so.rounds << "\n";
    }
    std::cout << args.command << ": " << so.clients.size() << " clients, task " << setup.task.train.name
              << " (" << setup.task.train.items.size() << " train, " << setup.task.eval.items.size()
              << " eval, " << data::metric_name(setup.task.metric) << "), partition "
              << data::partition_name(setup.partition.kind) << ", mode " << mode << ", policy "
              << setup.policy.name << ", " << actors::clock_name(so.clock) << " clock, seed "
              << so.seed << "\n";
    auto summary = actors::run_experiment(setup, &out, control);
    if (host && !host->local_shards().empty())
      out.write_partition(setup, host->local_shards());
    out.write_summary(summary, so.target, mode, setup.policy.name, so.seed);
    compute::write_peft_adapter(setup.model, serialization::decode(summary.final_global),
                                (out.dir() / "adapter").string());
    std::cout << "summary: " << describe(summary, virtual_clock) << "\n"
              << "output: " << out.dir().string() << " (the final adapter in PEFT layout: "
              << (out.dir() / "adapter").string() << ")\n";
  } catch (const std::exception& e) {
    std::cerr << "error: run failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

} // namespace fedq::app
