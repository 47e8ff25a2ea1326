#include "data/text_encoder.hpp"

#include <stdexcept>

#include "data/byte_tokenizer.hpp"

namespace fedq::data {

text_encoder text_encoder::bytes() { return {nullptr, sep_token, pad_token}; }

std::vector<int32_t> text_encoder::tokens(const std::string& text) const {
  return bpe ? bpe->encode(text) : byte_tokens(text, uint32_t(text.size()));
}

std::vector<int32_t> text_encoder::encode_text(const std::string& text, uint32_t max_len) const {
  return encode({text, "", 0, 0}, max_len);
}

std::vector<int32_t> text_encoder::encode(const example& e, uint32_t max_len) const {
  if (!e.text_b.empty() && sep < 0)
    throw std::invalid_argument("sentence pairs need a separator token: the checkpoint's config.json "
                                "has no eos_token_id and its tokenizer no <|endoftext|>");
  auto out = join_pair(tokens(e.text), sep, e.text_b.empty() ? std::vector<int32_t>{} : tokens(e.text_b),
                       max_len);
  if (out.empty() && max_len > 0)
    out = tokens(" ");  // an empty text still has one token to pool
  return out;
}

} // namespace fedq::data
