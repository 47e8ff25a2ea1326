#pragma once
// What a benchmark reads back from its runs' folders, and the tables it
// writes: plain functions over rounds.jsonl and summary.json, no processes.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "app/bench_suite.hpp"

namespace fedq::app {

/// One run of a suite: where it is, and what its records say up to the budget.
struct bench_run {
  std::string group, variant;
  uint32_t seed = 0;
  std::filesystem::path dir;
  struct point {
    double t = 0;       ///< the round's (window's) close, clock seconds
    double score = 0;
    double worst = 0;   ///< fairness over the clients' local test sets
    double p10 = 0;
    double jain = 0;    ///< Jain's index of the clients' scores
  };
  std::vector<point> curve;             ///< every record closed by the budget
  uint64_t bytes = 0;                   ///< up and down, in those records
  uint32_t with_deadline = 0, deadline_met = 0;
  uint64_t participants = 0, on_time = 0;
  std::map<std::string, double> peak_memory_mb;  ///< by tier
  double wall_s = 0;
  uint32_t rounds_total = 0;            ///< every record, the drain after the budget included
};

/// Reads dir/rounds.jsonl and dir/summary.json, keeping the records that
/// closed by `budget_s`. Throws std::runtime_error naming the file and line.
bench_run read_bench_run(const std::filesystem::path& dir, double budget_s);

/// The first close time at which the score reached `target`; < 0: never.
double time_to(const bench_run& r, double target);
/// The score of the last record closed by `t`; none when none had closed.
/// (Scores may be negative: Matthews, Pearson.)
std::optional<double> score_at(const bench_run& r, double t);
/// The best score of the records closed by `t`; none when none had closed.
std::optional<double> best_by(const bench_run& r, double t);

/// The suite's thresholds: its `targets`, or the mean over seeds of the
/// reference variant's best score by each fraction of the budget.
std::vector<double> bench_targets(const bench_suite& s, const std::vector<bench_run>& runs,
                                  const std::string& group);

/// The tables of one suite as Markdown: per group, time-to-target at each
/// target, the score at the budget and when the fastest variant reached
/// each target (mean ± sd over seeds), the ratio of every variant's
/// time-to-target to `ours` (median and range over seeds), and the systems
/// figures (rounds, bytes per round, deadline hits, on-time updates,
/// fairness, peak memory per tier).
std::string bench_table(const bench_suite& s, const std::vector<bench_run>& runs,
                        const std::string& header);

/// One row per run, every figure of the tables, for plots and spreadsheets.
std::string bench_csv(const bench_suite& s, const std::vector<bench_run>& runs);

} // namespace fedq::app
