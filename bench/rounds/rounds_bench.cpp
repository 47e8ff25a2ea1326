// fedq against its baselines, side by side: the same config and seeds run as
// FedAvg-LoRA (sync rounds, one rank), FAH-QLoRA (sync rounds, two-stage
// ranks with P1 solved by IPOPT) and fedq (deadline rounds, the online
// scheduler, late updates merged by staleness); time-to-target on the
// virtual clock and its ratio to fedq's, per seed.

#include <algorithm>
#include <cmath>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "app/config.hpp"
#include "bench/median.hpp"

using namespace fedq;

namespace {

struct variant {
  std::string name;
  std::vector<std::string> sets;
};

actors::run_summary run_once(const std::string& config, std::vector<std::string> overrides) {
  auto cfg = app::load_config(config, overrides);
  return actors::run_experiment(app::make_setup(cfg), nullptr);
}

std::string cell(double ttt) { return ttt >= 0 ? fmt::format("{:.1f}", ttt) : "-"; }

using fedq::bench::median;

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"fedq vs FedAvg-LoRA and FAH-QLoRA: time-to-target over several seeds"};
  std::string config = "configs/quickstart.toml";
  uint32_t seeds = 5;
  std::vector<std::string> overrides;
  app.add_option("--config", config, "Experiment config")->check(CLI::ExistingFile);
  app.add_option("--seeds", seeds, "Seeds 1..N");
  app.add_option("--set", overrides, "Config override for every variant (repeatable)");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  std::vector<variant> variants{
    {"fedavg-lora", {"round.mode=sync", "scheduler.policy=fixed"}},
    {"fah-qlora", {"round.mode=sync", "scheduler.policy=fah"}},
    {"fedq", {"round.mode=deadline", "scheduler.policy=online"}},
  };
  auto base = app::load_config(config, overrides);
  std::cout << fmt::format("config {} | rounds {} | target {} | seeds 1..{} | variants:", config,
                           base.run.rounds, base.run.target, seeds);
  for (const auto& v : variants)
    std::cout << fmt::format(" {} ({})", v.name, fmt::join(v.sets, " "));
  std::cout << "\n\n| seed |";
  for (const auto& v : variants)
    std::cout << fmt::format(" {} ttt | {} final |", v.name, v.name);
  for (size_t i = 0; i + 1 < variants.size(); ++i)
    std::cout << fmt::format(" {} / fedq |", variants[i].name);
  std::cout << "\n|---:|";
  for (size_t i = 0; i < variants.size() * 3 - 1; ++i)
    std::cout << "---:|";
  std::cout << "\n";

  std::vector<std::vector<double>> ratios(variants.size() - 1);
  std::vector<uint32_t> reached(variants.size(), 0);
  for (uint32_t seed = 1; seed <= seeds; ++seed) {
    std::vector<actors::run_summary> s;
    for (const auto& v : variants) {
      auto o = overrides;
      o.insert(o.end(), v.sets.begin(), v.sets.end());
      o.push_back("seed=" + std::to_string(seed));
      s.push_back(run_once(config, o));
    }
    std::cout << fmt::format("| {} |", seed);
    for (size_t i = 0; i < s.size(); ++i) {
      reached[i] += s[i].time_to_target_s >= 0;
      std::cout << fmt::format(" {} | {:.3f} |", cell(s[i].time_to_target_s), s[i].final_score);
    }
    double mine = s.back().time_to_target_s;
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      std::string r = "-";
      if (s[i].time_to_target_s >= 0 && mine > 0) {
        ratios[i].push_back(s[i].time_to_target_s / mine);
        r = fmt::format("{:.2f}", ratios[i].back());
      }
      std::cout << fmt::format(" {} |", r);
    }
    std::cout << std::endl;
  }
  std::cout << "\ntarget reached:";
  for (size_t i = 0; i < variants.size(); ++i)
    std::cout << fmt::format(" {} {}/{}", variants[i].name, reached[i], seeds);
  std::cout << "\n";
  for (size_t i = 0; i + 1 < variants.size(); ++i)
    if (!ratios[i].empty())
      std::cout << fmt::format("{} / fedq time-to-target: median {:.2f} (min {:.2f}, max {:.2f}) "
                               "over the {} seeds where both reached it\n",
                               variants[i].name, median(ratios[i]),
                               *std::min_element(ratios[i].begin(), ratios[i].end()),
                               *std::max_element(ratios[i].begin(), ratios[i].end()),
                               ratios[i].size());
  return 0;
}
