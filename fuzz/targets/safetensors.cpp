// A checkpoint's model.safetensors: header JSON, offsets, dtypes, shapes.
#include "serialization/safetensors.hpp"
#include "fuzz/targets/input_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto path = fedq::fuzz::input_file(data, size, ".safetensors");
  try {
    auto f = fedq::serialization::safetensors_file::open(path);
    size_t sum = 0;
    for (const auto& [name, t] : f->tensors()) {
      // A tensor's bytes are exactly its shape's, and every one is readable.
      if (uint64_t(t.numel()) * fedq::serialization::st_dtype_size(t.dtype) != t.bytes)
        __builtin_trap();
      for (size_t i = 0; i < t.bytes; ++i)
        sum += t.data[i];
    }
    (void)sum;
  } catch (const std::runtime_error&) {
  }
  return 0;
}
