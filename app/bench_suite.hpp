#pragma once
// A benchmark suite (configs/bench/*.toml): a base config, named variants
// and groups of --set overrides, the seeds, the clock budget every variant
// runs to, and how the time-to-target thresholds are chosen.

#include <filesystem>
#include <string>
#include <vector>

namespace fedq::app {

struct bench_variant {
  std::string name;
  std::string about;             ///< one line for the table
  std::vector<std::string> set;  ///< --set key=value
};

struct bench_suite {
  std::string name;                ///< the file's stem
  std::filesystem::path file;
  std::filesystem::path config;    ///< the base config (relative paths: to the suite file)
  std::vector<uint32_t> seeds{1, 2, 3};
  double budget_s = 0;             ///< clock seconds every run goes to (run.max_clock_s)
  uint32_t max_rounds = 100000;    ///< run.rounds: far above what the budget allows
  std::vector<std::string> set;    ///< applied to every run, before group and variant
  /// Targets: the best score `reference` reaches by these fractions of the
  /// budget (mean over seeds), or, when `targets` is not empty, those scores.
  std::string reference;
  std::vector<double> target_at{0.8, 0.9, 1.0};
  std::vector<double> targets;
  std::string ours;                ///< ratio rows: every other variant's time-to-target over this one's
  std::vector<bench_variant> groups;  ///< each variant runs once per group; none: one unnamed group
  std::vector<bench_variant> variants;
};

/// A suite by name (configs/bench/NAME.toml under the working directory or
/// the source tree) or by path. Throws config_error naming the file, the
/// line and the key, or the suites there are.
bench_suite load_suite(const std::string& name_or_path);

} // namespace fedq::app
