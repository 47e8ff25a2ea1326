#pragma once

#include <string>
#include <vector>

namespace fedq::app {

struct profile_args {
  std::string config;
  std::vector<std::string> overrides;  ///< --set key=value
  std::vector<uint32_t> ranks;         ///< empty: r_min, (r_min + r_max) / 2, r_max
  std::vector<std::string> bits{"fp32", "bf16", "int8", "nf4"};
  std::vector<uint32_t> threads{1};   ///< libtorch threads per step; the fit uses the first
  uint32_t steps = 10;                 ///< timed steps per (bits, rank) and repeat
  uint32_t repeats = 3;                ///< interleaved repeats; the median is kept
  std::string out;                     ///< CSV of the measurements; empty: none
};

/// `fedq profile`: times real local training steps of the config's model on
/// this machine for each backbone format and rank, writes them as a cost
/// table (CSV) and prints the fitted [cost] section for a config.
/// Returns the exit code (0 ok, 1 failed, 2 bad input).
int profile_command(const profile_args& args);

} // namespace fedq::app
