#include <catch2/catch.hpp>

#include "serialization/adapter_payload.hpp"
#include "serialization/framing.hpp"

using namespace fedq::serialization;

namespace {

adapter_payload sample() {
  adapter_payload p;
  p.lora.push_back({"layers.0.attn.q", 3, 2, 2, {1, 2, 3, 4, 5, 6}, {0.5f, -1, 2, 0.25f}});
  p.dense.push_back({"head.weight", {2, 3}, {1, 0, -1, 0.5f, 0.5f, 7}});
  return p;
}

} // namespace

TEST_CASE("an adapter payload survives encode and decode unchanged") {
  auto p = sample();
  auto q = decode(encode(p));
  REQUIRE(q.lora.size() == 1);
  CHECK(q.lora[0].name == "layers.0.attn.q");
  CHECK(q.lora[0].rank == 2);
  CHECK(q.lora[0].a == p.lora[0].a);
  CHECK(q.lora[0].b == p.lora[0].b);
  REQUIRE(q.dense.size() == 1);
  CHECK(q.dense[0].shape == std::vector<int64_t>{2, 3});
  CHECK(q.dense[0].values == p.dense[0].values);
  CHECK(q.rank() == 2);
}

TEST_CASE("a corrupted payload is rejected by its checksum") {
  auto b = encode(sample());
  b[b.size() / 2] ^= 0x5a;
  CHECK_THROWS_WITH(decode(b), Catch::Contains("checksum"));
}

TEST_CASE("a truncated payload is rejected and saying it is truncated") {
  auto b = encode(sample());
  b.resize(b.size() - 3);
  CHECK_THROWS_WITH(decode(b), Catch::Contains("truncated"));
  CHECK_THROWS_WITH(decode(blob(5, 'x')), Catch::Contains("truncated"));
}

TEST_CASE("a blob of another kind is rejected by its magic number") {
  auto b = frame("XXXX", 1, "hello");
  CHECK_THROWS_WITH(decode(b), Catch::Contains("bad magic"));
}

TEST_CASE("a payload whose factors do not match their rank is rejected") {
  auto p = sample();
  p.lora[0].rank = 3;
  CHECK_THROWS_WITH(decode(encode(p)), Catch::Contains("rank 3"));
}

TEST_CASE("crc32 matches the standard check value") {
  const char* s = "123456789";
  CHECK(crc32(s, 9) == 0xCBF43926u);
}

TEST_CASE("crc32 (8 bytes a step, or folded by carry-less multiplication) equals the bit-at-a-time CRC at every "
          "length and alignment") {
  auto bitwise = [](const char* p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; ++i) {
      c ^= static_cast<uint8_t>(p[i]);
      for (int k = 0; k < 8; ++k)
        c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
  };
  std::string buf(4096 + 16, '\0');
  uint32_t x = 12345;
  for (auto& ch : buf) { // a fixed pseudo-random fill
    x = x * 1664525u + 1013904223u;
    ch = static_cast<char>(x >> 24);
  }
  for (size_t offset = 0; offset < 16; ++offset)
    for (size_t n = 0; n <= 600; ++n)  // past the fold's 128-byte threshold, every tail length
      REQUIRE(crc32(buf.data() + offset, n) == bitwise(buf.data() + offset, n));
  CHECK(crc32(buf.data() + 3, 4096) == bitwise(buf.data() + 3, 4096));
  std::string zeros(1000, '\0'), ones(1000, '\xff');
  CHECK(crc32(zeros.data(), zeros.size()) == bitwise(zeros.data(), zeros.size()));
  CHECK(crc32(ones.data(), ones.size()) == bitwise(ones.data(), ones.size()));
}

TEST_CASE("a payload body that claims more elements than it holds is refused before allocating them") {
  // Found by fuzz_adapter_payload: a valid frame around a body whose first
  // size tag asks for 2^60 LoRA pairs (std::length_error before the fix).
  using namespace fedq::serialization;
  std::string body(1, '\x01');  // cereal's portable binary: the endianness byte
  body += std::string("\x00\x00\x00\x00\x00\x00\x00\x10", 8);  // little-endian 2^60
  CHECK_THROWS_AS(decode(frame("FQAD", 1, body)), format_error);
  CHECK_THROWS_WITH(decode(frame("FQAD", 1, body)), Catch::Contains("longer than the whole input"));
  // The same for a tensor's values inside an otherwise valid pair.
  adapter_payload p;
  p.lora.push_back({"q", 2, 2, 1, {1, 2}, {3, 4}});
  auto framed = encode(p);
  std::string inner(framed.begin() + 14, framed.end() - 4);
  auto at = inner.find(std::string("\x02\x00\x00\x00\x00\x00\x00\x00", 8), 1 + 8 + 8 + 1);  // a's size tag
  REQUIRE(at != std::string::npos);
  inner[at + 5] = '\x7f';
  CHECK_THROWS_WITH(decode(frame("FQAD", 1, inner)), Catch::Contains("longer than the whole input"));
}
