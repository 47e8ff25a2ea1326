#pragma once
// SHA-256, HMAC-SHA256 and random bytes (OpenSSL's libcrypto).

#include <filesystem>
#include <string>
#include <vector>

namespace fedq::net {

using bytes = std::vector<char>;

/// SHA-256 of a file's bytes as 64 hex digits. Throws std::runtime_error
/// naming the file when it cannot be read.
std::string sha256_file(const std::filesystem::path& p);

/// HMAC-SHA256 of `message` under `key` (32 bytes).
bytes hmac_sha256(const std::string& key, const bytes& message);

/// `n` bytes from the operating system's cryptographic generator.
bytes random_bytes(size_t n);

/// Compares in time independent of where the inputs differ.
bool equal_in_constant_time(const bytes& a, const bytes& b);

} // namespace fedq::net
