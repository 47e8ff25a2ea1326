#pragma once
// Language-model entry points that need no libtorch types: for the command
// line and tests.

#include <cstdint>
#include <string>
#include <vector>

namespace fedq::compute {

/// Logits (per position, vocab values each) of the checkpoint in `dir` (Hugging
/// Face layout) after `tokens`, with its linears stored as `format` (nf4, int8,
/// bf16, fp32). Throws std::runtime_error naming the problem (a token id out
/// of the vocabulary, a bad checkpoint).
std::vector<std::vector<float>> lm_logits(const std::string& dir, const std::vector<int64_t>& tokens,
                                          const std::string& format = "fp32");

} // namespace fedq::compute
