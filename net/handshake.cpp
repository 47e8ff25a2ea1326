#include "net/handshake.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <sys/stat.h>

namespace fedq::net {

endpoint parse_endpoint(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos)
    throw input_error("'" + text + "' is not HOST:PORT (e.g. 127.0.0.1:7300)");
  endpoint e;
  e.host = text.substr(0, colon);
  if (e.host.size() >= 2 && e.host.front() == '[' && e.host.back() == ']')
    e.host = e.host.substr(1, e.host.size() - 2);
  auto port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) ||
      std::stoul(port) > 65535)
    throw input_error("'" + text + "': the port must be a number 0..65535");
  e.port = static_cast<uint16_t>(std::stoul(port));
  return e;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

std::vector<uint32_t> parse_client_list(const std::string& text) {
  std::vector<uint32_t> ids;
  std::stringstream ss(text);
  std::string part;
  auto number = [&](const std::string& s) -> uint32_t {
    if (s.empty() || s.size() > 9 || !std::all_of(s.begin(), s.end(), ::isdigit))
      throw input_error("client list '" + text + "': '" + s +
                        "' is not a client number (write e.g. 0-3,7)");
    return static_cast<uint32_t>(std::stoul(s));
  };
  while (std::getline(ss, part, ',')) {
    auto dash = part.find('-');
    if (dash == std::string::npos) {
      ids.push_back(number(part));
      continue;
    }
    auto lo = number(part.substr(0, dash)), hi = number(part.substr(dash + 1));
    if (hi < lo)
      throw input_error("client list '" + text + "': the range " + part + " runs backwards");
    if (hi - lo > 100000)
      throw input_error("client list '" + text + "': the range " + part + " is too long");
    for (auto i = lo; i <= hi; ++i)
      ids.push_back(i);
  }
  if (ids.empty())
    throw input_error("client list '" + text + "' names no client (write e.g. 0-3,7)");
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

std::string format_client_list(const std::vector<uint32_t>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1)
      ++j;
    out += (out.empty() ? "" : ",") + std::to_string(ids[i]);
    if (j > i)
      out += "-" + std::to_string(ids[j]);
    i = j + 1;
  }
  return out;
}

std::string read_token_file(const std::filesystem::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0)
    throw input_error("--token-file " + p.string() + ": no such file");
  if (st.st_mode & 077) {
    std::ostringstream mode;
    mode << std::oct << (st.st_mode & 0777);
    throw input_error("--token-file " + p.string() + " is readable by its group or others (mode " +
                      mode.str() + "); make it private: chmod 600 " + p.string());
  }
  std::ifstream in(p);
  std::stringstream text;
  text << in.rdbuf();
  auto s = text.str();
  auto b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  s = b == std::string::npos ? "" : s.substr(b, e - b + 1);
  if (s.size() < 16)
    throw input_error("--token-file " + p.string() + ": the secret has " + std::to_string(s.size()) +
                      " characters; use at least 16 (e.g. openssl rand -hex 32 > " + p.string() + ")");
  return s;
}

bytes proof(const std::string& token, const std::string& role, const bytes& asker_nonce,
            const bytes& answer_nonce) {
  if (token.empty())
    return {};
  bytes msg(role.begin(), role.end());
  msg.push_back('\0');
  msg.insert(msg.end(), asker_nonce.begin(), asker_nonce.end());
  msg.insert(msg.end(), answer_nonce.begin(), answer_nonce.end());
  return hmac_sha256(token, msg);
}

bool proof_matches(const std::string& token, const std::string& role, const bytes& asker_nonce,
                   const bytes& answer_nonce, const bytes& given) {
  if (token.empty())
    return true;
  return equal_in_constant_time(proof(token, role, asker_nonce, answer_nonce), given);
}

bytes nonce_book::issue(const bytes& worker_nonce) {
  auto n = random_bytes(32);
  open_[n] = {next_++, worker_nonce};
  while (open_.size() > capacity_) {
    auto oldest = std::min_element(open_.begin(), open_.end(), [](const auto& a, const auto& b) {
      return a.second.first < b.second.first;
    });
    open_.erase(oldest);
  }
  return n;
}

std::optional<bytes> nonce_book::take(const bytes& server_nonce) {
  auto it = open_.find(server_nonce);
  if (it == open_.end())
    return std::nullopt;
  auto w = std::move(it->second.second);
  open_.erase(it);
  return w;
}

} // namespace fedq::net
