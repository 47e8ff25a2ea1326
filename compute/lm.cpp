#include "compute/lm.hpp"

#include <stdexcept>

#include "compute/llama.hpp"

namespace fedq::compute {

std::vector<std::vector<float>> lm_logits(const std::string& dir, const std::vector<int64_t>& tokens,
                                          const std::string& format) {
  try {
    auto w = load_llama(dir, parse_weight_format(format));
    if (tokens.empty())
      throw std::runtime_error("no tokens given");
    for (auto t : tokens)
      if (t < 0 || t >= int64_t(w.cfg.vocab_size))
        throw std::runtime_error("token id " + std::to_string(t) + " is outside the vocabulary (0.." +
                                 std::to_string(w.cfg.vocab_size - 1) + ")");
    torch::NoGradGuard no_grad;
    auto ids = torch::tensor(tokens, torch::kInt64).view({1, -1});
    auto mask = torch::ones_like(ids, torch::kBool);
    auto logits = llama_lm_logits(w, llama_hidden(w, nullptr, ids, mask))[0].contiguous();
    std::vector<std::vector<float>> out;
    for (int64_t t = 0; t < logits.size(0); ++t) {
      auto row = logits[t];
      out.emplace_back(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
    }
    return out;
  } catch (const c10::Error& e) {
    throw std::runtime_error(dir + ": libtorch: " + e.what_without_backtrace());
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(e.what());
  }
}

} // namespace fedq::compute
