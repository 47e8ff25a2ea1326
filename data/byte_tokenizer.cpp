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

std::vector<int32_t> join_pair(std::vector<int32_t> a, int32_t sep, std::vector<int32_t> b,
                               uint32_t max_len) {
  if (b.empty() || max_len == 0) {
    a.resize(std::min<size_t>(a.size(), max_len));
    return a;
  }
  size_t budget = max_len - 1;  // one slot for the separator
  size_t na = a.size(), nb = b.size();
  while (na + nb > budget)
    (na >= nb ? na : nb) -= 1;
  a.resize(na);
  a.push_back(sep);
  a.insert(a.end(), b.begin(), b.begin() + std::ptrdiff_t(nb));
  return a;
}

std::vector<int32_t> byte_pair_tokens(std::string_view a, std::string_view b, uint32_t max_len) {
  auto all = [](std::string_view t) { return byte_tokens(t, uint32_t(t.size())); };
  return join_pair(all(a), sep_token, all(b), max_len);
}

} // namespace fedq::data
