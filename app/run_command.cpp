#include "app/run_command.hpp"

#include <iostream>

#include <spdlog/spdlog.h>

#include "app/config.hpp"
#include "app/run_output.hpp"
#include "compute/model.hpp"
#include "data/dataset.hpp"
#include "data/metrics.hpp"

namespace fedq::app {

int run_command(const run_args& args) {
  experiment_config cfg;
  actors::experiment_setup setup;
  spdlog::set_level(args.quiet ? spdlog::level::warn : spdlog::level::info);
  try {
    auto overrides = args.overrides;
    if (!args.data_dir.empty())
      overrides.push_back("data.dir=\"" + args.data_dir + "\"");
    cfg = load_config(args.config, overrides);
    setup = make_setup(cfg);
  } catch (const config_error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const data::data_error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }

  auto dir = args.out.empty() ? default_out_dir(args.config, cfg.round.mode)
                              : std::filesystem::path(args.out);
  std::vector<std::string> tier_names;
  for (const auto& t : cfg.tiers)
    tier_names.push_back(t.name);
  bool virtual_clock = cfg.run.clock == "virtual";
  try {
    run_output out(dir, tier_names, cfg.run.rounds, virtual_clock, !args.quiet);
    out.write_config(to_toml(cfg));
    out.write_partition(setup, cfg.data.partition, cfg.data.score_bins);
    std::cout << "fedq run: " << setup.server.clients.size() << " clients, task "
              << cfg.data.task << " (" << setup.task.train.items.size() << " train, "
              << setup.task.eval.items.size() << " eval, " << data::metric_name(setup.task.metric)
              << "), partition " << cfg.data.partition << ", mode " << cfg.round.mode
              << ", policy " << cfg.scheduler.name << ", " << cfg.run.clock << " clock, seed "
              << cfg.seed << "\n";
    auto summary = actors::run_experiment(setup, &out);
    out.write_summary(summary, cfg.run.target, cfg.round.mode, cfg.scheduler.name, cfg.seed);
    compute::write_peft_adapter(cfg.model, serialization::decode(summary.final_global),
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
