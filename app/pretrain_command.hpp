#pragma once

#include <string>
#include <vector>

#include "compute/lm.hpp"

namespace fedq::app {

/// Every setting of `fedq pretrain` (configs/pretrain-small.toml shows all).
struct pretrain_config {
  struct corpus_section {
    std::string dir = "../shared/data";  ///< holds wikitext-2-raw/ and glue/
    std::vector<std::string> sources{"wikitext-2", "glue-train"};
  } corpus;
  uint32_t vocab_size = 4096;  ///< tokenizer.vocab_size: BPE ids, specials and bytes included
  struct model_section {
    uint32_t d_model = 128;
    uint32_t layers = 4;
    uint32_t heads = 4;
    uint32_t kv_heads = 2;
    uint32_t ffn = 384;
  } model;
  compute::pretrain_options train;
};

/// Reads and checks a pretrain config (config_error with file:line and key).
pretrain_config load_pretrain_config(const std::string& path, const std::vector<std::string>& overrides);

struct pretrain_args {
  std::string config;
  std::vector<std::string> overrides;
  std::string out;       ///< the checkpoint folder to write
  std::string data_dir;  ///< sets corpus.dir
  bool quiet = false;
};

/// `fedq pretrain`: learns a BPE tokenizer on the corpus, pretrains a small
/// Llama on it and writes a Hugging Face checkpoint folder (config.json,
/// model.safetensors, tokenizer.json) plus pretrain.json and pretrain.toml.
int pretrain_command(const pretrain_args& args);

} // namespace fedq::app
