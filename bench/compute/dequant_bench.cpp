// Dequantization throughput of the frozen-weight formats against a plain
// memory copy of the same output bytes, side by side in one run. Both write
// into output buffers kept warm across repetitions, and the repetitions
// alternate (copy, dequantize, copy, ...), so that a busy machine slows both
// alike; the medians and the ratio of their bandwidths are printed. A third
// column times W.dequantize(), which allocates a fresh tensor each call (what
// a training step's quantized linear layer does), and pays its page faults.

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <iostream>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "bench/median.hpp"
#include "compute/blas_core.hpp"
#include "compute/quant.hpp"

using namespace fedq::compute;

namespace {

double seconds(const std::function<void()>& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

int main(int argc, char** argv) {
  fedq::compute::restart_with_fast_blas(argv);
  CLI::App app{"Dequantization throughput vs a memory copy of the same bytes"};
  std::vector<int64_t> sizes{1024, 2048, 4096};
  int reps = 51;
  int threads = 1;
  app.add_option("--sizes", sizes, "Square weight sizes (rows = cols)")->delimiter(',');
  app.add_option("--reps", reps, "Timed repetitions (median kept)");
  app.add_option("--threads", threads, "libtorch threads");
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(threads);
  torch::manual_seed(1);
  std::cout << fmt::format("sizes {} | {} reps, median | {} libtorch thread(s) | output fp32\n\n",
                           fmt::join(sizes, ","), reps, threads);
  std::cout << "| weight | format | stored MB | memcpy ms | dequantize ms | dequantize GB/s | bandwidth / memcpy's"
               " | fresh tensor ms |\n";
  std::cout << "|---|---|---:|---:|---:|---:|---:|---:|\n";
  for (auto n : sizes) {
    auto w = torch::randn({n, n}) * 0.02;
    size_t out_bytes = static_cast<size_t>(n * n) * sizeof(float);
    auto src = w.contiguous();
    auto dst = torch::empty({n, n});
    auto out = torch::empty({n, n});
    struct variant {
      const char* name;
      weight_format f;
      bool dq;
    };
    for (auto v : {variant{"nf4", weight_format::nf4, false}, variant{"nf4+dq", weight_format::nf4, true},
                   variant{"int8", weight_format::int8, false}, variant{"bf16", weight_format::bf16, false}}) {
      auto q = quantize(w, v.f, v.dq);
      auto copy = [&] { std::memcpy(dst.data_ptr<float>(), src.data_ptr<float>(), out_bytes); };
      auto into = [&] { q.dequantize_into(out); };
      copy();
      into();  // both buffers touched once before timing
      std::vector<double> tc, tq, tf;
      for (int r = 0; r < reps; ++r) {
        tc.push_back(seconds(copy));
        tq.push_back(seconds(into));
      }
      for (int r = 0; r < std::max(3, reps / 5); ++r)
        tf.push_back(seconds([&] { auto fresh = q.dequantize(); }));
      double c = fedq::bench::median(tc), d = fedq::bench::median(tq);
      std::cout << fmt::format("| {}x{} | {} | {:.2f} | {:.3f} | {:.3f} | {:.2f} | {:.2f} | {:.3f} |\n", n, n,
                               v.name, q.bytes() / 1e6, 1e3 * c, 1e3 * d, out_bytes / d / 1e9, c / d,
                               1e3 * fedq::bench::median(tf))
                << std::flush;
    }
  }
  std::cout << "\n'bandwidth / memcpy's': the dequantization's output bytes per second over a memcpy's of the same "
               "bytes, both into warm buffers, repetitions alternating; goal >= 0.5 for nf4 at 4096x4096.\n";
  return 0;
}
