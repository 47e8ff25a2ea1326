#include "data/byte_tokenizer.hpp"

#include <algorithm>

namespace fedq::data {

std::vector<int32_t> byte_tokens(std::string_view text, uint32_t max_len) {
  std::vector<int32_t> out;
  size_t n = std::min<size_t>(text.size(), max_len);
  out.reserve(n);
  for (size_t i = 0; i < n; ++i)
    out.push_back(static_cast<int32_t>(static_cast<unsigned char>(text[i])) + 1);
  return out;
}

} // namespace fedq::data
