#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "scheduling/cost_model.hpp"
#include "scheduling/tier.hpp"

namespace fedq::scheduling {

/// What a client reported about the task it finished last.
struct telemetry {
  uint32_t round = 0;          ///< round of the task this describes
  uint32_t rank = 0;
  uint32_t steps = 0;
  uint32_t tokens_per_step = 0;
  uint64_t bytes_down = 0;
  uint64_t bytes_up = 0;
  double duration_s = 0;       ///< dispatch to arrival, on the run's clock
  double compute_s = 0;        ///< wall seconds spent training
  double loss_before = 0;
  double loss_after = 0;
  double memory_mb = 0;        ///< estimated training memory
};

/// A client the server wants to use this round.
struct client_view {
  uint32_t id = 0;
  uint32_t tier = 0;           ///< index into the tier list
  uint32_t samples = 0;
  bool has_telemetry = false;
  telemetry last;
};

/// Everything a policy may look at to plan one round.
struct plan_input {
  uint32_t round = 0;
  uint32_t tokens_per_step = 0;
  uint64_t bytes_fixed = 0;     ///< adapter payload bytes independent of rank
  uint64_t bytes_per_rank = 0;  ///< adapter payload bytes per unit of rank
  std::vector<client_view> clients;
};

struct assignment {
  uint32_t client = 0;
  uint32_t rank = 0;
  uint32_t steps = 0;
  double predicted_s = 0;  ///< the policy's own prediction of the duration
};

struct round_plan {
  uint32_t round = 0;
  double deadline_s = 0;   ///< relative to the round's start
  std::vector<assignment> clients;
  double decision_us = 0;  ///< wall time the policy took to decide
};

struct policy_options {
  std::string name = "deadline-aware";
  uint32_t rank = 8;          ///< `fixed`: every client's rank
  uint32_t r_min = 2;
  uint32_t r_max = 16;
  uint32_t local_steps = 10;
  double deadline_s = 30.0;   ///< `fixed`: the round deadline
  double percentile = 0.6;    ///< `deadline-aware`: deadline = this percentile of predicted times at r_max
  double ewma = 0.5;          ///< weight of the newest observation in speed estimates
};

/// Decides ranks, steps and the deadline of each round. Policies may keep
/// state across rounds (estimates learnt from telemetry); they must be
/// deterministic functions of their inputs.
class policy {
public:
  virtual ~policy() = default;
  virtual round_plan plan(const plan_input& in) = 0;
};

/// `fixed` or `deadline-aware`; throws std::invalid_argument for other names.
std::unique_ptr<policy> make_policy(const policy_options& opts, std::vector<tier_profile> tiers,
                                    cost_options cost);

/// Names make_policy accepts.
const std::vector<std::string>& policy_names();

/// The work a client does at `rank` under `in`'s payload model.
work_item work_for(const plan_input& in, uint32_t rank, uint32_t steps);

/// Learns, per client, how the observed durations compare to the tier's
/// nominal cost model (an EWMA of observed / nominal), and predicts with it.
class duration_estimator {
public:
  duration_estimator(std::vector<tier_profile> tiers, cost_options cost, double ewma);
  void observe(const client_view& c);
  double predict(const client_view& c, const work_item& w) const;

private:
  std::vector<tier_profile> tiers_;
  cost_options cost_;
  double ewma_;
  struct state {
    bool seen = false;
    uint32_t last_round = 0;
    double ratio = 1.0;
  };
  std::unordered_map<uint32_t, state> per_client_;
};

} // namespace fedq::scheduling
