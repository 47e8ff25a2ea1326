#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace fedq::data {

/// Byte-level tokens: byte b becomes b + 1; 0 is padding, 257 separates the
/// two texts of a pair. Vocabulary: 258.
constexpr uint32_t byte_vocab = 258;
constexpr int32_t pad_token = 0;
constexpr int32_t sep_token = 257;

/// Tokens of the first `max_len` bytes of `text`.
std::vector<int32_t> byte_tokens(std::string_view text, uint32_t max_len);

/// `a`, `sep`, then `b` in at most `max_len` tokens: the longer list is cut
/// first (one token at a time, from its end), so a short second sentence
/// survives. An empty `b` gives `a` cut to `max_len`, without a separator.
std::vector<int32_t> join_pair(std::vector<int32_t> a, int32_t sep, std::vector<int32_t> b,
                               uint32_t max_len);

/// `a`, the separator, then `b`, in at most `max_len` tokens: the longer text
/// is cut first (one byte at a time), so a short second sentence survives.
/// With an empty `b` this is byte_tokens(a, max_len).
std::vector<int32_t> byte_pair_tokens(std::string_view a, std::string_view b, uint32_t max_len);

} // namespace fedq::data
