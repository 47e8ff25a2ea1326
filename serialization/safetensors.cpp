#include "serialization/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace fedq::serialization {

namespace {

using nlohmann::json;
constexpr uint64_t max_header = 100u << 20;  // the reference implementation's limit

struct dtype_info {
  st_dtype d;
  const char* name;
  size_t size;
};
constexpr dtype_info dtypes[] = {
  {st_dtype::F64, "F64", 8}, {st_dtype::F32, "F32", 4}, {st_dtype::F16, "F16", 2},
  {st_dtype::BF16, "BF16", 2}, {st_dtype::I64, "I64", 8}, {st_dtype::I32, "I32", 4},
  {st_dtype::I16, "I16", 2}, {st_dtype::I8, "I8", 1}, {st_dtype::U8, "U8", 1},
  {st_dtype::BOOL, "BOOL", 1},
};

const dtype_info& info(st_dtype d) {
  for (const auto& i : dtypes)
    if (i.d == d)
      return i;
  throw format_error("safetensors: unknown dtype");
}

/// The element count of `shape`; 0 stands for "more than 2^62" (callers
/// refuse it: a product that wrapped around would pass a size check).
uint64_t shape_numel(const std::vector<int64_t>& shape) {
  uint64_t n = 1;
  for (auto s : shape) {
    auto d = static_cast<uint64_t>(s);
    if (d != 0 && n > (uint64_t(1) << 62) / d)
      return 0;
    n *= d;
  }
  return n;
}

} // namespace

st_dtype parse_st_dtype(const std::string& s) {
  for (const auto& i : dtypes)
    if (s == i.name)
      return i.d;
  throw format_error("safetensors: unsupported dtype '" + s + "'");
}

const char* st_dtype_name(st_dtype d) { return info(d).name; }
size_t st_dtype_size(st_dtype d) { return info(d).size; }
int64_t st_tensor::numel() const { return static_cast<int64_t>(shape_numel(shape)); }

std::shared_ptr<const safetensors_file> safetensors_file::open(const std::string& path) {
  std::shared_ptr<safetensors_file> f(new safetensors_file);
  f->path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0)
    throw format_error(path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw format_error(path + ": cannot stat");
  }
  f->size_ = static_cast<size_t>(st.st_size);
  if (f->size_ < 8) {
    ::close(fd);
    throw format_error(path + ": " + std::to_string(f->size_) +
                       " bytes is too short for a safetensors file (truncated?)");
  }
  void* m = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED)
    throw format_error(path + ": mmap failed (" + std::strerror(errno) + ")");
  f->map_ = m;
  const auto* base = static_cast<const uint8_t*>(m);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | base[i];
  if (n > max_header || n > f->size_ - 8)
    throw format_error(path + ": header size " + std::to_string(n) + " exceeds the file (" +
                       std::to_string(f->size_) + " bytes): truncated or not a safetensors file");
  json header;
  try {
    header = json::parse(base + 8, base + 8 + n);
  } catch (const json::exception& e) {
    throw format_error(path + ": header is not valid JSON: " + e.what());
  }
  if (!header.is_object())
    throw format_error(path + ": header is not a JSON object");
  const uint8_t* data = base + 8 + n;
  uint64_t data_size = f->size_ - 8 - n;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& [name, v] : header.items()) {
    auto where = path + ": tensor '" + name + "'";
    if (name == "__metadata__") {
      if (!v.is_object())
        throw format_error(path + ": __metadata__ is not an object");
      for (const auto& [k, s] : v.items()) {
        if (!s.is_string())
          throw format_error(path + ": __metadata__ value '" + k + "' is not a string");
        f->metadata_[k] = s.get<std::string>();
      }
      continue;
    }
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") ||
        !v.contains("data_offsets") || !v["dtype"].is_string() || !v["shape"].is_array() ||
        !v["data_offsets"].is_array() || v["data_offsets"].size() != 2)
      throw format_error(where + ": needs dtype, shape and data_offsets [begin, end]");
    st_tensor t;
    t.name = name;
    t.dtype = parse_st_dtype(v["dtype"].get<std::string>());
    bool empty = false;
    for (const auto& s : v["shape"]) {
      if (!s.is_number_unsigned() || s.get<uint64_t>() > (uint64_t(1) << 62))
        throw format_error(where + ": shape entries must be integers in 0..2^62");
      t.shape.push_back(s.get<int64_t>());
      empty = empty || s.get<uint64_t>() == 0;
    }
    if (!empty && shape_numel(t.shape) == 0)
      throw format_error(where + ": the shape has more than 2^62 elements");
    const auto& off = v["data_offsets"];
    if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw format_error(where + ": data_offsets must be non-negative integers");
    auto begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    uint64_t want = shape_numel(t.shape) * st_dtype_size(t.dtype);
    if (end < begin || end - begin != want)
      throw format_error(where + ": " + std::to_string(end - begin) + " bytes for shape of " +
                         std::to_string(want) + " bytes");
    if (end > data_size)
      throw format_error(where + ": bytes " + std::to_string(begin) + ".." + std::to_string(end) +
                         " lie past the end of the data (" + std::to_string(data_size) +
                         " bytes): the file is truncated");
    t.data = data + begin;
    t.bytes = end - begin;
    ranges.push_back({begin, end});
    f->tensors_.emplace(name, std::move(t));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second)
      throw format_error(path + ": two tensors share bytes at offset " +
                         std::to_string(ranges[i].first));
  return f;
}

safetensors_file::~safetensors_file() {
  if (map_)
    ::munmap(map_, size_);
}

const st_tensor& safetensors_file::at(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end())
    throw format_error(path_ + ": no tensor '" + name + "'");
  return it->second;
}

void write_safetensors(const std::string& path, const std::vector<st_write>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  auto sorted = tensors;
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.name < b.name; });
  json header = json::object();
  if (!metadata.empty())
    header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& t : sorted) {
    if (shape_numel(t.shape) * st_dtype_size(t.dtype) != t.bytes)
      throw format_error(path + ": tensor '" + t.name + "' has " + std::to_string(t.bytes) +
                         " bytes, its shape needs " +
                         std::to_string(shape_numel(t.shape) * st_dtype_size(t.dtype)));
    if (header.contains(t.name))
      throw format_error(path + ": tensor '" + t.name + "' given twice");
    header[t.name] = {{"dtype", st_dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes}}};
    offset += t.bytes;
  }
  auto text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  auto tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      throw format_error(tmp + ": cannot write");
    uint64_t n = text.size();
    char le[8];
    for (int i = 0; i < 8; ++i)
      le[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    out.write(le, 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& t : sorted)
      out.write(static_cast<const char*>(t.data), static_cast<std::streamsize>(t.bytes));
    if (!out.flush())
      throw format_error(tmp + ": write failed (disk full?)");
  }
  std::filesystem::rename(tmp, path);
}

checkpoint::checkpoint(const std::string& dir) : dir_(dir) {
  namespace fs = std::filesystem;
  auto single = fs::path(dir) / "model.safetensors";
  auto index = fs::path(dir) / "model.safetensors.index.json";
  std::vector<std::string> shards;
  if (fs::exists(index)) {
    json j;
    try {
      j = json::parse(std::ifstream(index));
    } catch (const json::exception& e) {
      throw format_error(index.string() + ": not valid JSON: " + e.what());
    }
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      throw format_error(index.string() + ": no weight_map object");
    std::set<std::string> files;
    for (const auto& [name, file] : j["weight_map"].items())
      files.insert(file.get<std::string>());
    shards.assign(files.begin(), files.end());
    for (auto& s : shards)
      s = (fs::path(dir) / s).string();
  } else if (fs::exists(single)) {
    shards.push_back(single.string());
  } else {
    throw format_error(dir + ": no model.safetensors or model.safetensors.index.json here");
  }
  for (const auto& s : shards) {
    files_.push_back(safetensors_file::open(s));
    for (const auto& [name, t] : files_.back()->tensors())
      if (!index_.emplace(name, &t).second)
        throw format_error(s + ": tensor '" + name + "' is also in another shard");
  }
}

bool checkpoint::has(const std::string& name) const { return index_.count(name) > 0; }

const st_tensor& checkpoint::take(const std::string& name) {
  auto it = index_.find(name);
  if (it == index_.end())
    throw format_error(dir_ + ": the checkpoint has no tensor '" + name + "'");
  taken_.insert(name);
  return *it->second;
}

std::vector<std::string> checkpoint::unused() const {
  std::vector<std::string> out;
  for (const auto& [name, t] : index_)
    if (!taken_.count(name))
      out.push_back(name);
  return out;
}

} // namespace fedq::serialization
