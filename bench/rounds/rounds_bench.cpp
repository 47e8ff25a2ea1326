// Sync vs deadline rounds, side by side: the same config and seeds in both
// round modes, time-to-target on the virtual clock, and the ratio per seed.

#include <algorithm>
#include <cmath>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "app/config.hpp"

using namespace fedq;

namespace {

actors::run_summary run_once(const std::string& config, std::vector<std::string> overrides) {
  auto cfg = app::load_config(config, overrides);
  return actors::run_experiment(app::make_setup(cfg), nullptr);
}

std::string cell(double ttt) { return ttt >= 0 ? fmt::format("{:.1f}", ttt) : "-"; }

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"Sync vs deadline rounds: time-to-target over several seeds"};
  std::string config = "configs/quickstart.toml";
  uint32_t seeds = 5;
  std::vector<std::string> overrides;
  app.add_option("--config", config, "Experiment config")->check(CLI::ExistingFile);
  app.add_option("--seeds", seeds, "Seeds 1..N");
  app.add_option("--set", overrides, "Config override for both modes (repeatable)");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  auto base = app::load_config(config, overrides);
  std::cout << fmt::format("config {} | policy {} | rounds {} | target {} | {} seeds\n", config,
                           base.scheduler.name, base.run.rounds, base.run.target, seeds);
  std::cout << fmt::format("{:>5} {:>10} {:>10} {:>8} {:>10} {:>10} {:>8}\n", "seed", "sync_ttt",
                           "dl_ttt", "ratio", "sync_score", "dl_score", "dl_late");
  std::vector<double> ratios;
  uint32_t sync_reached = 0, dl_reached = 0;
  for (uint32_t seed = 1; seed <= seeds; ++seed) {
    auto with = [&](const std::string& mode) {
      auto o = overrides;
      o.push_back("seed=" + std::to_string(seed));
      o.push_back("round.mode=" + mode);
      return run_once(config, o);
    };
    auto s = with("sync");
    auto d = with("deadline");
    sync_reached += s.time_to_target_s >= 0;
    dl_reached += d.time_to_target_s >= 0;
    std::string ratio = "-";
    if (s.time_to_target_s >= 0 && d.time_to_target_s > 0) {
      ratios.push_back(s.time_to_target_s / d.time_to_target_s);
      ratio = fmt::format("{:.2f}", ratios.back());
    }
    std::cout << fmt::format("{:>5} {:>10} {:>10} {:>8} {:>10.3f} {:>10.3f} {:>8}\n", seed,
                             cell(s.time_to_target_s), cell(d.time_to_target_s), ratio,
                             s.final_score, d.final_score, d.late_merged)
              << std::flush;
  }
  std::sort(ratios.begin(), ratios.end());
  std::cout << fmt::format("target reached: sync {}/{}, deadline {}/{}\n", sync_reached, seeds,
                           dl_reached, seeds);
  if (!ratios.empty()) {
    double median = ratios.size() % 2 ? ratios[ratios.size() / 2]
                                      : (ratios[ratios.size() / 2 - 1] + ratios[ratios.size() / 2]) / 2;
    std::cout << fmt::format("sync/deadline time-to-target ratio: median {:.2f} (min {:.2f}, max "
                             "{:.2f}) over {} seeds where both reached it\n",
                             median, ratios.front(), ratios.back(), ratios.size());
  }
  return 0;
}
