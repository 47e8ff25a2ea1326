#pragma once
// The safetensors format (Hugging Face): u64 little-endian header size N, N
// bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, optional
// "__metadata__": {string: string}}, then the tensor bytes. Read by mmap and
// checked before any byte is used; written for checkpoints and adapters.

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "serialization/framing.hpp"

namespace fedq::serialization {

enum class st_dtype { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

/// "F32", "BF16", ... as the format spells them; throws format_error.
st_dtype parse_st_dtype(const std::string& s);
const char* st_dtype_name(st_dtype d);
size_t st_dtype_size(st_dtype d);

/// One tensor in a file: a view into its mapped bytes (row-major, little-endian).
struct st_tensor {
  std::string name;
  st_dtype dtype = st_dtype::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t bytes = 0;
  int64_t numel() const;
};

/// A mapped safetensors file. Opening checks the header size, the JSON, every
/// dtype and shape, that each tensor's byte range matches its shape and lies
/// inside the file, and that no two ranges overlap; any failure is a
/// format_error naming the file and the tensor.
class safetensors_file {
public:
  static std::shared_ptr<const safetensors_file> open(const std::string& path);
  ~safetensors_file();
  safetensors_file(const safetensors_file&) = delete;
  safetensors_file& operator=(const safetensors_file&) = delete;

  const std::string& path() const { return path_; }
  bool has(const std::string& name) const { return tensors_.count(name) > 0; }
  /// Throws format_error naming the file when `name` is absent.
  const st_tensor& at(const std::string& name) const;
  const std::map<std::string, st_tensor>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

private:
  safetensors_file() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t size_ = 0;
  std::map<std::string, st_tensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

/// A tensor to write: bytes of `dtype` in row-major order.
struct st_write {
  std::string name;
  st_dtype dtype = st_dtype::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t bytes = 0;
};

/// Writes a safetensors file (tensors in name order, 8-byte aligned header).
/// Checks that every byte count matches its shape. Writes to a temporary name
/// and renames, so a crash never leaves a half-written file under `path`.
void write_safetensors(const std::string& path, const std::vector<st_write>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

/// A Hugging Face checkpoint folder: model.safetensors, or shards listed in
/// model.safetensors.index.json. Tracks which tensors were taken, so that a
/// loader can refuse a checkpoint with tensors it did not use.
class checkpoint {
public:
  /// Throws format_error naming what is missing or malformed.
  explicit checkpoint(const std::string& dir);
  bool has(const std::string& name) const;
  /// The tensor, marked as used; throws format_error naming the folder when absent.
  const st_tensor& take(const std::string& name);
  /// Names never taken, sorted.
  std::vector<std::string> unused() const;
  const std::string& dir() const { return dir_; }

private:
  std::string dir_;
  std::vector<std::shared_ptr<const safetensors_file>> files_;
  std::map<std::string, const st_tensor*> index_;
  std::set<std::string> taken_;
};

} // namespace fedq::serialization
