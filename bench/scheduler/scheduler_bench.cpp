// Scheduler decision time and plan quality, side by side in one run:
//  1. every policy plans the same rounds for N clients; the median wall time
//     of one decision (after warm-up, with telemetry and feedback);
//  2. P1 on the same random instances solved by water-filling and by IPOPT:
//     the continuous optimum, the rounded plan's round time, and solve times.

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <random>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "scheduling/p1.hpp"
#include "scheduling/population.hpp"
#include "scheduling/policy.hpp"

using namespace fedq::scheduling;

namespace {

using clock_type = std::chrono::steady_clock;

double us_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::micro>(clock_type::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"Scheduler decision time per policy, and P1 by water-filling vs IPOPT"};
  std::vector<uint32_t> sizes{10, 100, 1000, 10000};
  uint32_t rounds = 5, instances = 5;
  uint64_t seed = 1;
  app.add_option("--clients", sizes, "Client counts N, e.g. 10,100,1000 or 10 100 1000")
    ->expected(1, -1)
    ->delimiter(',');
  app.add_option("--rounds", rounds, "Timed decisions per policy and N (after 3 warm-up rounds)");
  app.add_option("--instances", instances, "Random P1 instances per N");
  app.add_option("--seed", seed, "Seed of the scenarios and instances");
  auto policies = policy_names();
  app.add_option("--policies", policies, "Policies to time, e.g. online,fixed (default: all)")
    ->delimiter(',')
    ->check(CLI::IsMember(policy_names()));
  CLI11_PARSE(app, argc, argv);

  std::cout << fmt::format("clients {} | {} timed rounds after 3 warm-up rounds | {} P1 instances "
                           "per N | seed {} | r_min 2, r_max 16, 10 local steps\n\n",
                           fmt::join(sizes, ","), rounds, instances, seed);
  std::cout << "1. Median decision time per round (microseconds)\n\n";
  std::cout << fmt::format("| {:<14} |", "policy");
  for (auto n : sizes)
    std::cout << fmt::format(" {:>12} |", "N=" + std::to_string(n));
  std::cout << "\n|" << std::string(16, '-') << "|";
  for (size_t i = 0; i < sizes.size(); ++i)
    std::cout << std::string(14, '-') << ":|";
  std::cout << "\n";
  for (const auto& name : policies) {
    std::cout << fmt::format("| {:<14} |", name) << std::flush;
    for (auto n : sizes) {
      policy_options o;
      o.name = name;
      o.adapt_bits = name == "online";
      auto s = make_scenario(n, seed);
      auto p = make_policy(o, s.ctx);
      std::vector<double> times;
      for (uint32_t round = 0; round < 3 + rounds; ++round) {
        s.in.round = round;
        auto t0 = clock_type::now();
        auto plan = p->plan(s.in);
        double us = us_since(t0);
        if (round >= 3)
          times.push_back(us);
        report(s, plan, round);
      }
      std::cout << fmt::format(" {:>12.1f} |", median(times)) << std::flush;
    }
    std::cout << "\n";
  }

  if (instances == 0) {
    std::cout << "\n2. P1 water-filling vs IPOPT: not run (--instances 0)\n";
    return 0;
  }
  std::cout << "\n2. P1 on the same instances: water-filling vs IPOPT\n\n";
  std::cout << "| N | instances | max rel. diff of optimum T | max diff of rounded T (in units of max b_n) "
               "| water-fill median us | IPOPT median us | IPOPT / water-fill | IPOPT iterations (min-max) | IPOPT status |\n";
  std::cout << "|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
  std::mt19937_64 rng(seed);
  for (auto n : sizes) {
    double worst_rel = 0, worst_rounded = 0;
    std::vector<double> tw, ti;
    uint32_t it_min = ~0u, it_max = 0;
    std::map<std::string, int> statuses;
    for (uint32_t k = 0; k < instances; ++k) {
      std::uniform_real_distribution<double> a(0.5, 20), b(0.01, 2), cap(4, 64), r(0.2, 0.9);
      p1_problem p;
      p.r_min = 2;
      double sum_cap = 0;
      for (uint32_t i = 0; i < n; ++i) {
        p.a.push_back(a(rng));
        p.b.push_back(b(rng));
        p.cap.push_back(std::floor(cap(rng)));
        sum_cap += p.cap.back();
      }
      p.total = std::round(p.r_min * n + r(rng) * (sum_cap - p.r_min * n));
      auto t0 = clock_type::now();
      auto w = solve_p1_waterfill(p);
      tw.push_back(us_since(t0));
      t0 = clock_type::now();
      auto i = solve_p1_ipopt(p);
      ti.push_back(us_since(t0));
      it_min = std::min(it_min, i.iterations);
      it_max = std::max(it_max, i.iterations);
      statuses[i.status] += 1;
      worst_rel = std::max(worst_rel, std::abs(i.round_s - w.round_s) / w.round_s);
      double bmax = *std::max_element(p.b.begin(), p.b.end());
      double dr = std::abs(p1_round_time(p, round_ranks(p, w.ranks)) - p1_round_time(p, round_ranks(p, i.ranks)));
      worst_rounded = std::max(worst_rounded, dr / bmax);
    }
    std::string status;
    for (const auto& [name, count] : statuses)
      status += (status.empty() ? "" : ", ") + fmt::format("{} {}", count, name);
    std::cout << fmt::format("| {} | {} | {:.2e} | {:.3f} | {:.1f} | {:.1f} | {:.0f} | {}-{} | {} |\n", n,
                             instances, worst_rel, worst_rounded, median(tw), median(ti),
                             median(ti) / median(tw), it_min, it_max, status);
  }
  return 0;
}
