#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "data/bpe_tokenizer.hpp"
#include "data/dataset.hpp"

namespace fedq::data {

/// Turns an example's text (or sentence pair) into model token ids: byte
/// tokens for the built-in model, a checkpoint's BPE otherwise.
struct text_encoder {
  std::shared_ptr<const bpe_tokenizer> bpe;  ///< null: byte tokens (byte_tokenizer.hpp)
  int32_t sep = -1;                          ///< joins a pair; -1: pairs cannot be encoded
  int32_t pad = 0;                           ///< fills the rest of a row (masked out)

  /// The byte-token encoder (vocabulary byte_vocab).
  static text_encoder bytes();
  /// At most `max_len` ids, at least one (an empty text encodes as a space).
  /// A pair without a separator throws std::invalid_argument.
  std::vector<int32_t> encode(const example& e, uint32_t max_len) const;
  /// One text alone: at most `max_len` ids, at least one.
  std::vector<int32_t> encode_text(const std::string& text, uint32_t max_len) const;

private:
  std::vector<int32_t> tokens(const std::string& text) const;
};

} // namespace fedq::data
