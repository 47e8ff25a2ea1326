#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "actors/experiment.hpp"
#include "actors/server.hpp"

namespace fedq::app {

/// Writes a run's files into its output folder as the run goes:
/// rounds.jsonl (a line per round), summary.json, config.toml, partition.json;
/// and prints a progress line per round.
class run_output : public actors::run_observer {
public:
  run_output(std::filesystem::path dir, std::vector<std::string> tier_names, uint32_t rounds,
             bool virtual_clock, bool print_progress);

  void on_round(const actors::round_record& r) override;
  /// Writes the rounds a resumed run already has as rounds.jsonl's first
  /// lines (whatever the file held after them, a torn line included, is gone).
  void replay(const std::vector<actors::round_record>& rounds);

  void write_config(const std::string& toml_text);
  /// Per client: tier, train and test counts, label (or score-bin) histograms.
  /// `local`: clients whose shard is their worker's own file (counts only).
  void write_partition(const actors::experiment_setup& s,
                       const std::vector<actors::local_shard>& local = {});
  /// Also records what is not in run_summary (target, mode, policy, seed).
  void write_summary(const actors::run_summary& s, double target, const std::string& mode,
                     const std::string& policy, uint64_t seed);
  const std::filesystem::path& dir() const { return dir_; }

private:
  std::filesystem::path dir_;
  std::ofstream rounds_;
  std::vector<std::string> tiers_;
  uint32_t total_rounds_;
  bool virtual_;
  bool progress_;
  bool replaying_ = false;
};

/// A fresh folder runs/<stem>-<mode>-<YYYYmmdd-HHMMSS>[-N] for a run without --out.
std::filesystem::path default_out_dir(const std::string& config_path, const std::string& mode);

/// FNV-1a (64 bits) of a config's effective text: checkpoints record it, and
/// a resume with another config is refused.
uint64_t config_hash(const std::string& effective_toml);

/// One line of the summary for humans.
std::string describe(const actors::run_summary& s, bool virtual_clock);

} // namespace fedq::app
