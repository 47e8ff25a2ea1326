#pragma once
// The plain parts of fedq's network protocol: addresses, client lists, the
// token file, and the challenge-response that proves both ends hold the
// token without sending it.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "net/digest.hpp"

namespace fedq::net {

/// Bumped whenever a message of the protocol changes; a join is refused on a mismatch.
constexpr uint32_t protocol_version = 1;

/// Thrown for bad command-line input (an address, a client list, a token file).
struct input_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct endpoint {
  std::string host;
  uint16_t port = 0;
};

/// "HOST:PORT", "[::1]:PORT" or ":PORT" (every interface). Port 0 asks the
/// system for a free one.
endpoint parse_endpoint(const std::string& text);

/// 127.0.0.0/8, ::1 and "localhost".
bool is_loopback(const std::string& host);

/// "0-3,7" -> {0, 1, 2, 3, 7}, sorted, each once.
std::vector<uint32_t> parse_client_list(const std::string& text);
/// {0, 1, 2, 3, 7} -> "0-3,7".
std::string format_client_list(const std::vector<uint32_t>& ids);

/// The shared secret of a token file: its text without surrounding
/// whitespace. Refused when the file is readable by its group or others,
/// or the secret is shorter than 16 characters.
std::string read_token_file(const std::filesystem::path& p);

/// What one side sends to prove it holds the token: HMAC-SHA256 over its
/// role and both nonces (the asker's first). Without a token (loopback
/// runs), proofs are empty and every proof matches.
bytes proof(const std::string& token, const std::string& role, const bytes& asker_nonce,
            const bytes& answer_nonce);
bool proof_matches(const std::string& token, const std::string& role, const bytes& asker_nonce,
                   const bytes& answer_nonce, const bytes& given);

/// The server's challenges: each nonce is answered once, then forgotten, so
/// a replayed answer is refused. At most `capacity` challenges wait at
/// once (the oldest are dropped).
class nonce_book {
public:
  explicit nonce_book(size_t capacity = 1024) : capacity_(capacity) {}
  /// A fresh nonce for a worker that sent `worker_nonce`.
  bytes issue(const bytes& worker_nonce);
  /// The worker nonce a challenge was issued for, removing the challenge;
  /// nothing when it was never issued or already answered.
  std::optional<bytes> take(const bytes& server_nonce);

private:
  size_t capacity_;
  uint64_t next_ = 0;
  std::map<bytes, std::pair<uint64_t, bytes>> open_;  // server nonce -> (issue order, worker nonce)
};

} // namespace fedq::net
