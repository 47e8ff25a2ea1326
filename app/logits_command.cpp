#include "app/logits_command.hpp"

#include <filesystem>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "compute/lm.hpp"
#include "data/bpe_tokenizer.hpp"

namespace fedq::app {

int logits_command(const logits_args& args) {
  std::vector<int64_t> tokens;
  if (!args.text.empty()) {  // through the checkpoint's tokenizer.json
    auto path = std::filesystem::path(args.model) / "tokenizer.json";
    try {
      for (auto id : data::bpe_tokenizer::load(path.string()).encode(args.text))
        tokens.push_back(id);
    } catch (const std::exception& e) {
      std::cerr << "error: --text: " << e.what() << "\n";
      return 2;
    }
    std::cerr << "tokens: " << nlohmann::json(tokens).dump() << "\n";
  }
  std::stringstream ss(args.text.empty() ? args.tokens : std::string());
  for (std::string item; std::getline(ss, item, ',');) {
    try {
      size_t used = 0;
      tokens.push_back(std::stoll(item, &used));
      if (used != item.size())
        throw std::invalid_argument(item);
    } catch (const std::exception&) {
      std::cerr << "error: --tokens: '" << item << "' is not an integer token id (e.g. --tokens 1,2,3)\n";
      return 2;
    }
  }
  try {
    auto logits = compute::lm_logits(args.model, tokens, args.bits);
    std::cout << nlohmann::json(logits.back()).dump() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}

} // namespace fedq::app
