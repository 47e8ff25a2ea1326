#pragma once

#include <cstdint>
#include <vector>

#include "serialization/adapter_payload.hpp"

namespace fedq::compute {

using serialization::adapter_payload;

/// Keeps the first `rank` rows of A and columns of B (pairs already at or
/// below `rank` are kept whole).
adapter_payload truncate(const adapter_payload& p, uint32_t rank);

/// Pairs below `rank` get zero components up to it (pairs at or above it
/// are kept whole): a self-pruned update as what it is, an adapter whose
/// pruned components are zero.
adapter_payload pad_to_rank(const adapter_payload& p, uint32_t rank);

/// The round's aggregate, relative to the global `base` the clients started
/// from: next = base + sum_k w_k (x_k - base), where a client contributes to
/// a rank component j (row j of A, column j of B) only if its rank covers j,
/// and the weights are renormalized over the clients that have j. A
/// component that no client trained keeps the base's value, so a low-rank
/// client never zeroes what a higher-rank client or an earlier round trained
/// (plain zero-padding would, and a component with A = B = 0 gets no
/// gradient again). Dense tensors (the head) are the weighted average of
/// all. Weights need not sum to one (sample counts, or ||B A||). The result
/// has the base's rank. Throws std::invalid_argument when the modules
/// differ, a rank exceeds the base's, or the weights are not usable.
adapter_payload weighted_average(const adapter_payload& base, const std::vector<adapter_payload>& updates,
                                 const std::vector<double>& weights);

/// ||B A||_F summed in squares over the LoRA pairs, computed as
/// sqrt(trace((B^T B)(A A^T))) per pair without forming B A (HetLoRA's
/// aggregation weight). Components [from, rank) only when `from` > 0.
double lora_norm(const adapter_payload& p, uint32_t from = 0);

/// HetLoRA's self-pruning rule: with r the adapter's rank and k =
/// floor(keep * r), the rank drops to k when the tail's share of the norm,
/// ||B_tail A_tail|| / ||B A|| over components [k, r), is below `threshold`;
/// otherwise it stays r. Never below 1.
uint32_t self_pruned_rank(const adapter_payload& p, double keep, double threshold);

/// FedAsync mixing of a late update into the global adapter:
/// x <- (1 - w) x + w x_update, over the rows of A and columns of B that the
/// update has (its rank) and over every dense tensor. The global adapter's
/// components beyond the update's rank stay as they are: a zero-padded tail
/// would shrink them every time a low-rank straggler lands.
void mix(adapter_payload& global, const adapter_payload& update, double w);

/// FedBuff's server step: global += sum_k w_k (x_k - base_k), where base_k
/// is the adapter client k started from (the global at its dispatch,
/// truncated to its rank) and x_k what it trained from there; over the
/// components each update has (its rank) and every dense tensor. The
/// weights carry FedBuff's 1/K and its staleness scaling; they need not sum
/// to one. Throws std::invalid_argument when modules or ranks do not match.
void buffered_step(adapter_payload& global, const std::vector<adapter_payload>& updates,
                   const std::vector<adapter_payload>& bases, const std::vector<double>& weights);

/// aggregate += after - before, over every A, B and dense value: the net
/// change that late merges made to the global adapter while a round was open
/// (`before`: the global its clients started from; `after`: the global at
/// its close). The on-time average is trained from `before`, so without this
/// it would overwrite those merges. All three must have the same modules and
/// ranks (the global's r_max); throws std::invalid_argument otherwise.
void carry_over(adapter_payload& aggregate, const adapter_payload& before, const adapter_payload& after);

} // namespace fedq::compute
