#pragma once
// The simulated world of a virtual-clock run: how long a task takes on a
// client given its tier, its bandwidth at that moment, its availability, and
// seeded noise. Plain logic, no actors; deterministic for a seed.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "scheduling/cost_model.hpp"
#include "scheduling/tier.hpp"

namespace fedq::scheduling {

/// A trace over time: piecewise constant from each row's time on, repeating
/// after the last row (which lasts as long as the mean row).
struct time_trace {
  std::vector<double> time_s;               ///< increasing, starting at 0
  std::vector<std::vector<double>> values;  ///< per column after time_s, per row
  double period_s = 0;                      ///< length of one repetition
  /// The row in force at time t (t wraps around the period).
  size_t row_at(double t) const;
};

/// Reads a CSV trace with the header time_s,up_mbps,down_mbps (Mbps > 0).
/// Throws std::runtime_error naming the file, the line and what is wrong.
time_trace read_bandwidth_trace(const std::string& path);

/// Reads a CSV trace with the header time_s,online (1 online, 0 offline).
time_trace read_availability_trace(const std::string& path);

/// Whether tiers.bandwidth names a generated pattern (static | walking |
/// vehicle) rather than a CSV trace.
bool is_bandwidth_pattern(const std::string& s);

/// The bandwidth multiplier of a generated pattern at time t for a client:
/// static (1), walking (slow smooth swings, 0.5x to 1.6x), vehicle (fast
/// swings and handover drops to 5 %). Deterministic for (seed, client, t).
double bandwidth_multiplier(const std::string& pattern, uint64_t seed, uint32_t client, double t);

/// What one task costs on the virtual clock.
struct task_timing {
  double compute_s = 0;   ///< training, after noise
  double transfer_s = 0;  ///< payloads down and up, latency included
  double offline_s = 0;   ///< time the client spent offline while it held the task
  double total_s() const { return compute_s + transfer_s + offline_s; }
};

class environment {
public:
  /// `client_tier[i]` is client i's tier. Trace files named by tiers are read here.
  environment(std::vector<tier_profile> tiers, std::vector<uint32_t> client_tier,
              cost_options cost, uint64_t seed);

  /// Uplink and downlink of `client` at time `t` (Mbps).
  std::pair<double, double> bandwidth(uint32_t client, double t) const;

  /// Whether clients of `tier` ever go offline (a trace or online_s/offline_s).
  bool has_availability(uint32_t tier) const;

  bool online(uint32_t client, double t);
  /// The first time >= t at which `client` is online.
  double next_online(uint32_t client, double t);

  /// The task `w` dispatched to `client` at `t` in `round`: download at the
  /// bandwidth of that moment, compute with jitter, upload at the bandwidth
  /// of the moment it starts; offline periods pause the task.
  task_timing time_task(uint32_t client, uint32_t round, double t, const work_item& w);

private:
  /// Start of online/offline periods of a client: even entries start online
  /// periods, odd entries offline ones; grown on demand.
  const std::vector<double>& periods_until(uint32_t client, double t);

  std::vector<tier_profile> tiers_;
  std::vector<uint32_t> client_tier_;
  cost_options cost_;
  uint64_t seed_;
  std::map<uint32_t, time_trace> traces_;        // bandwidth, by tier
  std::map<uint32_t, time_trace> availability_;  // by tier
  std::map<uint32_t, std::vector<double>> periods_;
};

} // namespace fedq::scheduling
