#include "app/profile_command.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "app/config.hpp"
#include "compute/aggregation.hpp"
#include "compute/memory_probe.hpp"
#include "compute/model.hpp"
#include "compute/tensor_memory.hpp"
#include "scheduling/cost_model.hpp"

namespace fedq::app {

int profile_command(const profile_args& args) {
  spdlog::set_level(spdlog::level::warn);
  actors::experiment_setup setup;  // the one source of truth: the parsed config is not kept
  try {
    setup = make_setup(load_config(args.config, args.overrides));
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  auto ranks = args.ranks;
  if (ranks.empty())
    ranks = {setup.policy.r_min, (setup.policy.r_min + setup.policy.r_max) / 2, setup.policy.r_max};
  for (auto r : ranks)
    if (r < 1 || r > setup.policy.r_max) {
      std::cerr << "error: --ranks: " << r << " is outside 1..scheduler.r_max (" << setup.policy.r_max << ")\n";
      return 2;
    }
  if (args.steps < 1 || args.repeats < 1 || args.bits.empty()) {
    std::cerr << "error: --steps and --repeats must be at least 1 and --bits must name a format\n";
    return 2;
  }
  // The first client's shard, batches of the config's size, one thread (as a client's job).
  std::vector<data::example> shard;
  for (auto i : setup.shards.at(0).train)
    shard.push_back(setup.task.train.items.at(i));
  uint32_t tokens = setup.server.tokens_per_step;
  auto threads = args.threads;
  if (threads.empty() || std::count(threads.begin(), threads.end(), 0u) > 0) {
    std::cerr << "error: --threads: give thread counts of at least 1, e.g. 1,2\n";
    return 2;
  }
  auto model = setup.model.checkpoint.empty()
                 ? fmt::format("built-in d={} layers={}", setup.model.d_model, setup.model.layers)
                 : setup.model.checkpoint;
  std::cout << fmt::format("fedq profile: {} | model {} targets={} | batch {} x {} tokens "
                           "| median of {} x {} timed steps per point, after 2 warm-up steps | threads {}\n",
                           args.config, model, fmt::join(setup.model.targets, ","), setup.train.batch_size,
                           setup.model.max_len, args.repeats, args.steps, fmt::join(threads, ","));
  bool peaks = compute::reset_peak_rss();
  if (!peaks)
    std::cout << "note: /proc/self/clear_refs is not writable here: no step peaks are measured\n";
  std::vector<scheduling::step_sample> samples;
  std::ofstream csv;
  if (!args.out.empty()) {
    csv.open(args.out);
    if (!csv) {
      std::cerr << "error: " << args.out << ": cannot write\n";
      return 2;
    }
    csv << "bits,rank,threads,tokens_per_step,step_s,us_per_token,step_peak_mb,step_tensors_mb,model_mb\n";
  }
  std::cout << fmt::format("{:>6} {:>6} {:>8} {:>12} {:>14} {:>14} {:>15} {:>10}\n", "bits", "rank", "threads",
                           "step (ms)", "us per token", "step peak MB", "step tensors MB", "model MB");
  compute::count_tensor_memory();
  try {
    // Every (format, rank) point is timed `repeats` times, the repeats
    // interleaved so that drift in the machine's speed hits every point
    // alike; the median is kept.
    // The step peak: the high-water mark of resident memory during a
    // training call above what was resident before it (the backbone is),
    // i.e. activations, gradients, the adapter and its optimizer state; and
    // the most bytes the step's tensors held at once (no allocator slack).
    struct point {
      std::string bits;
      uint32_t rank, threads;
      std::shared_ptr<const compute::backbone> bb;
      compute::adapter_payload start;
      std::vector<double> step_s;  ///< one per repeat
      double median_s = 0;
      double peak_mb = 0;
      double tensors_mb = 0;
    };
    std::vector<point> points;
    for (const auto& bits : args.bits) {
      auto o = setup.model;
      o.bits = bits;
      auto loaded = setup.backbones.find(bits);
      auto bb = loaded != setup.backbones.end() ? loaded->second : compute::backbone::create(o);
      auto full = compute::init_adapter(o, setup.adapter_seed);
      for (auto r : ranks)
        for (auto th : threads) {
          points.push_back({bits, r, th, bb, compute::truncate(full, r), {}});
          auto t = setup.train;
          t.threads = th;
          compute::train_local(*bb, points.back().start, shard, t, 2, 1); // warm-up
        }
    }
    for (uint32_t rep = 0; rep < args.repeats; ++rep)
      for (auto& p : points) {
        auto t = setup.train;
        t.threads = p.threads;
        peaks = peaks && compute::reset_peak_rss();
        double before = compute::status_mb("VmRSS");
        double held = compute::tensor_memory_mb();
        compute::reset_tensor_peak();
        auto res = compute::train_local(*p.bb, p.start, shard, t, args.steps, 2 + rep);
        p.step_s.push_back(res.seconds / args.steps);
        p.peak_mb = std::max(p.peak_mb, compute::status_mb("VmHWM") - before);
        p.tensors_mb = std::max(p.tensors_mb, compute::tensor_peak_mb() - held);
      }
    for (auto& p : points) {
      std::sort(p.step_s.begin(), p.step_s.end());
      double step = p.median_s = p.step_s[p.step_s.size() / 2];
      if (p.threads == threads.front())
        samples.push_back({p.bits, p.rank, step});
      auto o = setup.model;
      o.bits = p.bits;  // the model's step: its total less the frozen backbone, which was resident before
      double model_mb = compute::training_memory_mb(o, p.rank, setup.train.batch_size, setup.train.checkpointing) -
                        compute::frozen_memory_mb(o);
      std::string peak = peaks ? fmt::format("{:.1f}", p.peak_mb) : std::string("-");
      std::cout << fmt::format("{:>6} {:>6} {:>8} {:>12.2f} {:>14.3f} {:>14} {:>15.1f} {:>10.1f}\n", p.bits,
                               p.rank, p.threads, 1e3 * step, 1e6 * step / tokens, peak, p.tensors_mb, model_mb);
      if (csv)
        csv << fmt::format("{},{},{},{},{:.6f},{:.4f},{},{:.2f},{:.2f}\n", p.bits, p.rank, p.threads, tokens, step,
                           1e6 * step / tokens, peaks ? fmt::format("{:.2f}", p.peak_mb) : "", p.tensors_mb,
                           model_mb);
    }
    if (threads.size() > 1) {
      std::vector<double> speedups;  // step time at the first thread count / at the last
      for (size_t i = 0; i < points.size(); i += threads.size())
        speedups.push_back(points[i].median_s / points[i + threads.size() - 1].median_s);
      std::sort(speedups.begin(), speedups.end());
      std::cout << fmt::format("\n{} threads against {}: median step speed-up {:.2f}x (range {:.2f}-{:.2f})\n",
                               threads.back(), threads.front(), speedups[speedups.size() / 2], speedups.front(),
                               speedups.back());
    }
    auto ref = std::find(args.bits.begin(), args.bits.end(), "fp32") != args.bits.end() ? "fp32" : args.bits.front();
    if (ranks.size() < 2) {
      std::cout << "\n# no [cost] fit: it needs step times at two or more ranks (--ranks)\n";
    } else {
      auto c = scheduling::fit_cost(samples, tokens, setup.server.cost.ref_tokens, ref);
      std::cout << fmt::format("\n# the cost model fitted to this machine ({} as reference, {} thread(s)); "
                               "paste into a config\n"
                               "[cost]\nstep_base_s = {:.6f}\nstep_per_rank_s = {:.6f}\nref_tokens = {}\n",
                               ref, threads.front(), c.step_base_s, c.step_per_rank_s, c.ref_tokens);
      for (const auto& [name, factor] : {std::pair{"nf4", c.nf4_factor}, std::pair{"int8", c.int8_factor},
                                         std::pair{"bf16", c.bf16_factor}, std::pair{"fp32", c.fp32_factor}}) {
        bool measured = std::find(args.bits.begin(), args.bits.end(), name) != args.bits.end();
        std::cout << (measured ? fmt::format("{}_factor = {:.3f}\n", name, factor)
                               : fmt::format("# {}_factor: not measured (--bits)\n", name));
      }
    }
    if (csv)
      std::cout << "cost table: " << args.out << "\n";
  } catch (const std::exception& e) {
    std::cerr << "error: profile failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

} // namespace fedq::app
