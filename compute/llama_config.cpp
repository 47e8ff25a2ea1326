#include "compute/llama_config.hpp"

#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace fedq::compute {

llama_config read_llama_config(const std::string& path) {
  using nlohmann::json;
  std::ifstream in(path);
  if (!in)
    throw std::runtime_error(path + ": cannot open (a model folder needs config.json)");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw std::runtime_error(path + ": not valid JSON: " + e.what());
  }
  llama_config c;
  auto fail = [&](const std::string& key, const std::string& why) {
    throw std::runtime_error(path + ": " + key + ": " + why);
  };
  c.model_type = j.value("model_type", std::string("llama"));
  if (c.model_type != "llama" && c.model_type != "qwen2")
    fail("model_type", "'" + c.model_type + "' is not supported (llama, qwen2)");
  auto need = [&](const char* key, uint32_t& v) {
    if (!j.contains(key) || !j[key].is_number_unsigned() || j[key].get<uint64_t>() == 0)
      fail(key, "missing or not a positive integer");
    v = j[key].get<uint32_t>();
  };
  need("vocab_size", c.vocab_size);
  need("hidden_size", c.hidden_size);
  need("intermediate_size", c.intermediate_size);
  need("num_hidden_layers", c.num_hidden_layers);
  need("num_attention_heads", c.num_attention_heads);
  c.num_key_value_heads = j.value("num_key_value_heads", c.num_attention_heads);
  c.head_dim = j.contains("head_dim") && j["head_dim"].is_number()
                 ? j["head_dim"].get<uint32_t>()
                 : c.hidden_size / c.num_attention_heads;
  c.max_position_embeddings = j.value("max_position_embeddings", 2048u);
  c.rms_norm_eps = j.value("rms_norm_eps", 1e-6);
  c.rope_theta = j.value("rope_theta", 10000.0);
  c.tie_word_embeddings = j.value("tie_word_embeddings", c.model_type == "qwen2");
  c.attention_bias = c.model_type == "qwen2" || j.value("attention_bias", false);
  if (j.value("mlp_bias", false))
    fail("mlp_bias", "MLP biases are not supported");
  auto hidden_act = j.value("hidden_act", std::string("silu"));
  if (hidden_act != "silu")
    fail("hidden_act", "'" + hidden_act + "' is not supported (silu)");
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    fail("num_key_value_heads", "must divide num_attention_heads");
  if (c.head_dim % 2 != 0)
    fail("head_dim", "must be even for rotary embeddings");
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    const auto& r = j["rope_scaling"];
    auto type = r.value("rope_type", r.value("type", std::string()));
    if (type != "llama3")
      fail("rope_scaling", "type '" + type + "' is not supported (llama3 or none)");
    c.rope_factor = r.value("factor", 8.0);
    c.rope_low_freq_factor = r.value("low_freq_factor", 1.0);
    c.rope_high_freq_factor = r.value("high_freq_factor", 4.0);
    c.rope_original_max_positions = r.value("original_max_position_embeddings", 8192u);
  }
  auto id = [&](const char* key) -> int64_t {
    if (!j.contains(key) || j[key].is_null())
      return -1;
    if (j[key].is_array())
      return j[key].empty() ? -1 : j[key][0].get<int64_t>();
    return j[key].get<int64_t>();
  };
  c.pad_token_id = id("pad_token_id");
  c.bos_token_id = id("bos_token_id");
  c.eos_token_id = id("eos_token_id");
  return c;
}

std::string llama_config_json(const llama_config& c) {
  nlohmann::ordered_json j;
  j["architectures"] = {c.model_type == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"};
  j["model_type"] = c.model_type;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["attention_bias"] = c.attention_bias;
  j["hidden_act"] = "silu";
  j["torch_dtype"] = "float32";
  if (c.rope_factor > 0)
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", c.rope_factor},
                         {"low_freq_factor", c.rope_low_freq_factor},
                         {"high_freq_factor", c.rope_high_freq_factor},
                         {"original_max_position_embeddings", c.rope_original_max_positions}};
  if (c.pad_token_id >= 0)
    j["pad_token_id"] = c.pad_token_id;
  if (c.bos_token_id >= 0)
    j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_id >= 0)
    j["eos_token_id"] = c.eos_token_id;
  return j.dump(2) + "\n";
}

} // namespace fedq::compute
