#include "serialization/framing.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

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

#if defined(__x86_64__)
// The same CRC by carry-less multiplication (PCLMULQDQ), folding 64 bytes a
// step: Gopal et al., "Fast CRC Computation for Generic Polynomials Using
// PCLMULQDQ Instruction" (Intel, 2009), constants for the reflected
// polynomial 0xEDB88320: x^(k) mod P for the fold distances, then a Barrett
// reduction to 32 bits. Used where the CPU has it (checked once).
#define FEDQ_CLMUL __attribute__((target("pclmul,sse4.1")))

FEDQ_CLMUL inline __m128i fold(__m128i x, __m128i k, __m128i next) {
  return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11)), next);
}

FEDQ_CLMUL inline __m128i load16(const char* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

/// The running CRC state `c` after `n` more bytes; n >= 64, a multiple of 16.
FEDQ_CLMUL uint32_t crc32_clmul(uint32_t c, const char* p, size_t n) {
  const __m128i k1k2 = _mm_set_epi64x(0x1c6e41596, 0x154442bd4);  // 512 bits apart (4 x 128)
  const __m128i k3k4 = _mm_set_epi64x(0x0ccaa009e, 0x1751997d0);  // 128 bits apart
  const __m128i k5 = _mm_set_epi64x(0, 0x163cd6124);
  const __m128i barrett = _mm_set_epi64x(0x1f7011641, 0x1db710641);  // mu, P
  const __m128i low32 = _mm_set_epi32(0, 0, 0, -1);
  __m128i x0 = _mm_xor_si128(load16(p), _mm_cvtsi32_si128(int(c)));
  __m128i x1 = load16(p + 16), x2 = load16(p + 32), x3 = load16(p + 48);
  for (p += 64, n -= 64; n >= 64; p += 64, n -= 64) {
    x0 = fold(x0, k1k2, load16(p));
    x1 = fold(x1, k1k2, load16(p + 16));
    x2 = fold(x2, k1k2, load16(p + 32));
    x3 = fold(x3, k1k2, load16(p + 48));
  }
  __m128i x = fold(fold(fold(x0, k3k4, x1), k3k4, x2), k3k4, x3);
  for (; n >= 16; p += 16, n -= 16)
    x = fold(x, k3k4, load16(p));
  x = _mm_xor_si128(_mm_clmulepi64_si128(x, k3k4, 0x10), _mm_srli_si128(x, 8));  // 128 -> 64 bits
  x = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x, low32), k5, 0x00), _mm_srli_si128(x, 4));  // -> 64
  __m128i q = _mm_clmulepi64_si128(_mm_and_si128(x, low32), barrett, 0x10);
  q = _mm_clmulepi64_si128(_mm_and_si128(q, low32), barrett, 0x00);
  return uint32_t(_mm_extract_epi32(_mm_xor_si128(x, q), 1));
}

bool has_clmul() {
  static const bool yes = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
  return yes;
}
#endif

} // namespace

uint32_t crc32(const char* data, size_t size) {
  static const auto t = make_crc_tables();
  uint32_t c = 0xFFFFFFFFu;
#if defined(__x86_64__)
  if (size >= 128 && has_clmul()) {
    size_t n = size & ~size_t{15};
    c = crc32_clmul(c, data, n);
    data += n;
    size -= n;
  }
#endif
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
