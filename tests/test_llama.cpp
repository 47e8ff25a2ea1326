#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "compute/llama.hpp"
#include "compute/lm.hpp"
#include "serialization/safetensors.hpp"

using namespace fedq;
namespace fs = std::filesystem;

namespace {

/// Runs tests/golden/llama_reference.py (python3-torch) for `variant` into a
/// fresh folder of its own per `test` (tests run in parallel); empty when
/// python3-torch is not installed.
std::string reference(const std::string& variant, const std::string& test) {
  if (std::system("/usr/bin/python3 -c 'import torch' > /dev/null 2>&1") != 0)
    return {};
  auto dir = fs::temp_directory_path() / ("fedq_golden_" + test + "_" + variant);
  fs::remove_all(dir);
  auto cmd = std::string("/usr/bin/python3 ") + FEDQ_SOURCE_DIR + "/tests/golden/llama_reference.py " +
             dir.string() + " " + variant;
  REQUIRE(std::system(cmd.c_str()) == 0);
  return dir.string();
}

nlohmann::json golden(const std::string& dir) {
  return nlohmann::json::parse(std::ifstream(fs::path(dir) / "golden.json"));
}

double max_diff(const std::vector<std::vector<float>>& got, const nlohmann::json& want) {
  REQUIRE(got.size() == want.size());
  double m = 0;
  for (size_t t = 0; t < got.size(); ++t) {
    REQUIRE(got[t].size() == want[t].size());
    for (size_t i = 0; i < got[t].size(); ++i)
      m = std::max(m, std::abs(double(got[t][i]) - want[t][i].get<double>()));
  }
  return m;
}

} // namespace

TEST_CASE("Llama-family logits match the PyTorch reference for every position") {
  for (const char* variant : {"llama-gqa", "qwen2-tied", "llama3-rope"}) {
    INFO("variant " << variant);
    auto dir = reference(variant, "logits");
    if (dir.empty()) {
      WARN("skipped: /usr/bin/python3 has no torch (apt-get install python3-torch)");
      return;
    }
    auto g = golden(dir);
    auto logits = compute::lm_logits(dir, g["tokens"].get<std::vector<int64_t>>());
    CHECK(max_diff(logits, g["logits"]) < 1e-4);
    fs::remove_all(dir);
  }
}

TEST_CASE("quantized backbones stay near the fp32 logits, closer with more bits") {
  auto dir = reference("llama-gqa", "bits");
  if (dir.empty()) {
    WARN("skipped: /usr/bin/python3 has no torch (apt-get install python3-torch)");
    return;
  }
  auto g = golden(dir);
  auto tokens = g["tokens"].get<std::vector<int64_t>>();
  double nf4 = max_diff(compute::lm_logits(dir, tokens, "nf4"), g["logits"]);
  double int8 = max_diff(compute::lm_logits(dir, tokens, "int8"), g["logits"]);
  double bf16 = max_diff(compute::lm_logits(dir, tokens, "bf16"), g["logits"]);
  CHECK(bf16 < int8);
  CHECK(int8 < nf4);
  CHECK(nf4 < 1.5);  // logits span about +-3 here
  fs::remove_all(dir);
}

TEST_CASE("a checkpoint with a missing or extra or mis-shaped tensor is refused naming it") {
  auto dir = reference("llama-gqa", "refuse");
  if (dir.empty()) {
    WARN("skipped: /usr/bin/python3 has no torch (apt-get install python3-torch)");
    return;
  }
  auto file = (fs::path(dir) / "model.safetensors").string();
  auto rewrite = [&](auto edit) {
    std::vector<serialization::st_write> out;
    {
      auto f = serialization::safetensors_file::open(file);
      for (const auto& [name, t] : f->tensors())
        out.push_back({name, t.dtype, t.shape, t.data, t.bytes});
      edit(out);
      auto tmp = fs::path(dir) / "edited.safetensors";
      serialization::write_safetensors(tmp.string(), out);
    }
    fs::rename(fs::path(dir) / "edited.safetensors", file);
  };
  CHECK_THROWS_WITH(compute::lm_logits(dir, {1, 500}), Catch::Contains("outside the vocabulary"));
  float extra[2] = {1, 2};
  rewrite([&](auto& out) { out.push_back({"model.rotary.extra", serialization::st_dtype::F32, {2}, extra, 8}); });
  CHECK_THROWS_WITH(compute::lm_logits(dir, {1, 2}),
                    Catch::Contains("not part of this architecture") && Catch::Contains("model.rotary.extra"));
  rewrite([&](auto& out) {
    out.erase(std::remove_if(out.begin(), out.end(), [](auto& t) {
                return t.name == "model.rotary.extra" || t.name == "model.layers.1.mlp.up_proj.weight";
              }),
              out.end());
  });
  CHECK_THROWS_WITH(compute::lm_logits(dir, {1, 2}), Catch::Contains("model.layers.1.mlp.up_proj.weight"));
  reference("llama-gqa", "refuse");
  rewrite([](auto& out) {
    for (auto& t : out)
      if (t.name == "model.norm.weight")
        t.shape = {8, 8};
  });
  CHECK_THROWS_WITH(compute::lm_logits(dir, {1, 2}),
                    Catch::Contains("'model.norm.weight' has shape (8, 8), the config needs (64)"));
  fs::remove_all(dir);
}

TEST_CASE("a checkpoint whose weights hold NaN or infinity is refused naming the tensor") {
  auto dir = fs::temp_directory_path() / "fedq_nonfinite_checkpoint";
  fs::remove_all(dir);
  fs::create_directories(dir);
  compute::save_llama(compute::random_llama({}, 3, compute::weight_format::fp32), dir.string());
  auto file = (dir / "model.safetensors").string();
  std::vector<serialization::st_write> out;
  std::vector<std::vector<float>> keep;
  {
    auto f = serialization::safetensors_file::open(file);
    for (const auto& [name, t] : f->tensors()) {
      const auto* v = reinterpret_cast<const float*>(t.data);
      keep.emplace_back(v, v + t.bytes / sizeof(float));
      if (name == "model.layers.1.mlp.down_proj.weight") {
        keep.back()[7] = std::numeric_limits<float>::quiet_NaN();
        keep.back()[9] = std::numeric_limits<float>::infinity();
      }
      out.push_back({name, t.dtype, t.shape, keep.back().data(), t.bytes});
    }
  }
  serialization::write_safetensors(file, out);
  CHECK_THROWS_WITH(compute::load_llama(dir.string(), compute::weight_format::nf4),
                    Catch::Contains("'model.layers.1.mlp.down_proj.weight' holds 2 non-finite values"));
  fs::remove_all(dir);
}

TEST_CASE("activation checkpointing gives the plain gradients, adapters and pretraining alike") {
  compute::llama_config c;  // grouped-query attention: 4 heads over 2 key-value heads
  c.attention_bias = true;
  auto ids = torch::randint(0, c.vocab_size, {3, 9}, torch::kInt64);
  auto mask = torch::ones({3, 9}, torch::kBool);
  mask.index_put_({1, torch::indexing::Slice(5)}, false);  // padding on the right
  auto weights = torch::randn({3, 9, int64_t(c.hidden_size)});
  // The gradients of a loss of the hidden states, with or without checkpointing.
  auto grads = [&](const compute::llama_weights& w, const compute::lora_tensors* lora,
                   const std::vector<torch::Tensor>& wrt, bool checkpoint) {
    auto loss = (compute::llama_hidden(w, lora, ids, mask, checkpoint) * weights).sum();
    return torch::autograd::grad({loss}, wrt);
  };
  auto compare = [](const std::vector<torch::Tensor>& plain, const std::vector<torch::Tensor>& ck) {
    REQUIRE(plain.size() == ck.size());
    for (size_t i = 0; i < plain.size(); ++i) {
      INFO("tensor " << i);
      REQUIRE(ck[i].defined());
      REQUIRE(plain[i].abs().max().item<double>() > 0);
      double diff = (plain[i] - ck[i]).abs().max().item<double>(), scale = plain[i].abs().max().item<double>();
      INFO("max diff " << diff << ", max " << scale);
      REQUIRE(diff <= 1e-5 * (1 + scale));
    }
  };
  SECTION("LoRA on a frozen nf4 backbone; A frozen on one module (FFA-LoRA)") {
    auto w = compute::random_llama(c, 5, compute::weight_format::nf4);
    compute::lora_tensors lora;
    lora.scale = 2.0;
    lora.a.resize(c.num_hidden_layers);
    lora.b.resize(c.num_hidden_layers);
    std::vector<torch::Tensor> wrt;
    for (size_t l = 0; l < c.num_hidden_layers; ++l)
      for (int m : {0, 2, 4, 6}) {
        auto shape = compute::llama_module_shape(c, m);
        lora.a[l][size_t(m)] = (0.1 * torch::randn({4, shape[1]})).requires_grad_(m != 6);
        lora.b[l][size_t(m)] = (0.1 * torch::randn({shape[0], 4})).requires_grad_(true);
        if (m != 6)
          wrt.push_back(lora.a[l][size_t(m)]);
        wrt.push_back(lora.b[l][size_t(m)]);
      }
    compare(grads(w, &lora, wrt, false), grads(w, &lora, wrt, true));
  }
  SECTION("pretraining: every dense weight, norm and the embedding") {
    auto w = compute::random_llama(c, 6, compute::weight_format::fp32, false, /*trainable=*/true);
    std::vector<torch::Tensor> wrt{w.embed, w.norm};
    for (auto& L : w.layers) {
      wrt.push_back(L.attn_norm);
      wrt.push_back(L.mlp_norm);
      for (auto& p : L.proj) {
        wrt.push_back(p.dense);
        if (p.bias.defined())
          wrt.push_back(p.bias);
      }
    }
    compare(grads(w, nullptr, wrt, false), grads(w, nullptr, wrt, true));
  }
}
