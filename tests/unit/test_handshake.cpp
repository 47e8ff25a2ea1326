// The plain parts of fedq serve/worker's protocol: addresses, client lists,
// the token file and the challenge-response.

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "net/handshake.hpp"

using namespace fedq::net;

TEST_CASE("HOST:PORT, [v6]:PORT and :PORT parse, and anything else is refused with the form to use") {
  auto e = parse_endpoint("127.0.0.1:7300");
  CHECK(e.host == "127.0.0.1");
  CHECK(e.port == 7300);
  CHECK(parse_endpoint("[::1]:0").host == "::1");
  CHECK(parse_endpoint(":9").host.empty());
  CHECK_THROWS_WITH(parse_endpoint("localhost"), Catch::Contains("HOST:PORT"));
  CHECK_THROWS_WITH(parse_endpoint("a:70000"), Catch::Contains("0..65535"));
  CHECK_THROWS_AS(parse_endpoint("a:x1"), input_error);
  CHECK(is_loopback("127.0.0.1"));
  CHECK(is_loopback("localhost"));
  CHECK_FALSE(is_loopback("0.0.0.0"));
  CHECK_FALSE(is_loopback(""));
}

TEST_CASE("client lists read ranges and single ids, and print back compactly") {
  CHECK(parse_client_list("0-3,7") == std::vector<uint32_t>{0, 1, 2, 3, 7});
  CHECK(parse_client_list("5,1,1") == std::vector<uint32_t>{1, 5});
  CHECK(format_client_list({0, 1, 2, 3, 7, 9, 10}) == "0-3,7,9-10");
  CHECK_THROWS_WITH(parse_client_list("3-1"), Catch::Contains("backwards"));
  CHECK_THROWS_WITH(parse_client_list("a"), Catch::Contains("not a client number"));
  CHECK_THROWS_AS(parse_client_list(""), input_error);
}

TEST_CASE("a token file must be private and hold a long enough secret") {
  auto p = std::filesystem::temp_directory_path() / "fedq-token-test";
  std::ofstream(p) << "  0123456789abcdef0123  \n";
  std::filesystem::permissions(p, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  CHECK(read_token_file(p) == "0123456789abcdef0123");
  std::filesystem::permissions(p, std::filesystem::perms::group_read, std::filesystem::perm_options::add);
  CHECK_THROWS_WITH(read_token_file(p), Catch::Contains("chmod 600"));
  std::filesystem::permissions(p, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::ofstream(p) << "short";
  CHECK_THROWS_WITH(read_token_file(p), Catch::Contains("at least 16"));
  std::filesystem::remove(p);
  CHECK_THROWS_WITH(read_token_file(p), Catch::Contains("no such file"));
}

TEST_CASE("a proof matches only the token, role and nonces it was made for") {
  std::string token = "a shared secret of some length";
  auto a = random_bytes(32), b = random_bytes(32);
  auto p = proof(token, "worker", a, b);
  CHECK(p.size() == 32);
  CHECK(proof_matches(token, "worker", a, b, p));
  CHECK_FALSE(proof_matches(token + "x", "worker", a, b, p));
  CHECK_FALSE(proof_matches(token, "server", a, b, p)); // a server's proof is no worker's
  CHECK_FALSE(proof_matches(token, "worker", b, a, p));
  CHECK_FALSE(proof_matches(token, "worker", a, b, {}));
  CHECK(proof("", "worker", a, b).empty()); // no token: nothing to prove
}

TEST_CASE("a challenge is answered once: a replayed answer finds no challenge") {
  nonce_book book(2);
  auto worker_nonce = random_bytes(32);
  auto n = book.issue(worker_nonce);
  CHECK(n.size() == 32);
  auto taken = book.take(n);
  REQUIRE(taken);
  CHECK(*taken == worker_nonce);
  CHECK_FALSE(book.take(n)); // the replay
  CHECK_FALSE(book.take(random_bytes(32)));
  auto first = book.issue(worker_nonce);
  book.issue(worker_nonce);
  book.issue(worker_nonce); // over capacity: the oldest goes
  CHECK_FALSE(book.take(first));
}

TEST_CASE("sha256 of a file is the known digest") {
  auto p = std::filesystem::temp_directory_path() / "fedq-sha-test";
  std::ofstream(p) << "abc";
  CHECK(sha256_file(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::filesystem::remove(p);
  CHECK_THROWS_WITH(sha256_file(p), Catch::Contains("cannot read"));
}
