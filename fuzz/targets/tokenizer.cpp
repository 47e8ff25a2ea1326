// A checkpoint's tokenizer.json; what parses must also encode text.
#include "data/bpe_tokenizer.hpp"

#include <stdexcept>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    auto t = fedq::data::bpe_tokenizer::parse(text, "tokenizer.json");
    t.encode("a movie review, 12 stars \xc3\xa9 !");
  } catch (const std::runtime_error&) {
  }
  return 0;
}
