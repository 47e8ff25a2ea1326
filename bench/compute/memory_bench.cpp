// Peak memory of one client's training step with the frozen backbone stored
// as fp32, bf16, int8 and nf4, side by side in one run. Each format is
// measured in its own child process: resident memory before the backbone is
// built (after a warm-up step on a tiny model, so that the runtime's one-time
// buffers are already there) is the baseline; after building it (and trimming the heap), the
// kernel's high-water mark is reset (/proc/self/clear_refs) and the steps run;
// the reported peak is VmHWM - baseline, so it holds the stored weights, the
// adapter and optimizer state, and the step's activations and gradients.
// Each format runs twice, without and with activation checkpointing
// (train.checkpointing); the step time of each is timed after the peak, on
// warm buffers, and reported as the checkpointed / plain ratio.
// Beside the resident peak, the tensor peak: the most bytes libtorch's CPU
// tensors held at once during the steps (an allocator that counts them,
// compute/tensor_memory), less those held before the backbone was built. The
// difference between the two is memory that glibc keeps after a free.

#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "compute/blas_core.hpp"
#include "compute/aggregation.hpp"
#include "compute/memory_probe.hpp"
#include "compute/model.hpp"
#include "compute/tensor_memory.hpp"
#include "data/synthetic_task.hpp"

using namespace fedq;

namespace {

using compute::status_mb;

compute::model_options model(uint32_t d, uint32_t layers, const std::string& bits) {
  compute::model_options o;
  o.bits = bits;
  o.d_model = d;
  o.layers = layers;
  o.heads = 8;
  o.kv_heads = 4;
  o.ffn = d * 11 / 4;
  o.max_len = 64;
  o.classes = 4;
  o.targets = {"q", "k", "v", "o"};
  return o;
}

/// One format, in this process: prints "peak_mb weights_mb step_s tensor_peak_mb".
int child(const std::string& bits, bool checkpointing, uint32_t d, uint32_t layers, uint32_t rank,
          uint32_t batch, uint32_t timed_steps) {
  auto task = data::synthetic_task(256, 16, 1);
  compute::use_one_thread();
  compute::count_tensor_memory();
  { // the runtime's one-time buffers (BLAS, thread pools) come before the baseline
    auto tiny = model(64, 1, "fp32");
    auto warm = compute::backbone::create(tiny);
    compute::train_options t;
    t.batch_size = batch;
    compute::train_local(*warm, compute::init_adapter(tiny, 2), task.train.items, t, 2, 1);
  }
  malloc_trim(0);
  double base = status_mb("VmRSS");
  double tensors_base = compute::tensor_memory_mb();
  auto o = model(d, layers, bits);
  auto bb = compute::backbone::create(o);
  auto start = compute::truncate(compute::init_adapter(o, 2), rank);
  malloc_trim(0); // drop what building the weights left behind
  double weights = status_mb("VmRSS") - base;
  compute::reset_peak_rss();
  compute::reset_tensor_peak();
  compute::train_options t;
  t.batch_size = batch;
  t.checkpointing = checkpointing;
  compute::train_local(*bb, start, task.train.items, t, 3, 1);
  double peak = status_mb("VmHWM") - base;
  double tensor_peak = compute::tensor_peak_mb() - tensors_base;
  auto timed = compute::train_local(*bb, start, task.train.items, t, timed_steps, 2);
  std::cout << fmt::format("{:.2f} {:.2f} {:.6f} {:.2f}\n", peak, weights, timed.seconds / timed_steps,
                           tensor_peak);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  fedq::compute::restart_with_fast_blas(argv);
  CLI::App app{"Peak memory of a training step per backbone format, ratios to fp32"};
  uint32_t d = 512, layers = 4, rank = 16, batch = 8, timed_steps = 5;
  std::string only;
  bool checkpointing = false;
  app.add_option("--d-model", d, "Hidden size of the built-in model")->capture_default_str();
  app.add_option("--layers", layers, "Layers")->capture_default_str();
  app.add_option("--rank", rank, "LoRA rank (r_max 16)")->capture_default_str();
  app.add_option("--batch", batch, "Batch size (64 tokens each)")->capture_default_str();
  app.add_option("--timed-steps", timed_steps, "Steps timed for the step time (after the peak's 3)")
    ->capture_default_str();
  app.add_option("--child", only, "Internal: measure one format in this process");
  app.add_flag("--checkpointing", checkpointing, "Internal: with activation checkpointing");
  CLI11_PARSE(app, argc, argv);
  if (!only.empty())
    return child(only, checkpointing, d, layers, rank, batch, std::max(1u, timed_steps));

  std::cout << fmt::format("built-in model d={} layers={} ffn={} | LoRA rank {} on q,k,v,o | batch {} x 64 "
                           "tokens | 3 AdamW steps for the peak, {} more timed | one process per format "
                           "and setting, 1 thread\n\n",
                           d, layers, d * 11 / 4, rank, batch, timed_steps);
  std::cout << "| format | stored weights MB | step peak MB | peak / fp32 | checkpointed peak MB | "
               "checkpointed peak / fp32 | tensor peak MB | checkpointed tensor peak MB | checkpointed tensor peak / "
               "fp32 | checkpointed step time / plain |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  struct measured {
    double peak = -1, weights = -1, step_s = -1, tensor_peak = -1;
  };
  auto measure = [&](const std::string& bits, bool ck, measured& m) {
    auto cmd = fmt::format("'{}' --child {} --d-model {} --layers {} --rank {} --batch {} --timed-steps {}{}",
                           argv[0], bits, d, layers, rank, batch, timed_steps, ck ? " --checkpointing" : "");
    FILE* p = popen(cmd.c_str(), "r");
    bool ok = p && std::fscanf(p, "%lf %lf %lf %lf", &m.peak, &m.weights, &m.step_s, &m.tensor_peak) == 4;
    if (p)
      ok = pclose(p) == 0 && ok;
    if (!ok)
      std::cerr << "error: the measurement of " << bits << (ck ? " with checkpointing" : "") << " failed\n";
    return ok;
  };
  measured fp32;
  for (std::string bits : {"fp32", "bf16", "int8", "nf4"}) {
    measured plain, ck;
    if (!measure(bits, false, plain) || !measure(bits, true, ck))
      return 1;
    if (bits == "fp32")
      fp32 = plain;
    std::cout << fmt::format("| {} | {:.1f} | {:.1f} | {:.2f} | {:.1f} | {:.2f} | {:.1f} | {:.1f} | {:.2f} | {:.2f} |\n",
                             bits, plain.weights, plain.peak, plain.peak / fp32.peak, ck.peak, ck.peak / fp32.peak,
                             plain.tensor_peak, ck.tensor_peak, ck.tensor_peak / fp32.tensor_peak,
                             ck.step_s / plain.step_s)
              << std::flush;
  }
  return 0;
}
