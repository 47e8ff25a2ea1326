#include "serialization/framing.hpp"

#include <array>
#include <cstring>

namespace fedq::serialization {

namespace {

constexpr size_t header_size = 4 + 2 + 8;

/// CRC-32 (IEEE 802.3, reflected) tables for slicing by 8: t[0] is the
/// byte-at-a-time table, t[k][i] the CRC of byte i followed by k zero bytes.
std::array<std::array<uint32_t, 256>, 8> make_crc_tables() {
  std::array<std::array<uint32_t, 256>, 8> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i)
    for (size_t k = 1; k < 8; ++k)
      t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
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
  static const auto t = make_crc_tables();
  uint32_t c = 0xFFFFFFFFu;
  for (; size >= 8; data += 8, size -= 8) { // 8 bytes a step (little-endian hosts)
    uint32_t lo = get<uint32_t>(data) ^ c, hi = get<uint32_t>(data + 4);
    c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
        t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
  }
  for (; size > 0; ++data, --size)
    c = t[0][(c ^ static_cast<uint8_t>(*data)) & 0xFF] ^ (c >> 8);
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
