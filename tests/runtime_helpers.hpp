#pragma once
// Helpers of the tests that run whole experiments in-process.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "actors/experiment.hpp"
#include "app/config.hpp"

namespace fedq {

namespace test_helpers {

/// Collects what the server reports.
struct recorder : actors::run_observer {
  std::vector<actors::round_record> rounds;
  std::vector<actors::late_record> late;
  void on_round(const actors::round_record& r) override { rounds.push_back(r); }
  void on_late(const actors::late_record& l) override { late.push_back(l); }
};

inline const char* small_model = R"(
[model]
d_model = 32
layers = 1
heads = 2
ffn = 64
max_len = 48
[train]
lr = 0.01
[data]
samples_per_client = 120
eval_samples = 200
min_samples = 8
)";

/// Two fast clients and one very slow one.
inline const char* two_fast_one_slow = R"(
[[tiers]]
name = "gpu-fast"
count = 2
jitter = 0.0
[[tiers]]
name = "cpu-slow"
count = 1
compute_factor = 0.05
jitter = 0.0
)";

struct run_result {
  actors::run_summary summary;
  recorder rec;
};

inline actors::experiment_setup setup_of(const std::string& toml, const std::vector<std::string>& overrides) {
  auto cfg = app::parse_config(std::string(small_model) + toml, "test.toml", overrides);
  auto setup = app::make_setup(cfg);
  setup.compute_threads = 2;
  return setup;
}

inline run_result run_setup(const actors::experiment_setup& setup,
                            const actors::rewire_fn& rewire = {}) {
  run_result r;
  r.summary = actors::run_experiment(setup, &r.rec, {}, rewire);
  return r;
}

inline run_result run(const std::string& toml, const std::vector<std::string>& overrides) {
  return run_setup(setup_of(toml, overrides));
}

/// Every dispatched task ends as exactly one of: on time, merged late,
/// rejected late (with a reason), failed (on time or late). And the ledger
/// adds up: the rounds' lists and the after-the-last-round counts give the
/// summary's totals, and only what was handled after the last round closed
/// is counted there.
inline void check_nothing_lost(const run_result& r) {
  uint64_t dispatched = 0, merged = 0, rejected = 0, failed = 0, listed = 0, refused = 0;
  for (const auto& round : r.rec.rounds) {
    dispatched += round.participants.size();
    refused += round.rejected();
    merged += round.late_merged();
    rejected += round.late_rejected();
    failed += round.failed() + round.late_failed();
    listed += round.late.size();
  }
  const auto& s = r.summary;
  CHECK(s.on_time + s.late_merged + s.late_rejected + s.failed + refused == dispatched);
  CHECK(merged + s.after_last_merged == s.late_merged);
  CHECK(rejected + s.after_last_rejected == s.late_rejected);
  CHECK(failed + s.after_last_failed == s.failed);
  uint64_t late_failed = 0, after_last = 0, late_invalid = 0;
  double last_close = r.rec.rounds.empty() ? 0 : r.rec.rounds.back().t_close;
  for (const auto& l : r.rec.late) {
    late_failed += l.failed ? 1 : 0;
    late_invalid += l.invalid ? 1 : 0;
    after_last += l.at_s >= last_close ? 1 : 0;
    if (!l.merged)
      CHECK_FALSE(l.reason.empty());
  }
  CHECK(r.rec.late.size() == s.late_merged + s.late_rejected + late_failed);
  CHECK(s.invalid == refused + late_invalid);
  CHECK(listed + s.after_last_merged + s.after_last_rejected + s.after_last_failed == r.rec.late.size());
  CHECK(s.after_last_merged + s.after_last_rejected + s.after_last_failed <= after_last);
}

/// run(), but a run that has not ended after `limit_s` seconds of wall time
/// fails the test process at once (a hung round loop never returns, so the
/// test cannot go on).
inline run_result run_or_fail_hung(const std::string& toml, const std::vector<std::string>& overrides,
                                   double limit_s = 120) {
  auto f = std::async(std::launch::async, [&] { return run(toml, overrides); });
  if (f.wait_for(std::chrono::duration<double>(limit_s)) != std::future_status::ready) {
    std::fprintf(stderr, "FAILED: the run did not end within %.0f s (the round loop hangs)\n", limit_s);
    std::fflush(stderr);
    std::_Exit(1);
  }
  return f.get();
}

} // namespace test_helpers

} // namespace fedq
