#pragma once
// The fuzz input as a file, for the readers that take a path.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include <unistd.h>

namespace fedq::fuzz {

/// A file of this process's own, removed when the process exits normally.
struct owned_file {
  std::string path;
  ~owned_file() { std::remove(path.c_str()); }
};

inline std::string input_file(const uint8_t* data, size_t size, const char* suffix) {
  static const owned_file file{"/tmp/fedq_fuzz_" + std::to_string(::getpid()) + suffix};
  const auto& path = file.path;
  std::ofstream(path, std::ios::binary | std::ios::trunc)
    .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

} // namespace fedq::fuzz
