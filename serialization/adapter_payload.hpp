#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "serialization/framing.hpp"

namespace fedq::serialization {

/// One LoRA pair: delta W = B A, stored row-major.
struct lora_pair {
  std::string name;         ///< e.g. "layers.0.attn.q"
  uint32_t d_in = 0;
  uint32_t d_out = 0;
  uint32_t rank = 0;
  std::vector<float> a;     ///< (rank, d_in)
  std::vector<float> b;     ///< (d_out, rank)

  template <class Archive>
  void serialize(Archive& ar) { ar(name, d_in, d_out, rank, a, b); }
};

/// A trainable tensor without rank (the classification head).
struct dense_tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;

  template <class Archive>
  void serialize(Archive& ar) { ar(name, shape, values); }
};

/// The trainable part of the model: what travels between server and clients.
struct adapter_payload {
  std::vector<lora_pair> lora;
  std::vector<dense_tensor> dense;

  /// Largest rank over the LoRA pairs (0 when there are none).
  uint32_t rank() const;

  template <class Archive>
  void serialize(Archive& ar) { ar(lora, dense); }
};

/// Encodes a payload as a framed blob ("FQAD", version 1, CRC-32).
blob encode(const adapter_payload& p);

/// Decodes and validates (shapes agree with sizes); throws format_error.
adapter_payload decode(const blob& b);

} // namespace fedq::serialization
