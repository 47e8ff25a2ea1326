// The server's run checkpoint (checkpoint.bin), as --resume reads it. Half
// the inputs are framed here with a valid CRC, so that the body's decoder
// is reached, not only the frame check.
#include "actors/checkpoint.hpp"
#include "serialization/framing.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto b = data[0] & 1 ? fedq::serialization::frame("FQCK", 1, rest)
                       : fedq::actors::blob(rest.begin(), rest.end());
  try {
    auto c = fedq::actors::decode_checkpoint(b, "checkpoint.bin");
    auto again = fedq::actors::encode_checkpoint(c);  // what decodes encodes and decodes back alike
    if (fedq::actors::encode_checkpoint(fedq::actors::decode_checkpoint(again, "again")) != again)
      __builtin_trap();
  } catch (const fedq::serialization::format_error&) {
  }
  return 0;
}
