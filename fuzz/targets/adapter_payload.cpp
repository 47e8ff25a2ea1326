// The adapter payload decoder: what every update and task carries. Half the
// inputs are framed here with a valid CRC, so that the body's decoder is
// reached, not only the frame check.
#include "serialization/adapter_payload.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto b = data[0] & 1 ? fedq::serialization::frame("FQAD", 1, rest)
                       : fedq::serialization::blob(rest.begin(), rest.end());
  try {
    auto again = fedq::serialization::encode(fedq::serialization::decode(b));
    // What decodes encodes and decodes back alike (the bytes may differ: any
    // nonzero endianness flag reads as little-endian, for one).
    if (fedq::serialization::encode(fedq::serialization::decode(again)) != again)
      __builtin_trap();
  } catch (const fedq::serialization::format_error&) {
  }
  return 0;
}
