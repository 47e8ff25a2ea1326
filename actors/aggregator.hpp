#pragma once

#include "actors/messages.hpp"
#include "compute/server_opt.hpp"
#include "compute/staleness.hpp"

namespace fedq::actors {

/// How a round's on-time updates are weighted: by local sample count
/// (FedAvg), or by ||B A||_F of the update (HetLoRA).
enum class weighting { samples, norm };

/// Round aggregation: the weighted average of the on-time updates relative
/// to the round's base (compute::weighted_average: a rank component only
/// the clients that trained it contribute to). Late updates: FedAsync mixing
/// with weight alpha * s(staleness) over the update's own rank, or rejection
/// past max_staleness. With a server optimizer, the round's average change
/// is its pseudo-gradient (compute::server_optimizer); late merges are mixed
/// in as they are, outside it.
/// fedavg: on-time updates averaged factor by factor (weighted_average),
/// late ones mixed factor by factor (mix). flexlora: both in the space of
/// the products B A, split again by SVD (compute/flexlora.hpp).
enum class aggregation_rule { fedavg, flexlora };

struct aggregator_options {
  compute::staleness_options staleness;
  weighting by = weighting::samples;
  compute::server_opt_options server_opt;
  aggregation_rule rule = aggregation_rule::fedavg;
};

/// A FedBuff step without actors: the buffer's updates, each weighted
/// s(staleness) / K (s: the aggregator's staleness function; K: the buffer's
/// size), applied to the global adapter from their own bases
/// (compute::buffered_step), then through the server optimizer `opt`.
compute::adapter_payload apply_buffer(const compute::staleness_options& o,
                                      compute::server_optimizer& opt, const buffer_request& req);

/// `state`: the server optimizer's state to start from (a checkpoint's).
aggregator_actor spawn_aggregator(caf::actor_system& sys, aggregator_options o,
                                  std::vector<double> state = {});

/// The late-merge decision and arithmetic, without actors.
late_result merge_late(const compute::staleness_options& o, const late_request& req,
                       aggregation_rule rule = aggregation_rule::fedavg);

} // namespace fedq::actors
