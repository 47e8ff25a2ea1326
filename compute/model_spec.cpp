#include "compute/model_spec.hpp"

#include <stdexcept>

#include "compute/model.hpp"

namespace fedq::compute {

int llama_module_index(const std::string& name) {
  for (size_t i = 0; i < llama_modules.size(); ++i)
    if (name == llama_modules[i])
      return int(i);
  return -1;
}

weight_format parse_weight_format(const std::string& s) {
  for (auto f : {weight_format::nf4, weight_format::int8, weight_format::bf16, weight_format::fp32})
    if (s == weight_format_name(f))
      return f;
  throw std::invalid_argument("'" + s + "' is not a weight format (nf4, int8, bf16, fp32)");
}

const char* weight_format_name(weight_format f) {
  switch (f) {
  case weight_format::nf4: return "nf4";
  case weight_format::int8: return "int8";
  case weight_format::bf16: return "bf16";
  case weight_format::fp32: return "fp32";
  }
  return "?";
}

uint32_t head_inputs(const model_options& o, uint32_t hidden_size) {
  return o.pair == "siamese" ? 4 * hidden_size : hidden_size;
}

void check_model_options(const model_options& o) {
  auto fail = [](const std::string& msg) { throw std::invalid_argument(msg); };
  if (o.classes == 0 || (o.regression && o.classes != 1))
    fail("model: a classification head needs classes >= 1, a regression head exactly 1 output");
  if (o.targets.empty())
    fail("model.targets: needs at least one of q, k, v, o, gate, up, down");
  for (const auto& t : o.targets)
    if (llama_module_index(t) < 0)
      fail("model.targets: unknown module '" + t + "' (known: q, k, v, o, gate, up, down)");
  if (!(o.lora_alpha > 0))
    fail("model.lora_alpha: " + std::to_string(o.lora_alpha) + " must be > 0 (the LoRA scale is lora_alpha / r_max)");
  if (o.pooling != "last" && o.pooling != "mean")
    fail("model.pooling: '" + o.pooling + "' is not last or mean");
  if (o.pair != "joined" && o.pair != "siamese")
    fail("model.pair: '" + o.pair + "' is not joined or siamese");
  try {
    parse_weight_format(o.bits);
  } catch (const std::invalid_argument& e) {
    fail(std::string("model.bits: ") + e.what());
  }
  if (o.heads == 0 || o.d_model % o.heads != 0 || (o.d_model / o.heads) % 2 != 0)
    fail("model.heads: " + std::to_string(o.heads) + " must divide model.d_model (" +
         std::to_string(o.d_model) + ") into even head sizes");
  if (o.kv_heads == 0 || o.heads % o.kv_heads != 0)
    fail("model.kv_heads: " + std::to_string(o.kv_heads) + " must divide model.heads (" +
         std::to_string(o.heads) + ")");
  if (o.layers == 0 || o.ffn == 0 || o.max_len == 0)
    fail("model.layers: model.layers, model.ffn and model.max_len must be at least 1");
}

} // namespace fedq::compute
