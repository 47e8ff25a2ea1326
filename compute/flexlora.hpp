#pragma once
// FlexLoRA (Bai et al., 2024): heterogeneous-rank LoRA aggregated in the
// space of the products. Per module the server forms the weighted
//   dW = sum_k p_k B_k A_k      (each client at its own rank)
// and splits it by SVD into B = U_r sqrt(S_r), A = sqrt(S_r) V_r^T at the
// global's rank r_max. The factors come out ordered by singular value, so
// truncating the global to a client's rank r_k (as every task does) sends it
// the top-r_k SVD factors of dW, which is FlexLoRA's redistribution.

#include <vector>

#include "serialization/adapter_payload.hpp"

namespace fedq::compute {

using serialization::adapter_payload;

/// The round's aggregate: LoRA pairs as above (p_k = weights normalized),
/// dense tensors (the head) as in weighted_average, relative to `base`. With
/// `current` (the global at the round's close, if late merges landed while
/// it was open), their net change current - base is kept, in product space
/// for LoRA and as values for dense tensors. The result has the base's
/// ranks. Throws std::invalid_argument when modules or weights do not fit.
adapter_payload flexlora_average(const adapter_payload& base, const std::vector<adapter_payload>& updates,
                                 const std::vector<double>& weights, const adapter_payload* current = nullptr);

/// A late update under FlexLoRA: per module dW <- (1 - w) dW + w B_u A_u,
/// split again by SVD; dense tensors mixed as compute::mix does.
void flexlora_mix(adapter_payload& global, const adapter_payload& update, double w);

} // namespace fedq::compute
