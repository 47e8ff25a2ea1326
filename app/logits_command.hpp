#pragma once

#include <string>

namespace fedq::app {

struct logits_args {
  std::string model;   ///< checkpoint folder in Hugging Face layout
  std::string tokens;  ///< comma-separated token ids
  std::string text;    ///< or text, encoded with the folder's tokenizer.json
  std::string bits = "fp32";
};

/// `fedq logits`: prints the next-token logits after the tokens as a JSON
/// array. Returns the exit code (2 for bad input).
int logits_command(const logits_args& args);

} // namespace fedq::app
