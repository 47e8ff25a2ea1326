#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "serialization/safetensors.hpp"

using namespace fedq::serialization;

namespace {

std::filesystem::path temp(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("fedq_st_" + name);
}

/// A file of the raw layout: u64 header size, header, data.
void write_raw(const std::filesystem::path& p, const std::string& header, const std::string& data) {
  std::ofstream out(p, std::ios::binary);
  uint64_t n = header.size();
  out.write(reinterpret_cast<const char*>(&n), 8);  // little-endian host
  out << header << data;
}

} // namespace

TEST_CASE("a hand-built safetensors file reads as the format specifies") {
  auto p = temp("hand.safetensors");
  float v[3] = {1.5f, -2.0f, 0.25f};
  std::string data(reinterpret_cast<const char*>(v), sizeof v);
  data += std::string("\x01\x02", 2);
  write_raw(p,
            R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},)"
            R"("b":{"dtype":"U8","shape":[1,2],"data_offsets":[12,14]},)"
            R"("__metadata__":{"format":"pt"}})",
            data);
  auto f = safetensors_file::open(p.string());
  REQUIRE(f->tensors().size() == 2);
  const auto& w = f->at("w");
  CHECK(w.dtype == st_dtype::F32);
  CHECK(w.shape == std::vector<int64_t>{3});
  float got[3];
  std::memcpy(got, w.data, 12);
  CHECK(got[1] == -2.0f);
  CHECK(f->at("b").data[1] == 2);
  CHECK(f->metadata().at("format") == "pt");
  CHECK_THROWS_WITH(f->at("missing"), Catch::Contains("no tensor 'missing'"));
  std::filesystem::remove(p);
}

TEST_CASE("written safetensors read back byte for byte") {
  auto p = temp("roundtrip.safetensors");
  std::vector<float> a{1, 2, 3, 4, 5, 6};
  std::vector<uint16_t> b{0x3f80, 0x4000};
  write_safetensors(p.string(),
                    {{"layer.a", st_dtype::F32, {2, 3}, a.data(), a.size() * 4},
                     {"layer.b", st_dtype::BF16, {2}, b.data(), b.size() * 2}},
                    {{"note", "test"}});
  auto f = safetensors_file::open(p.string());
  CHECK(std::memcmp(f->at("layer.a").data, a.data(), 24) == 0);
  CHECK(f->at("layer.a").shape == std::vector<int64_t>{2, 3});
  CHECK(f->at("layer.b").dtype == st_dtype::BF16);
  CHECK(reinterpret_cast<uintptr_t>(f->at("layer.a").data) % 4 == 0);
  CHECK_THROWS_WITH(write_safetensors(p.string(), {{"x", st_dtype::F32, {3}, a.data(), 8}}),
                    Catch::Contains("'x' has 8 bytes"));
  std::filesystem::remove(p);
}

TEST_CASE("corrupt or truncated safetensors files are refused with the reason") {
  auto p = temp("bad.safetensors");
  std::string ok = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  write_raw(p, ok, std::string(4, '\0'));  // 4 of 8 data bytes
  CHECK_THROWS_WITH(safetensors_file::open(p.string()),
                    Catch::Contains("'w'") && Catch::Contains("truncated"));
  write_raw(p, R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, '\0'));
  CHECK_THROWS_WITH(safetensors_file::open(p.string()), Catch::Contains("8 bytes for shape of 12"));
  write_raw(p, R"({"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", std::string(8, '\0'));
  CHECK_THROWS_WITH(safetensors_file::open(p.string()), Catch::Contains("unsupported dtype 'Q4'"));
  write_raw(p, R"({"w":{"dtype":"F32",)", std::string(8, '\0'));
  CHECK_THROWS_WITH(safetensors_file::open(p.string()), Catch::Contains("not valid JSON"));
  write_raw(p, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
               R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", std::string(8, '\0'));
  CHECK_THROWS_WITH(safetensors_file::open(p.string()), Catch::Contains("share bytes"));
  {
    std::ofstream out(p, std::ios::binary);
    uint64_t n = 1000;
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << "{}";
  }
  CHECK_THROWS_WITH(safetensors_file::open(p.string()), Catch::Contains("exceeds the file"));
  std::ofstream(p, std::ios::binary) << "abc";
  CHECK_THROWS_WITH(safetensors_file::open(p.string()), Catch::Contains("too short"));
  // A shape whose element count wraps around 2^64 to 0 would pass the size
  // check with no data at all, and the reader would then read past the file.
  write_raw(p, R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", "");
  CHECK_THROWS_WITH(safetensors_file::open(p.string()), Catch::Contains("more than 2^62 elements"));
  write_raw(p, R"({"w":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,4]}})", std::string(4, '\0'));
  CHECK_THROWS_WITH(safetensors_file::open(p.string()), Catch::Contains("integers in 0..2^62"));
  std::filesystem::remove(p);
}

TEST_CASE("a sharded checkpoint is one namespace and tracks tensors never used") {
  auto dir = temp("ckpt");
  std::filesystem::create_directories(dir);
  std::vector<float> x{1, 2};
  write_safetensors((dir / "model-00001-of-00002.safetensors").string(),
                    {{"a", st_dtype::F32, {2}, x.data(), 8}});
  write_safetensors((dir / "model-00002-of-00002.safetensors").string(),
                    {{"b", st_dtype::F32, {2}, x.data(), 8}, {"c", st_dtype::F32, {1}, x.data(), 4}});
  std::ofstream(dir / "model.safetensors.index.json")
    << R"({"metadata":{},"weight_map":{"a":"model-00001-of-00002.safetensors",)"
       R"("b":"model-00002-of-00002.safetensors","c":"model-00002-of-00002.safetensors"}})";
  checkpoint ck(dir.string());
  CHECK(ck.has("b"));
  CHECK(ck.take("a").shape == std::vector<int64_t>{2});
  CHECK(ck.take("b").numel() == 2);
  CHECK(ck.unused() == std::vector<std::string>{"c"});
  CHECK_THROWS_WITH(ck.take("d"), Catch::Contains("no tensor 'd'"));
  std::filesystem::remove_all(dir);
  CHECK_THROWS_WITH(checkpoint(dir.string()), Catch::Contains("no model.safetensors"));
}
