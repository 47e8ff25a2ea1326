// A checkpoint's config.json.
#include "compute/llama_config.hpp"
#include "fuzz/targets/input_file.hpp"

#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto path = fedq::fuzz::input_file(data, size, ".json");
  try {
    auto c = fedq::compute::read_llama_config(path);
    // What it accepts is usable: the sizes the model divides by are positive.
    if (c.num_attention_heads == 0 || c.num_key_value_heads == 0 || c.head_dim == 0 ||
        c.num_attention_heads % c.num_key_value_heads != 0)
      __builtin_trap();
  } catch (const std::runtime_error&) {
  }
  return 0;
}
