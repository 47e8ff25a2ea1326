#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace fedq::serialization {

using blob = std::vector<char>;

/// Raised for any blob or file that is not what it claims to be; the message
/// says what was expected and what was found.
struct format_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// CRC-32 (IEEE 802.3, as zlib computes it).
uint32_t crc32(const char* data, size_t size);

/// Wraps `body` as: 4-byte magic, u16 version, u64 body size, body, u32 CRC-32
/// of the body. Every blob on the wire and every file on disk is framed so.
blob frame(std::string_view magic, uint16_t version, const std::string& body);

/// Checks magic, version, size and checksum; returns the body.
/// `what` names the thing in errors ("adapter payload", a file path).
std::string unframe(std::string_view magic, uint16_t version, const blob& b,
                    const std::string& what);

} // namespace fedq::serialization
