#pragma once
// A byte-level BPE tokenizer read from (and written as) a Hugging Face
// `tokenizer.json`, as GPT-2 and SmolLM/SmolLM2 use it; and a trainer that
// learns one from a corpus (`fedq pretrain`). No libtorch.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fedq::data {

class bpe_tokenizer {
public:
  /// Reads a tokenizer.json. Supported: model BPE over the byte-level
  /// alphabet, no normalizer, pre_tokenizer ByteLevel (GPT-2 split) alone or
  /// after Digits (individual_digits). Anything else, and any malformed
  /// entry, throws data_error naming the file and the key.
  static bpe_tokenizer load(const std::string& path);
  static bpe_tokenizer parse(const std::string& json_text, const std::string& source);

  /// tokenizer.json text in the Hugging Face layout (loadable by `tokenizers`).
  std::string to_json() const;

  /// Token ids of `text`: added (special) tokens are matched literally first,
  /// then the GPT-2 pre-tokenizer splits the rest and BPE merges each piece.
  /// Bytes >= 0x80 count as letters in that split (the regex's \p{L} for
  /// ASCII text, an approximation beyond it).
  std::vector<int32_t> encode(std::string_view text) const;
  /// The text of `ids` (exact inverse of encode for any text).
  std::string decode(const std::vector<int32_t>& ids) const;

  /// Largest id + 1, added tokens included.
  uint32_t vocab_size() const { return uint32_t(id_to_token_.size()); }
  /// The id of a token or added token (in its vocabulary spelling).
  std::optional<int32_t> token_id(const std::string& token) const;

private:
  friend bpe_tokenizer train_bpe(const std::vector<std::string_view>&, uint32_t,
                                 const std::vector<std::string>&);
  void index();  ///< fills the lookup tables from tokens, merges and added tokens
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;
  void encode_plain(std::string_view text, std::vector<int32_t>& out) const;
  bool is_added(int32_t id) const;

  std::vector<std::string> id_to_token_;             ///< "" for holes
  std::unordered_map<std::string, int32_t> token_to_id_;
  std::vector<std::pair<std::string, std::string>> merges_;  ///< in rank order
  struct merge_to {
    uint32_t rank;
    int32_t id;
  };
  std::unordered_map<uint64_t, merge_to> merge_of_;  ///< (left id, right id) -> merge
  std::vector<std::pair<std::string, int32_t>> added_;  ///< content, id (special tokens)
  std::array<int32_t, 256> byte_id_{};
  bool individual_digits_ = false;
  bool add_prefix_space_ = false;
};

/// Learns a byte-level BPE of `vocab_size` ids from `texts`: `specials` take
/// the first ids, the 256 bytes the next, then merges by pair frequency (ties:
/// the pair first seen in id order). Digits are split individually, as in
/// SmolLM2. Deterministic.
bpe_tokenizer train_bpe(const std::vector<std::string_view>& texts, uint32_t vocab_size,
                        const std::vector<std::string>& specials);

/// The GPT-2 pre-tokenizer's pieces of `text` (with Digits first when
/// `individual_digits`), as byte strings.
std::vector<std::string_view> pre_tokenize(std::string_view text, bool individual_digits);

} // namespace fedq::data
