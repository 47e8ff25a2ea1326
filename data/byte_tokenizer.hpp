#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace fedq::data {

/// Byte-level tokens: byte b becomes b + 1; 0 is padding. Vocabulary: 257.
constexpr uint32_t byte_vocab = 257;
constexpr int32_t pad_token = 0;

/// Tokens of the first `max_len` bytes of `text`.
std::vector<int32_t> byte_tokens(std::string_view text, uint32_t max_len);

} // namespace fedq::data
