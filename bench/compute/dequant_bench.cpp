// Dequantization throughput of the frozen-weight formats against a plain
// memory copy of the same output bytes, side by side in one run: for each
// weight size, the median time of W.dequantize() (a fresh fp32 tensor) and
// of a memcpy of rows * cols * 4 bytes into a fresh tensor (both pay the
// allocation), and their ratio.

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "compute/blas_core.hpp"
#include "compute/quant.hpp"

using namespace fedq::compute;

namespace {

template <class F>
double median_s(int reps, F&& f) {
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
  fedq::compute::restart_with_fast_blas(argv);
  CLI::App app{"Dequantization throughput vs a memory copy of the same bytes"};
  std::vector<int64_t> sizes{1024, 2048, 4096};
  int reps = 15;
  int threads = 1;
  app.add_option("--sizes", sizes, "Square weight sizes (rows = cols)")->delimiter(',');
  app.add_option("--reps", reps, "Timed repetitions (median kept)");
  app.add_option("--threads", threads, "libtorch threads");
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(threads);
  torch::manual_seed(1);
  std::cout << fmt::format("sizes {} | {} reps, median | {} libtorch thread(s) | output fp32\n\n",
                           fmt::join(sizes, ","), reps, threads);
  std::cout << "| weight | format | stored MB | dequantize ms | memcpy ms | dequantize / memcpy | out GB/s |\n";
  std::cout << "|---|---|---:|---:|---:|---:|---:|\n";
  for (auto n : sizes) {
    auto w = torch::randn({n, n}) * 0.02;
    size_t out_bytes = static_cast<size_t>(n * n) * sizeof(float);
    auto src = w.contiguous();
    torch::Tensor dst;
    double copy = median_s(reps, [&] {
      dst = torch::empty({n, n});
      std::memcpy(dst.data_ptr<float>(), src.data_ptr<float>(), out_bytes);
    });
    struct variant {
      const char* name;
      weight_format f;
      bool dq;
    };
    for (auto v : {variant{"nf4", weight_format::nf4, false}, variant{"nf4+dq", weight_format::nf4, true},
                   variant{"int8", weight_format::int8, false}, variant{"bf16", weight_format::bf16, false}}) {
      auto q = quantize(w, v.f, v.dq);
      torch::Tensor out;
      double t = median_s(reps, [&] { out = q.dequantize(); });
      std::cout << fmt::format("| {}x{} | {} | {:.2f} | {:.3f} | {:.3f} | {:.1f} | {:.2f} |\n", n, n, v.name,
                               q.bytes() / 1e6, 1e3 * t, 1e3 * copy, t / copy, out_bytes / t / 1e9)
                << std::flush;
    }
  }
  return 0;
}
