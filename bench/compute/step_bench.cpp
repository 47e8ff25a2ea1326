// One LoRA training step of the same model in fedq (libtorch) and in PyTorch
// Python (bench/compute/torch_step.py, python3-torch 1.13.1), side by side in
// one run with the same thread count: the repeats alternate between the two
// so that drift in the machine's speed hits both alike; medians and ratio.

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "bench/median.hpp"
#include "compute/blas_core.hpp"
#include "compute/aggregation.hpp"
#include "compute/model.hpp"
#include "data/synthetic_task.hpp"

using namespace fedq;

using fedq::bench::median;

int main(int argc, char** argv) {
  fedq::compute::restart_with_fast_blas(argv);
  CLI::App app{"A LoRA training step in fedq vs PyTorch Python, same model and threads"};
  uint32_t d = 64, layers = 2, heads = 4, kv = 2, ffn = 128, batch = 16, tokens = 64, rank = 8, r_max = 16;
  uint32_t steps = 10, repeats = 5;
  std::string script = std::string(FEDQ_SOURCE_DIR) + "/bench/compute/torch_step.py";
  app.add_option("--d-model", d)->capture_default_str();
  app.add_option("--layers", layers)->capture_default_str();
  app.add_option("--ffn", ffn)->capture_default_str();
  app.add_option("--batch", batch)->capture_default_str();
  app.add_option("--rank", rank)->capture_default_str();
  app.add_option("--steps", steps, "Timed steps per repeat")->capture_default_str();
  app.add_option("--repeats", repeats, "Alternating repeats (medians kept)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  compute::model_options o;
  o.d_model = d;
  o.layers = layers;
  o.heads = heads;
  o.kv_heads = kv;
  o.ffn = ffn;
  o.max_len = tokens;
  o.classes = 4;
  o.r_max = r_max;
  o.targets = {"q", "k", "v", "o"};
  std::cout << fmt::format("model d={} layers={} heads={}/{} ffn={} | batch {} x {} tokens | LoRA rank {} "
                           "on q,k,v,o | fp32 backbone | AdamW | 1 thread | {} repeats of {} steps, "
                           "alternating\n\n",
                           d, layers, heads, kv, ffn, batch, tokens, rank, repeats, steps);
  // Every example as long as the model's context, like the Python side's
  // (batches are as wide as their longest example): each text repeated past
  // max_len bytes and truncated there by the byte-level encoder.
  auto task = data::synthetic_task(512, 16, 1);
  for (auto& e : task.train.items)
    for (std::string unit = " " + e.text; e.text.size() < 2 * size_t(tokens);)
      e.text += unit;
  auto bb = compute::backbone::create(o);
  auto start = compute::truncate(compute::init_adapter(o, 2), rank);
  compute::train_options t;
  t.batch_size = batch;
  compute::train_local(*bb, start, task.train.items, t, 2, 1); // warm-up
  std::vector<double> ours, theirs;
  for (uint32_t rep = 0; rep < repeats; ++rep) {
    auto r = compute::train_local(*bb, start, task.train.items, t, steps, 2 + rep);
    ours.push_back(r.seconds / steps);
    auto cmd = fmt::format("/usr/bin/python3 '{}' {} {} {} {} {} {} {} {} {} {} 1 1", script, d, layers,
                           heads, kv, ffn, batch, tokens, rank, r_max, steps);
    FILE* p = popen(cmd.c_str(), "r");
    double s = -1;
    if (!p || std::fscanf(p, "%lf", &s) != 1) {
      std::cerr << "error: the PyTorch side failed (" << cmd << ")\n";
      return 1;
    }
    pclose(p);
    theirs.push_back(s);
  }
  double a = median(ours), b = median(theirs);
  std::cout << "| | fedq (libtorch) | PyTorch Python |\n|---|---:|---:|\n";
  std::cout << fmt::format("| step, median ms | {:.2f} | {:.2f} |\n", 1e3 * a, 1e3 * b);
  auto ms = [](std::vector<double> v) {
    for (auto& x : v)
      x *= 1e3;
    return v;
  };
  std::cout << fmt::format("| repeats, ms | {:.1f} | {:.1f} |\n", fmt::join(ms(ours), " "),
                           fmt::join(ms(theirs), " "));
  double fa = *std::min_element(ours.begin(), ours.end()), fb = *std::min_element(theirs.begin(), theirs.end());
  std::cout << fmt::format("\nfedq / PyTorch step time: {:.2f} (medians); {:.2f} (fastest repeats, "
                           "the least disturbed by other work on the cores)\n", a / b, fa / fb);
  return 0;
}
