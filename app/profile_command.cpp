#include "app/profile_command.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "app/config.hpp"
#include "compute/aggregation.hpp"
#include "compute/model.hpp"
#include "scheduling/cost_model.hpp"

namespace fedq::app {

int profile_command(const profile_args& args) {
  spdlog::set_level(spdlog::level::warn);
  experiment_config cfg;
  actors::experiment_setup setup;
  try {
    cfg = load_config(args.config, args.overrides);
    setup = make_setup(cfg);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  auto ranks = args.ranks;
  if (ranks.empty())
    ranks = {cfg.scheduler.r_min, (cfg.scheduler.r_min + cfg.scheduler.r_max) / 2, cfg.scheduler.r_max};
  for (auto r : ranks)
    if (r < 1 || r > cfg.scheduler.r_max) {
      std::cerr << "error: --ranks: " << r << " is outside 1..scheduler.r_max (" << cfg.scheduler.r_max << ")\n";
      return 2;
    }
  if (args.steps < 1 || args.bits.empty()) {
    std::cerr << "error: --steps must be at least 1 and --bits must name a format\n";
    return 2;
  }
  // The first client's shard, batches of the config's size, one thread (as a client's job).
  std::vector<data::example> shard;
  for (auto i : setup.shards.at(0).train)
    shard.push_back(setup.task.train.items.at(i));
  uint32_t tokens = cfg.train.batch_size * cfg.model.max_len;
  std::cout << fmt::format("fedq profile: {} | model d={} layers={} targets={} | batch {} x {} tokens "
                           "| {} timed steps per point, after 2 warm-up steps | 1 thread\n",
                           args.config, setup.model.d_model, setup.model.layers,
                           fmt::join(setup.model.targets, ","), cfg.train.batch_size,
                           cfg.model.max_len, args.steps);
  std::vector<scheduling::step_sample> samples;
  std::ofstream csv;
  if (!args.out.empty()) {
    csv.open(args.out);
    if (!csv) {
      std::cerr << "error: " << args.out << ": cannot write\n";
      return 2;
    }
    csv << "bits,rank,tokens_per_step,step_s,us_per_token\n";
  }
  std::cout << fmt::format("{:>6} {:>6} {:>12} {:>14}\n", "bits", "rank", "step (ms)", "us per token");
  try {
    for (const auto& bits : args.bits) {
      auto o = setup.model;
      o.bits = bits;
      auto bb = compute::backbone::create(o);
      auto full = compute::init_adapter(o, setup.adapter_seed);
      for (auto r : ranks) {
        auto start = compute::truncate(full, r);
        compute::train_local(*bb, start, shard, setup.train, 2, 1); // warm-up
        auto res = compute::train_local(*bb, start, shard, setup.train, args.steps, 2);
        double step = res.seconds / args.steps;
        samples.push_back({bits, r, step});
        std::cout << fmt::format("{:>6} {:>6} {:>12.2f} {:>14.3f}\n", bits, r, 1e3 * step, 1e6 * step / tokens)
                  << std::flush;
        if (csv)
          csv << fmt::format("{},{},{},{:.6f},{:.4f}\n", bits, r, tokens, step, 1e6 * step / tokens);
      }
    }
    auto ref = std::find(args.bits.begin(), args.bits.end(), "fp32") != args.bits.end() ? "fp32" : args.bits.front();
    auto c = scheduling::fit_cost(samples, tokens, cfg.cost.ref_tokens, ref);
    std::cout << fmt::format("\n# the cost model fitted to this machine ({} as reference); paste into a config\n"
                             "[cost]\nstep_base_s = {:.6f}\nstep_per_rank_s = {:.6f}\nref_tokens = {}\n"
                             "nf4_factor = {:.3f}\nint8_factor = {:.3f}\nbf16_factor = {:.3f}\nfp32_factor = {:.3f}\n",
                             ref, c.step_base_s, c.step_per_rank_s, c.ref_tokens, c.nf4_factor,
                             c.int8_factor, c.bf16_factor, c.fp32_factor);
    if (csv)
      std::cout << "cost table: " << args.out << "\n";
  } catch (const std::exception& e) {
    std::cerr << "error: profile failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

} // namespace fedq::app
