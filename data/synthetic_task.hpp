#pragma once

#include <cstdint>

#include "data/dataset.hpp"

namespace fedq::data {

/// The built-in task, needing no files: short sentences of filler words with
/// keywords of one of four topics mixed in (and, sometimes, one keyword of
/// another topic as noise); the label is the topic.
dataset make_synthetic(uint32_t count, uint64_t seed);

/// Train and eval splits of the synthetic task, from disjoint seeds.
task synthetic_task(uint32_t train_count, uint32_t eval_count, uint64_t seed);

} // namespace fedq::data
