#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fedq::scheduling {

/// A class of client hardware. Durations on the virtual clock come from it;
/// on the wall clock only `threads` matters (the client's compute budget).
struct tier_profile {
  std::string name;
  uint32_t count = 0;           ///< clients of this tier in the experiment
  double compute_factor = 1.0;  ///< speed relative to gpu-fast (1.0)
  double memory_gb = 24.0;      ///< memory capacity: no plan over it is issued
  double up_mbps = 100.0;       ///< uplink bandwidth, megabits per second
  double down_mbps = 100.0;     ///< downlink bandwidth, megabits per second
  double latency_s = 0.05;      ///< one-way latency per transfer
  double jitter = 0.1;          ///< sigma of the log-normal per-round noise
  uint32_t threads = 1;         ///< compute threads a client of this tier may use
  /// How bandwidth varies over time: static | walking | vehicle (seeded, per
  /// client) or the path of a CSV trace (time_s,up_mbps,down_mbps).
  std::string bandwidth = "static";
  double online_s = 0;          ///< mean length of an online period; 0 = always online
  double offline_s = 0;         ///< mean length of an offline period
  /// A CSV trace time_s,online (1/0) that every client of the tier replays
  /// from its own seeded offset; "" = online_s and offline_s decide.
  std::string availability;
};

/// The brief's three tiers: gpu-fast (GPU 24 GB), gpu-medium (GPU 32 GB),
/// cpu-slow (many-core CPU, thread-limited), with `counts` clients each.
std::vector<tier_profile> default_tiers(uint32_t fast, uint32_t medium, uint32_t slow);

} // namespace fedq::scheduling
