#include "net/digest.hpp"

#include <fstream>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace fedq::net {

namespace {

/// libcrypto frees its global state in a handler it registers with atexit,
/// and a thread that used it frees its own state when the thread ends. A
/// thread that ends while the process exits (a relay's connection thread, or
/// the serve gatekeeper's, a detached actor's) then races that handler: a
/// segfault or a double free after every output was written (OpenSSL issue
/// 6214; with Debian's 3.0, a detached thread that called RAND_bytes and
/// ended as main returned crashed the process in 449 of 2,000 runs, and in
/// none once initialized this way). So libcrypto is initialized before
/// anything else uses it, without the handler; the operating system
/// reclaims its memory at exit.
[[maybe_unused]] const bool no_cleanup_at_exit = OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr) == 1;

} // namespace

std::string sha256_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in)
    throw std::runtime_error("cannot read " + p.string());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("sha256: cannot initialize libcrypto's digest");
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0)
      EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad())
    throw std::runtime_error("error while reading " + p.string());
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

bytes hmac_sha256(const std::string& key, const bytes& message) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(message.data()), message.size(), md, &len))
    throw std::runtime_error("hmac-sha256 failed in libcrypto");
  return bytes(md, md + len);
}

bytes random_bytes(size_t n) {
  bytes out(n);
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    throw std::runtime_error("libcrypto's random generator failed");
  return out;
}

bool equal_in_constant_time(const bytes& a, const bytes& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace fedq::net
