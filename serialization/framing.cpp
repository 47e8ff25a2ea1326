#include "serialization/framing.hpp"

#include <array>
#include <cstring>

namespace fedq::serialization {

namespace {

constexpr size_t header_size = 4 + 2 + 8;

std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}

template <class T>
void put(blob& out, T value) { // little-endian hosts only (x86-64, aarch64)
  const char* p = reinterpret_cast<const char*>(&value);
  out.insert(out.end(), p, p + sizeof(T));
}

template <class T>
T get(const char* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

} // namespace

uint32_t crc32(const char* data, size_t size) {
  static const auto table = make_crc_table();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i)
    c = table[(c ^ static_cast<uint8_t>(data[i])) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

blob frame(std::string_view magic, uint16_t version, const std::string& body) {
  if (magic.size() != 4)
    throw std::invalid_argument("frame magic must have 4 characters");
  blob out;
  out.reserve(header_size + body.size() + 4);
  out.insert(out.end(), magic.begin(), magic.end());
  put<uint16_t>(out, version);
  put<uint64_t>(out, body.size());
  out.insert(out.end(), body.begin(), body.end());
  put<uint32_t>(out, crc32(body.data(), body.size()));
  return out;
}

std::string unframe(std::string_view magic, uint16_t version, const blob& b,
                    const std::string& what) {
  if (b.size() < header_size + 4)
    throw format_error(what + ": truncated (" + std::to_string(b.size()) +
                       " bytes, smaller than a header)");
  if (std::string_view(b.data(), 4) != magic)
    throw format_error(what + ": bad magic (expected '" + std::string(magic) + "')");
  auto v = get<uint16_t>(b.data() + 4);
  if (v != version)
    throw format_error(what + ": format version " + std::to_string(v) + ", this build reads " +
                       std::to_string(version));
  auto size = get<uint64_t>(b.data() + 6);
  if (size != b.size() - header_size - 4)
    throw format_error(what + ": truncated or padded (header says " + std::to_string(size) +
                       " body bytes, blob holds " + std::to_string(b.size() - header_size - 4) +
                       ")");
  const char* body = b.data() + header_size;
  if (crc32(body, size) != get<uint32_t>(body + size))
    throw format_error(what + ": checksum mismatch (corrupt data)");
  return std::string(body, size);
}

} // namespace fedq::serialization
