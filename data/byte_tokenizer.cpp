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

std::vector<int32_t> byte_pair_tokens(std::string_view a, std::string_view b, uint32_t max_len) {
  if (b.empty() || max_len == 0)
    return byte_tokens(a, max_len);
  size_t budget = max_len - 1;  // one slot for the separator
  size_t na = a.size(), nb = b.size();
  while (na + nb > budget)
    (na >= nb ? na : nb) -= 1;
  auto out = byte_tokens(a.substr(0, na), max_len);
  out.push_back(sep_token);
  auto tb = byte_tokens(b.substr(0, nb), max_len);
  out.insert(out.end(), tb.begin(), tb.end());
  return out;
}

} // namespace fedq::data
