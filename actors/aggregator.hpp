#pragma once

#include "actors/messages.hpp"
#include "compute/staleness.hpp"

namespace fedq::actors {

/// How a round's on-time updates are weighted: by local sample count
/// (FedAvg), or by ||B A||_F of the update (HetLoRA).
enum class weighting { samples, norm };

/// Round aggregation: weighted average of the on-time updates, zero-padded
/// to r_max. Late updates: FedAsync mixing with weight alpha * s(staleness),
/// or rejection past max_staleness.
aggregator_actor spawn_aggregator(caf::actor_system& sys, compute::staleness_options staleness,
                                  uint32_t r_max, weighting w = weighting::samples);

/// The late-merge decision and arithmetic, without actors.
late_result merge_late(const compute::staleness_options& o, const late_request& req);

} // namespace fedq::actors
