#pragma once

#include <string>
#include <vector>

namespace fedq::app {

struct bench_args {
  std::string suite;                  ///< a name in configs/bench/, or a file
  std::vector<uint32_t> seeds;        ///< empty: the suite's
  uint32_t jobs = 0;                  ///< runs at once; 0: one per core
  std::string out;                    ///< empty: results/<suite>
  double budget_s = 0;                ///< > 0: instead of the suite's
  std::vector<std::string> variants;  ///< empty: all
  std::vector<std::string> groups;    ///< empty: all
  std::string data_dir;               ///< passed to every run
  std::vector<std::string> overrides; ///< --set key=value for every run, after the suite's own
  bool plots = true;
  bool dry_run = false;               ///< check every run's config, print the runs, run none
  std::string command_line;           ///< for the table's header
};

/// `fedq bench`: runs every variant of a suite for every seed (up to `jobs`
/// at once, threads split so that the cores are never oversubscribed),
/// skips the runs an earlier invocation finished and resumes interrupted
/// ones from their checkpoints, then writes runs.csv, table.md and the plots.
/// Exit code: 0 ok, 1 a run failed, 2 bad input, 130 interrupted.
int bench_command(const bench_args& args);

} // namespace fedq::app
