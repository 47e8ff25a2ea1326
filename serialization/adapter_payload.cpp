#include "serialization/adapter_payload.hpp"

#include <algorithm>
#include <sstream>

#include "serialization/bounded_input.hpp"

namespace fedq::serialization {

namespace {
constexpr const char* magic = "FQAD";
constexpr uint16_t version = 1;

void validate(const adapter_payload& p) {
  for (const auto& l : p.lora) {
    if (l.a.size() != size_t{l.rank} * l.d_in || l.b.size() != size_t{l.d_out} * l.rank)
      throw format_error("adapter payload: LoRA pair '" + l.name + "' has rank " +
                         std::to_string(l.rank) + " but its factors hold " +
                         std::to_string(l.a.size()) + " and " + std::to_string(l.b.size()) +
                         " values");
  }
  for (const auto& d : p.dense) {
    size_t n = 1;
    for (auto s : d.shape)
      n *= static_cast<size_t>(s);
    if (n != d.values.size())
      throw format_error("adapter payload: tensor '" + d.name + "' shape does not match its " +
                         std::to_string(d.values.size()) + " values");
  }
}
} // namespace

uint32_t adapter_payload::rank() const {
  uint32_t r = 0;
  for (const auto& l : lora)
    r = std::max(r, l.rank);
  return r;
}

blob encode(const adapter_payload& p) {
  std::ostringstream os;
  {
    cereal::PortableBinaryOutputArchive ar(os);
    ar(p);
  }
  return frame(magic, version, os.str());
}

adapter_payload decode(const blob& b) {
  auto body = unframe(magic, version, b, "adapter payload");
  std::istringstream is(body);
  adapter_payload p;
  try {
    input_limit limit(body.size());
    cereal::PortableBinaryInputArchive ar(is);
    ar(p);
  } catch (const cereal::Exception& e) {
    throw format_error(std::string("adapter payload: malformed body: ") + e.what());
  } catch (const format_error& e) {
    throw format_error(std::string("adapter payload: malformed body: ") + e.what());
  }
  validate(p);
  return p;
}

} // namespace fedq::serialization
