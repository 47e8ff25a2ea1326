#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "compute/llama_config.hpp"

using namespace fedq;
namespace fs = std::filesystem;

namespace {

/// Writes `j` as config.json into a fresh folder and reads it back.
compute::llama_config read_text(const std::string& text) {
  // A folder per process: ctest runs the test cases in parallel processes.
  auto dir = fs::temp_directory_path() / ("fedq_llama_config_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto path = (dir / "config.json").string();
  std::ofstream(path) << text;
  struct cleanup {
    fs::path dir;
    ~cleanup() { fs::remove_all(dir); }
  } done{dir};
  return compute::read_llama_config(path);
}

compute::llama_config read_json(const nlohmann::json& j) { return read_text(j.dump()); }

/// The built-in default architecture's config.json.
nlohmann::json small() { return nlohmann::json::parse(compute::llama_config_json({})); }

} // namespace

TEST_CASE("config.json round-trips through llama_config_json") {
  auto c = read_json(small());
  compute::llama_config d;
  CHECK(c.vocab_size == d.vocab_size);
  CHECK(c.hidden_size == d.hidden_size);
  CHECK(c.num_key_value_heads == d.num_key_value_heads);
  CHECK(c.head_dim == d.head_dim);
}

TEST_CASE("config.json sizes are range-checked before use, naming the key") {
  // Values that would wrap to 0 in 32 bits (and then be divided by), or
  // would size tensors past any real model.
  for (const char* key : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                          "num_attention_heads", "num_key_value_heads", "head_dim",
                          "max_position_embeddings"}) {
    for (const nlohmann::json& v : {nlohmann::json(uint64_t(1) << 32), nlohmann::json(int64_t(-4)),
                                    nlohmann::json(0), nlohmann::json(2.5), nlohmann::json("8")}) {
      auto j = small();
      j[key] = v;
      INFO(key << " = " << v.dump());
      CHECK_THROWS_WITH(read_json(j), Catch::Contains(std::string(key) + ": must be an integer in 1.."));
    }
  }
  auto j = small();
  j["num_key_value_heads"] = 3;  // does not divide 4 heads
  CHECK_THROWS_WITH(read_json(j), Catch::Contains("must divide num_attention_heads"));
  j = small();
  j.erase("head_dim");
  j["num_attention_heads"] = 3;  // 64 / 3
  j["num_key_value_heads"] = 1;
  CHECK_THROWS_WITH(read_json(j), Catch::Contains("must divide hidden_size"));
}

TEST_CASE("config.json numbers, flags and token ids of the wrong kind are refused") {
  for (const char* key : {"rms_norm_eps", "rope_theta"}) {
    for (const nlohmann::json& v : {nlohmann::json(0.0), nlohmann::json(-1.0), nlohmann::json("x")}) {
      auto j = small();
      j[key] = v;
      INFO(key << " = " << v.dump());
      CHECK_THROWS_WITH(read_json(j), Catch::Contains(std::string(key) + ": must be a positive finite number"));
    }
  }
  auto text = small().dump();
  text.replace(text.find("\"rope_theta\":"), 0, "\"rms_norm_eps\":1e999,");
  CHECK_THROWS(read_text(text));  // out of double's range
  auto j = small();
  j["tie_word_embeddings"] = "yes";
  CHECK_THROWS_WITH(read_json(j), Catch::Contains("tie_word_embeddings: must be true or false"));
  j = small();
  j["eos_token_id"] = 100000;  // outside the vocabulary of 258
  CHECK_THROWS_WITH(read_json(j), Catch::Contains("eos_token_id: must be a token id in 0..257"));
  j = small();
  j["pad_token_id"] = -1;  // "none", as some configs write it
  CHECK(read_json(j).pad_token_id == -1);
  j = small();
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 4.0},
                       {"high_freq_factor", 1.0}};
  CHECK_THROWS_WITH(read_json(j), Catch::Contains("high_freq_factor: must be above low_freq_factor"));
  CHECK_THROWS_WITH(read_json(nlohmann::json::array({1, 2})), Catch::Contains("not a JSON object"));
}
