#include "compute/llama_config.hpp"

#include <cmath>
#include <fstream>
#include <optional>
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
  // Every size is range-checked before use: products of them index tensors,
  // and a value that wrapped to 0 would be divided by.
  auto count = [&](const char* key, uint64_t max, std::optional<uint32_t> fallback) -> uint32_t {
    if (!j.contains(key) || j[key].is_null()) {
      if (!fallback)
        fail(key, "missing (a positive integer)");
      return *fallback;
    }
    const auto& v = j[key];
    if (!v.is_number_integer() || (v.is_number_unsigned() ? v.get<uint64_t>() : 0) == 0 ||
        v.get<uint64_t>() > max)
      fail(key, "must be an integer in 1.." + std::to_string(max) + ", got " + v.dump());
    return static_cast<uint32_t>(v.get<uint64_t>());
  };
  auto number = [&](const char* key, double fallback) -> double {
    if (!j.contains(key) || j[key].is_null())
      return fallback;
    const auto& v = j[key];
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() <= 0)
      fail(key, "must be a positive finite number, got " + v.dump());
    return v.get<double>();
  };
  auto flag = [&](const char* key, bool fallback) -> bool {
    if (!j.contains(key) || j[key].is_null())
      return fallback;
    if (!j[key].is_boolean())
      fail(key, "must be true or false, got " + j[key].dump());
    return j[key].get<bool>();
  };
  auto text = [&](const json& o, const char* key, const std::string& fallback) -> std::string {
    if (!o.contains(key) || o[key].is_null())
      return fallback;
    if (!o[key].is_string())
      fail(key, "must be a string, got " + o[key].dump());
    return o[key].get<std::string>();
  };
  if (!j.is_object())
    throw std::runtime_error(path + ": not a JSON object");
  c.model_type = text(j, "model_type", "llama");
  if (c.model_type != "llama" && c.model_type != "qwen2")
    fail("model_type", "'" + c.model_type + "' is not supported (llama, qwen2)");
  c.vocab_size = count("vocab_size", 1u << 22, {});
  c.hidden_size = count("hidden_size", 1u << 16, {});
  c.intermediate_size = count("intermediate_size", 1u << 18, {});
  c.num_hidden_layers = count("num_hidden_layers", 1024, {});
  c.num_attention_heads = count("num_attention_heads", c.hidden_size, {});
  c.num_key_value_heads = count("num_key_value_heads", c.num_attention_heads, c.num_attention_heads);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    fail("num_key_value_heads", "must divide num_attention_heads");
  if (!j.contains("head_dim") && c.hidden_size % c.num_attention_heads != 0)
    fail("num_attention_heads", "must divide hidden_size (or give head_dim)");
  c.head_dim = count("head_dim", 4096, c.hidden_size / c.num_attention_heads);
  if (c.head_dim % 2 != 0)
    fail("head_dim", "must be even for rotary embeddings");
  c.max_position_embeddings = count("max_position_embeddings", 1u << 24, 2048u);
  c.rms_norm_eps = number("rms_norm_eps", 1e-6);
  c.rope_theta = number("rope_theta", 10000.0);
  c.tie_word_embeddings = flag("tie_word_embeddings", c.model_type == "qwen2");
  c.attention_bias = c.model_type == "qwen2" || flag("attention_bias", false);
  if (flag("mlp_bias", false))
    fail("mlp_bias", "MLP biases are not supported");
  auto hidden_act = text(j, "hidden_act", "silu");
  if (hidden_act != "silu")
    fail("hidden_act", "'" + hidden_act + "' is not supported (silu)");
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    const auto& r = j["rope_scaling"];
    if (!r.is_object())
      fail("rope_scaling", "must be an object or null");
    auto type = text(r, "rope_type", text(r, "type", ""));
    if (type != "llama3")
      fail("rope_scaling", "type '" + type + "' is not supported (llama3 or none)");
    auto part = [&](const char* key, double fallback) {
      if (!r.contains(key))
        return fallback;
      if (!r[key].is_number() || !std::isfinite(r[key].get<double>()) || r[key].get<double>() <= 0)
        fail(std::string("rope_scaling.") + key, "must be a positive finite number, got " + r[key].dump());
      return r[key].get<double>();
    };
    c.rope_factor = part("factor", 8.0);
    c.rope_low_freq_factor = part("low_freq_factor", 1.0);
    c.rope_high_freq_factor = part("high_freq_factor", 4.0);
    if (c.rope_high_freq_factor <= c.rope_low_freq_factor)
      fail("rope_scaling.high_freq_factor", "must be above low_freq_factor");
    double positions = part("original_max_position_embeddings", 8192);
    if (positions != std::floor(positions) || positions > double(1u << 24))
      fail("rope_scaling.original_max_position_embeddings", "must be an integer in 1..16777216");
    c.rope_original_max_positions = static_cast<uint32_t>(positions);
  }
  auto id = [&](const char* key) -> int64_t {
    if (!j.contains(key) || j[key].is_null())
      return -1;
    const auto& v = j[key].is_array() ? (j[key].empty() ? json() : j[key][0]) : j[key];
    if (v.is_null() || (v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < 0))
      return -1;  // some configs write -1 for "none"
    if (!v.is_number_unsigned() || v.get<uint64_t>() >= c.vocab_size)
      fail(key, "must be a token id in 0.." + std::to_string(c.vocab_size - 1) + ", got " + v.dump());
    return v.get<int64_t>();
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
